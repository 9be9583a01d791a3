"""The status page, pure: what the database said in, view models and HTML out.

Everything shown comes from feeds and receivers, which may be hostile: the template
escapes every value (Jinja2 autoescape), links are kept only for http(s) URLs, userinfo
is cut out of URLs, and passwords, secret-looking query parameters (``token=``,
``api_key=``, ...) and configured secrets are replaced by ``***`` before anything is shown:
the page asks for no login, so it hides what logs and health alerts hide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from monitor.config import Config, SlackNotifier, WebhookNotifier
from monitor.models import FeedStatus
from monitor.storage.health import hide_credentials, url_secrets
from monitor.storage.outbox import AlertWithDeliveries, DeliveryState
from monitor.storage.status import OutboxDepth, RuleHour

REFRESH_SECONDS = 30
ALERTS_SHOWN = 50
HOURS, DAYS = 24, 7
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")
_NEVER = datetime.min.replace(tzinfo=UTC)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass(frozen=True)
class PageData:
    """What the page is built from, read from the database in one go."""

    feeds: Sequence[FeedStatus]
    alerts: Sequence[AlertWithDeliveries]
    hours: Sequence[RuleHour]
    rules: Sequence[str]  # configured rules, in config order
    outbox: OutboxDepth
    now: datetime
    secrets: Sequence[str] = ()


@dataclass(frozen=True)
class Moment:
    """A time as shown: relative text, with the exact UTC time for the tooltip."""

    text: str
    exact: str


@dataclass(frozen=True)
class FeedView:
    name: str
    url: str
    active: bool
    last_poll: Moment
    status: str  # ok, unchanged, error, never
    http_status: int | None
    error: str | None
    failures: int
    entries: int
    next_poll: Moment | None

    @property
    def failing(self) -> bool:
        return self.status == "error"


@dataclass(frozen=True)
class Column:
    """A sortable header: its link sorts by it, the other way round when it is the current."""

    key: str
    label: str
    href: str
    aria_sort: str  # ascending, descending, none
    arrow: str


@dataclass(frozen=True)
class DeliveryView:
    notifier: str
    state: str  # sent, pending, failed
    detail: str


@dataclass(frozen=True)
class AlertView:
    detected: Moment
    rule: str
    feed: str
    title: str
    href: str | None
    matched: str
    deliveries: tuple[DeliveryView, ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A small inline SVG bar chart."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    total: int
    summary: str


@dataclass(frozen=True)
class RuleView:
    name: str
    configured: bool
    hourly: Chart
    daily: Chart


@dataclass(frozen=True)
class StatusView:
    generated: str
    refresh: int
    feeds: tuple[FeedView, ...]
    columns: tuple[Column, ...]
    failing: int
    alerts: tuple[AlertView, ...]
    rules: tuple[RuleView, ...]
    pending: int
    oldest_pending: str | None


# --- feeds ---------------------------------------------------------------------------------

SortKey = Callable[[FeedStatus], Any]
_SEVERITY = {"error": 2, None: 1}  # ok and unchanged: 0

SORTS: dict[str, tuple[str, SortKey]] = {
    "name": ("Name", lambda f: _label(f).casefold()),
    "url": ("URL", lambda f: strip_userinfo(f.url)),
    "last_poll": ("Last poll", lambda f: f.last_poll or _NEVER),
    "status": ("Status", lambda f: (_SEVERITY.get(f.last_status, 0), f.consecutive_failures)),
    "entries": ("Entries", lambda f: f.entries),
    "next_poll": ("Next poll", lambda f: (f.active, f.next_poll)),
}
DEFAULT_SORT = ("status", "desc")  # failing feeds first


def sort_order(sort: str | None, direction: str | None) -> tuple[str, str]:
    """The column and direction asked for, or the default when either is unknown."""
    if sort not in SORTS:
        return DEFAULT_SORT
    return sort, direction if direction in ("asc", "desc") else "asc"


def sort_feeds(feeds: Iterable[FeedStatus], sort: str, direction: str) -> list[FeedStatus]:
    """By the column, ties in name order; active feeds before removed ones either way."""
    by_name = sorted(feeds, key=SORTS["name"][1])
    ordered = sorted(by_name, key=SORTS[sort][1], reverse=direction == "desc")
    return sorted(ordered, key=lambda f: not f.active)


def columns(sort: str, direction: str) -> tuple[Column, ...]:
    out = []
    for key, (label, _) in SORTS.items():
        current = key == sort
        flip = "desc" if current and direction == "asc" else "asc"
        if not current and key == "status":
            flip = "desc"  # worst first is what one wants from a status column
        aria = ("ascending" if direction == "asc" else "descending") if current else "none"
        arrow = ("▲" if direction == "asc" else "▼") if current else ""
        out.append(Column(key, label, f"?sort={key}&dir={flip}", aria, arrow))
    return tuple(out)


def feed_view(f: FeedStatus, now: datetime, secrets: Sequence[str]) -> FeedView:
    # an error may quote the feed's token or password without its URL
    secrets = [*secrets, *url_secrets(f.url), *url_secrets(f.config_url)]
    return FeedView(
        name=shown(_label(f), secrets),
        url=shown(f.url, secrets),
        active=f.active,
        last_poll=moment(f.last_poll, now),
        status=f.last_status or "never",
        http_status=f.last_http_status,
        error=shown(f.last_error, secrets) if f.last_error else None,
        failures=f.consecutive_failures,
        entries=f.entries,
        next_poll=moment(f.next_poll, now) if f.active else None,
    )


def _label(f: FeedStatus) -> str:
    return f.name or f.title or f.url


# --- alerts --------------------------------------------------------------------------------


def alert_view(item: AlertWithDeliveries, now: datetime, secrets: Sequence[str]) -> AlertView:
    a = item.alert
    secrets = [*secrets, *url_secrets(a.feed_url)]
    return AlertView(
        detected=moment(a.detected_at, now),
        rule=a.rule,
        feed=shown(a.feed_name, secrets),
        title=shown(a.title, secrets) if a.title else "(no title)",
        href=safe_href(shown(a.url, secrets) if a.url else None),
        matched=", ".join(a.matched),
        deliveries=tuple(delivery_view(d, secrets) for d in item.deliveries),
    )


def delivery_view(d: DeliveryState, secrets: Sequence[str]) -> DeliveryView:
    detail = d.last_error or (f"HTTP {d.last_status}" if d.last_status else "")
    if d.state == "sent":
        detail = f"after {d.attempts} attempt(s)"
    elif d.state == "pending":
        retry = f"next try {d.next_attempt_at:%H:%M:%SZ}"
        detail = f"{d.attempts} attempt(s), {retry}" + (f": {detail}" if detail else "")
    else:
        detail = f"after {d.attempts} attempt(s): {detail}"
    return DeliveryView(d.notifier, d.state, shown(detail, secrets))


def safe_href(url: str | None) -> str | None:
    """A link only to an http(s) URL (never ``javascript:``), without its userinfo."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return strip_userinfo(url.strip()) if scheme in ("http", "https") else None


