"""Standard Webhooks signatures for the webhook notifier.

A receiver checks that a delivery came from us and was not altered: the HMAC-SHA256 of
``{webhook-id}.{webhook-timestamp}.{body}`` under the shared secret, sent as
``webhook-signature: v1,<base64>`` (https://www.standardwebhooks.com/). The secret is written
either as ``whsec_<base64>`` (the decoded bytes are the key, as the spec's libraries expect) or
as any other string, whose UTF-8 bytes are the key. Error messages never quote the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key a configured secret stands for; ValueError if it gives no usable key."""
    if secret.startswith(SECRET_PREFIX):
        key = _decode_base64(secret[len(SECRET_PREFIX) :])
    else:
        key = secret.encode("utf-8")
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _decode_base64(text: str) -> bytes:
    """Strict standard base64; missing ``=`` padding is tolerated, as the spec's libraries do."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"webhook secret: text after {SECRET_PREFIX!r} is not base64") from None


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``msg_id.timestamp.body``."""
    signed = b".".join((msg_id.encode("utf-8"), str(timestamp).encode("ascii"), body))
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent as ``msg_id`` at ``timestamp``.

    ``timestamp`` is whole seconds since the epoch; receivers reject one more than a few minutes
    away from their clock, so it is the time of this attempt, while ``msg_id`` stays the same
    on every retry.
    """
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret_key(secret), msg_id, timestamp, body),
    }
