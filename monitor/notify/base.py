"""What every notifier is: a name, how many alerts one message may carry, and ``send``.

``send`` never raises for a receiver's answer: it returns the classified
outcome (ok, retry, fail), so the worker records it and one failing notifier
never blocks the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import httpx

from monitor.clock import Clock
from monitor.models import Alert
from monitor.netguard import BlockedAddressError
from monitor.retry import Outcome, classify

MAX_RESPONSE_BYTES = 64 * 1024
SEND_TIMEOUT = 10.0


class Notifier(Protocol):
    name: str
    min_interval: float  # seconds between two messages to this receiver

    def batches(self, alerts: Sequence[Alert]) -> list[list[Alert]]:
        """How waiting alerts are grouped into messages (one each, or digests)."""
        ...

    async def send(self, alerts: Sequence[Alert]) -> Outcome: ...


def one_each(alerts: Sequence[Alert]) -> list[list[Alert]]:
    return [[alert] for alert in alerts]


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    clock: Clock,
    timeout: float = SEND_TIMEOUT,
) -> Outcome:
    """POST ``body``; redirects are not followed and at most 64 KiB of the answer is read."""
    try:
        async with asyncio.timeout(timeout):
            request = client.build_request("POST", url, content=body, headers=headers)
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                await _read_capped(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return classify(None, f"timed out after {timeout:g}s")
    except httpx.HTTPError as exc:
        if isinstance(exc.__cause__, BlockedAddressError):  # no retry can change the address
            return Outcome("fail", None, str(exc.__cause__))
        return classify(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    status = response.status_code
    error = f"HTTP {status}: redirects are not followed" if 300 <= status < 400 else None
    return classify(status, error, response.headers.get("retry-after"), clock.now())


async def _read_capped(response: httpx.Response) -> None:
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return