# --- rule charts ---------------------------------------------------------------------------


def chart_since(now: datetime) -> datetime:
    """The earliest hour the charts need: the start of the first of the seven UTC days."""
    return _day(now) - timedelta(days=DAYS - 1)


def rule_views(
    hours: Sequence[RuleHour], configured: Sequence[str], now: datetime
) -> list[RuleView]:
    """Configured rules in config order, then rules seen only in alerts, by name."""
    counts: dict[str, dict[datetime, int]] = {}
    for h in hours:
        counts.setdefault(h.rule, {})[h.hour] = h.count
    seen = sorted(set(counts) - set(configured))
    return [
        RuleView(name, name in configured, *_charts(counts.get(name, {}), now))
        for name in [*configured, *seen]
    ]


def _charts(counts: dict[datetime, int], now: datetime) -> tuple[Chart, Chart]:
    first_hour = _hour(now) - timedelta(hours=HOURS - 1)
    hourly = [
        (h, counts.get(h, 0)) for h in (first_hour + timedelta(hours=i) for i in range(HOURS))
    ]
    first_day = chart_since(now)
    daily = [
        (day, sum(n for h, n in counts.items() if day <= h < day + timedelta(days=1)))
        for day in (first_day + timedelta(days=i) for i in range(DAYS))
    ]
    hour_bars = [(f"{h:%H}:00–{h + timedelta(hours=1):%H}:00 UTC", n) for h, n in hourly]
    day_bars = [(f"{d:%a %d %b}", n) for d, n in daily]
    return chart(hour_bars, "last 24 hours"), chart(day_bars, "last 7 days")


