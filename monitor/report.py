"""Text that commands print for people: the configuration summary and the feeds table."""

from __future__ import annotations

from datetime import datetime

from monitor.config import LoadedConfig, Notifier, SlackNotifier, WebhookNotifier
from monitor.durations import format_duration
from monitor.models import Alert, FeedStatus
from monitor.storage.db import safe_url
from monitor.storage.outbox import AlertWithDeliveries, DeliveryState


def describe_config(loaded: LoadedConfig) -> str:
    """What ``monitor check`` found: counts, then each feed, rule and notifier."""
    c = loaded.config
    lines = [
        f"{loaded.path}: OK",
        f"database: {safe_url(c.database)}",
        f"defaults: interval {format_duration(c.defaults.interval)}, "
        f"timeout {format_duration(c.defaults.timeout)}, "
        f"backlog {format_duration(c.defaults.backlog)}",
        f"{len(c.feeds)} feeds, {len(c.rules)} rules, {len(c.notifiers)} notifiers",
    ]
    for feed in c.feeds:
        every = format_duration(feed.interval or c.defaults.interval)
        rules = ", ".join(feed.rules) if feed.rules is not None else "all rules"
        url = safe_url(feed.url)
        fetch = c.defaults.fetch_articles if feed.fetch_articles is None else feed.fetch_articles
        articles = "; linked articles fetched" if fetch else ""
        lines.append(f"  feed {feed.name or url}: {url} every {every}; {rules}{articles}")
    for rule in c.rules:
        what = f"query {rule.query}" if rule.query is not None else f"any of {rule.any}"
        notify = ", ".join(rule.notify) if rule.notify is not None else "all notifiers"
        lines.append(f"  rule {rule.name}: {what} -> {notify}")
    for name, notifier in c.notifiers.items():
        lines.append(f"  notifier {name}: {_notifier(notifier)}")
    return "\n".join(lines)


def _notifier(notifier: Notifier) -> str:
    if not notifier.enabled:
        return f"{notifier.type} (off: its url is empty)"
    if isinstance(notifier, SlackNotifier | WebhookNotifier):
        signed = isinstance(notifier, WebhookNotifier) and notifier.secret is not None
        return f"{notifier.type} url ***{', signed' if signed else ''}"
    return notifier.type


def feeds_table(feeds: list[FeedStatus], now: datetime) -> str:
    """One line per feed: name, url, last poll, last status or error, entries, next poll,
    and the instance that polled it last."""
    header = ("NAME", "URL", "LAST POLL", "STATUS", "ENTRIES", "NEXT POLL", "POLLED BY")
    rows = [header] + [_feed_row(f, now) for f in feeds]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    )


def _feed_row(f: FeedStatus, now: datetime) -> tuple[str, ...]:
    name = f.name or f.title or "-"
    if not f.active:
        name += " (removed from config)"
    return (
        name,
        safe_url(f.url),
        _ago(f.last_poll, now),
        _status(f),
        str(f.entries),
        "-" if not f.active else _until(f.next_poll, now),
        f.polled_by or "-",
    )


def _status(f: FeedStatus) -> str:
    if f.last_status is None:
        return "never polled"
    if f.last_status == "error":
        return f"error ({f.consecutive_failures}x): {f.last_error}"
    code = f" {f.last_http_status}" if f.last_http_status else ""
    note = f" - {f.last_error}" if f.last_error else ""
    return f"{f.last_status}{code}{note}"


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    stamp = when.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{stamp} ({format_duration(seconds)} ago)" if seconds >= 1 else f"{stamp} (now)"


def _until(when: datetime, now: datetime) -> str:
    seconds = (when - now).total_seconds()
    stamp = when.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{stamp} (in {format_duration(seconds)})" if seconds >= 1 else f"{stamp} (due)"


def alerts_table(alerts: list[AlertWithDeliveries]) -> str:
    """Recent alerts, each with one line per delivery."""
    if not alerts:
        return "no alerts"
    lines = []
    for item in alerts:
        a = item.alert
        lines.append(
            f"{a.detected_at:%Y-%m-%d %H:%M:%SZ}  {a.id}  [{a.rule}] {a.feed_name}: {a.title}"
        )
        if item.detected_by:
            lines.append(f"    detected by {item.detected_by}")
        lines.append(_alert_detail(a))
        for d in item.deliveries:
            by = f" (by {d.by})" if d.by else ""
            lines.append(f"    -> {d.notifier}: {_delivery(d)}{by}")
        if not item.deliveries:
            lines.append("    -> no notifiers")
    return "\n".join(lines)


def _alert_detail(a: Alert) -> str:
    """The line under an alert: its link and matches, or for a feed health alert the feed's
    URL, its failure streak and its last successful poll."""
    if a.health is None:
        return f"    {a.url or '(no link)'}  matched: {', '.join(a.matched)}"
    h = a.health
    success = f"{h.last_success:%Y-%m-%d %H:%M:%SZ}" if h.last_success else "never"
    newest = f"; newest entry {h.last_entry:%Y-%m-%d %H:%M:%SZ}" if h.last_entry else ""
    return f"    {a.feed_url}  feed {h.state}: {h.failures} failed poll(s) in a row; " + (
        f"last success {success}{newest}"
    )


def _delivery(d: DeliveryState) -> str:
    if d.state == "sent" and d.sent_at is not None:
        return f"sent {d.sent_at:%Y-%m-%d %H:%M:%SZ} after {d.attempts} attempt(s)"
    detail = d.last_error or (f"HTTP {d.last_status}" if d.last_status else "")
    if d.state == "pending":
        when = f"next attempt {d.next_attempt_at:%Y-%m-%d %H:%M:%SZ}"
        return f"pending ({d.attempts} attempts; {when}){': ' + detail if detail else ''}"
    return f"FAILED after {d.attempts} attempt(s): {detail}"
