"""Our Standard Webhooks signatures, checked by the reference ``standardwebhooks`` package.

The receiver side here is the package's ``Webhook.verify``, never our own code, so a test passes
only if a real receiver would accept (or, for tampered deliveries, reject) what we send.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from monitor.models import Alert
from monitor.notify.payloads import encode_json, webhook_body
from monitor.notify.signing import secret_key, sign

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRETS = [
    SPEC_SECRET,
    "whsec_" + base64.b64encode(bytes(range(32))).decode().rstrip("="),  # unpadded base64
    "a plain shared secret",
    "pässwörd 🔑 with spaces",
]
BODY = b'{"type":"alert","id":"a1","rule":"emergency"}'


def receiver(secret: str) -> Webhook:
    """The reference receiver: ``whsec_`` secrets as the package reads them, else UTF-8 bytes."""
    if secret.startswith("whsec_"):
        return Webhook(secret)
    return Webhook(secret.encode("utf-8"))


def now() -> int:
    return int(time.time())


@pytest.mark.parametrize("secret", SECRETS)
def test_reference_receiver_accepts_our_signature(secret: str) -> None:
    headers = sign(secret, "alert-1", now(), BODY)
    assert receiver(secret).verify(BODY, headers) == json.loads(BODY)


@pytest.mark.parametrize("secret", SECRETS)
def test_signed_alert_body_round_trips(secret: str) -> None:
    alert = Alert(
        id="01J9ZK4X",
        rule="emergency",
        matched=("state of emergency",),
        title="État d'urgence — 🚨 <b>",
        url="https://example.org/a?x=1&y=2",
        published=None,
        summary="plain text",
        snippet="… a state of emergency …",
        feed_name="Example World",
        feed_url="https://example.org/rss.xml",
        detected_at=datetime(2026, 11, 24, 8, 1, 12, tzinfo=UTC),
    )
    body = encode_json(webhook_body(alert))
    headers = sign(secret, alert.id, now(), body)
    assert receiver(secret).verify(body, headers) == webhook_body(alert)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize(
    ("body", "change"),
    [
        (BODY.replace(b"emergency", b"emergencY"), {}),
        (BODY + b" ", {}),
        (BODY, {"webhook-id": "alert-2"}),
        (BODY, {"webhook-timestamp": "UNCHANGED+1"}),
    ],
    ids=["body", "appended", "id", "timestamp"],
)
def test_tampered_delivery_fails(secret: str, body: bytes, change: dict[str, str]) -> None:
    timestamp = now()
    headers = sign(secret, "alert-1", timestamp, BODY)
    for name, value in change.items():
        headers[name] = str(timestamp + 1) if value == "UNCHANGED+1" else value
    with pytest.raises(WebhookVerificationError):
        receiver(secret).verify(body, headers)


def test_other_secret_fails() -> None:
    headers = sign("a plain shared secret", "alert-1", now(), BODY)
    with pytest.raises(WebhookVerificationError):
        receiver("another secret").verify(BODY, headers)


def test_headers_and_spec_example() -> None:
    """The example from the Standard Webhooks reference libraries' tests."""
    body = b'{"test": 2432232314}'
    assert sign(SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ("whsec_AAEC", b"\x00\x01\x02"),
        ("whsec_AAE", b"\x00\x01"),
        ("plain", b"plain"),
        ("whsec", b"whsec"),
        ("ключ", "ключ".encode()),
    ],
)
def test_secret_key(secret: str, key: bytes) -> None:
    assert secret_key(secret) == key


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_ü", "whsec_Zm9vY"])
def test_unusable_secret_is_refused_without_quoting_it(secret: str) -> None:
    with pytest.raises(ValueError) as caught:
        secret_key(secret)
    tail = secret.removeprefix("whsec_")
    assert not tail or tail not in str(caught.value)