def chart(values: Sequence[tuple[str, int]], span: str, height: int = 32) -> Chart:
    """Bars scaled to the largest value; an empty bar still shows as a sliver on the axis."""
    step = 8 if len(values) > 12 else 20
    top = max((n for _, n in values), default=0) or 1
    bars = []
    for i, (label, n) in enumerate(values):
        h = max(1.0, round(n / top * (height - 2), 1))
        bars.append(Bar(i * step, height - h, step - 1, h, f"{label}: {_hits(n)}"))
    total = sum(n for _, n in values)
    return Chart(len(values) * step, height, tuple(bars), total, f"{_hits(total)} in the {span}")


def _hits(n: int) -> str:
    return f"{n} alert{'' if n == 1 else 's'}"


def _hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _day(when: datetime) -> datetime:
    return _hour(when).replace(hour=0)


# --- text ----------------------------------------------------------------------------------


def moment(when: datetime | None, now: datetime) -> Moment:
    if when is None:
        return Moment("never", "")
    seconds = (now - when).total_seconds()
    if abs(seconds) < 1:
        text = "now"
    elif seconds > 0:
        text = f"{coarse(seconds)} ago"
    else:
        text = f"in {coarse(-seconds)}"
    return Moment(text, f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}")


def coarse(seconds: float) -> str:
    """A duration to the largest unit and the one after it: ``1d2h``, ``5m3s``, ``1h``."""
    whole = max(0, round(seconds))
    parts: list[str] = []
    for unit, size in _UNITS:
        count, whole = divmod(whole, size)
        if parts or count:
            parts.append(f"{count}{unit}" if count else "")
        if len(parts) == 2:
            break
    return "".join(parts) or "0s"


def strip_userinfo(text: str) -> str:
    """``https://user:pass@host/x`` becomes ``https://host/x``, wherever URLs are in ``text``."""
    return _USERINFO.sub(r"\1", text)


def secrets_of(config: Config) -> list[str]:
    """Every notifier URL and signing secret in the configuration."""
    values = []
    for notifier in config.notifiers.values():
        if isinstance(notifier, SlackNotifier | WebhookNotifier):
            values.append(notifier.url.get_secret_value())
        if isinstance(notifier, WebhookNotifier) and notifier.secret is not None:
            values.append(notifier.secret.get_secret_value())
    return [v for v in values if v]


def shown(text: str, secrets: Sequence[str]) -> str:
    """``text`` as the page shows it: every URL in it with its password and secret-looking
    query parameters hidden (the password wherever else it appears too), then ``redact``."""
    return redact(hide_credentials(text), secrets)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with configured secrets as ``***`` and userinfo cut out of URLs."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return strip_userinfo(text)


# --- the page ------------------------------------------------------------------------------


def build_view(data: PageData, sort: str | None = None, direction: str | None = None) -> StatusView:
    """The whole page's view model; ``sort`` and ``direction`` come from the query string."""
    key, way = sort_order(sort, direction)
    now, secrets = data.now, data.secrets
    feeds = tuple(feed_view(f, now, secrets) for f in sort_feeds(data.feeds, key, way))
    oldest = data.outbox.oldest
    return StatusView(
        generated=f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}",
        refresh=REFRESH_SECONDS,
        feeds=feeds,
        columns=columns(key, way),
        failing=sum(1 for f in feeds if f.failing and f.active),
        alerts=tuple(alert_view(a, now, secrets) for a in data.alerts),
        rules=tuple(rule_views(data.hours, data.rules, now)),
        pending=data.outbox.pending,
        oldest_pending=moment(oldest, now).text if oldest is not None else None,
    )


_ENV = Environment(
    loader=PackageLoader("monitor.web", "templates"),
    autoescape=True,  # every value on the page may come from a hostile feed
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(view: StatusView) -> str:
    return _ENV.get_template("status.html").render(view=view)
