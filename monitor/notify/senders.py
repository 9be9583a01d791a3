"""The three notifiers: console, signed webhook, and Slack (with digests for bursts)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import httpx

from monitor.clock import Clock
from monitor.config import ConsoleNotifier, SlackNotifier, WebhookNotifier
from monitor.models import Alert
from monitor.notify.base import SEND_TIMEOUT, Notifier, one_each, post
from monitor.notify.payloads import (
    console_line,
    encode_json,
    slack_digest,
    slack_digest_batches,
    slack_message,
    webhook_body,
)
from monitor.notify.signing import sign
from monitor.retry import Outcome, classify


class ConsoleSender:
    """One line per alert on standard output."""

    min_interval = 0.0

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream

    def batches(self, alerts: Sequence[Alert]) -> list[list[Alert]]:
        return one_each(alerts)

    async def send(self, alerts: Sequence[Alert]) -> Outcome:
        out = self.stream or sys.stdout
        for alert in alerts:
            print(console_line(alert), file=out, flush=True)
        return classify(200)


class WebhookSender:
    """The contract's JSON body, signed per Standard Webhooks when a secret is set."""

    min_interval = 0.0

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None,
        client: httpx.AsyncClient,
        clock: Clock,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.name, self.url, self.secret = name, url, secret
        self.client, self.clock, self.timeout = client, clock, timeout

    def batches(self, alerts: Sequence[Alert]) -> list[list[Alert]]:
        return one_each(alerts)

    async def send(self, alerts: Sequence[Alert]) -> Outcome:
        (alert,) = alerts
        body = encode_json(webhook_body(alert))
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers |= sign(self.secret, alert.id, int(self.clock.now().timestamp()), body)
        else:
            headers["webhook-id"] = alert.id
        return await post(self.client, self.url, body, headers, self.clock, self.timeout)


class SlackSender:
    """Incoming-webhook messages, at most one a second; several waiting alerts go as a digest."""

    min_interval = 1.0

    def __init__(
        self,
        name: str,
        url: str,
        client: httpx.AsyncClient,
        clock: Clock,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.name, self.url = name, url
        self.client, self.clock, self.timeout = client, clock, timeout

    def batches(self, alerts: Sequence[Alert]) -> list[list[Alert]]:
        """One full message for a lone alert; digests, each listing every alert it carries, else."""
        if len(alerts) <= 1:
            return [list(alerts)]
        return slack_digest_batches(alerts)

    async def send(self, alerts: Sequence[Alert]) -> Outcome:
        message = slack_message(alerts[0]) if len(alerts) == 1 else slack_digest(alerts)
        body = encode_json(message)
        headers = {"Content-Type": "application/json"}
        return await post(self.client, self.url, body, headers, self.clock, self.timeout)


def build_senders(
    notifiers: dict[str, ConsoleNotifier | SlackNotifier | WebhookNotifier],
    client: httpx.AsyncClient,
    clock: Clock,
    timeout: float = SEND_TIMEOUT,
) -> dict[str, Notifier]:
    """A sender for every enabled notifier in the configuration."""
    senders: dict[str, Notifier] = {}
    for name, n in notifiers.items():
        if not n.enabled:
            continue
        if isinstance(n, ConsoleNotifier):
            senders[name] = ConsoleSender(name)
        elif isinstance(n, WebhookNotifier):
            secret = n.secret.get_secret_value() if n.secret else None
            senders[name] = WebhookSender(
                name, n.url.get_secret_value(), secret, client, clock, timeout
            )
        else:
            senders[name] = SlackSender(name, n.url.get_secret_value(), client, clock, timeout)
    return senders
