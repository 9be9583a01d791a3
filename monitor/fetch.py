"""HTTP fetching of feeds: polite, bounded, and with every failure a FetchError.

Conditional GET (ETag / Last-Modified), a total timeout over all phases, a cap
on the decoded body size (so a gzip bomb is cut off), redirects followed with
permanent ones reported so the stored URL can follow, and Retry-After read on
429 and 503. Conditional GET and Retry-After live here and nowhere else.

One client serves feeds, pages and notifiers: httpx over aiohttp's connection
pool. Feed polls, the bulk of all requests, go to that aiohttp session directly
(httpx's layers cost as much as a request), except with ``block_private_addresses``,
whose address check lives in httpx's guarded pool: there feeds go through httpx too.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from urllib.request import getproxies
from weakref import WeakValueDictionary

import aiohttp
import httpcore
import httpx
from httpx_aiohttp import AiohttpTransport

from monitor import __version__
from monitor.clock import Clock, SystemClock
from monitor.errors import FetchError
from monitor.models import FeedForPoll, FetchResult
from monitor.netguard import BlockedAddressError, GuardedBackend
from monitor.retry import parse_retry_after

USER_AGENT = f"feed-monitor/{__version__} (RSS/Atom news alert monitor; polite polling)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"  # an entry's linked page
ACCEPT_ENCODING = "gzip, deflate"  # what _Inflater decodes
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
PER_HOST = 2
PERMANENT = (301, 308)


def make_client(
    max_connections: int = 100, guard: GuardedBackend | None = None
) -> httpx.AsyncClient:
    """The shared client: one connection pool for every feed and notifier.

    With a ``guard`` (``block_private_addresses: true``), every connection,
    redirects included, goes through it, and proxies from the environment are
    ignored: through a proxy the address really reached could not be checked.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
    transport: httpx.AsyncBaseTransport
    direct = None
    if guard is None:
        # aiohttp's connection pool under httpx's API: httpx's own pool slows down as
        # concurrency grows (about 1,000 requests/s at 5 connections, 500 at 100).
        transport = direct = _AiohttpTransport(limits=limits, verify=ssl_context(trust_env=True))
    else:
        transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
        # httpx has no public hook for the network backend; the pool it builds is
        # replaced by the same pool with the guarded backend (tests/test_netguard.py
        # fails if an httpx upgrade ever bypasses it).
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=guard,
        )
    client = Client(
        headers=FEED_HEADERS,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        limits=limits,
        transport=transport,
        trust_env=guard is None,
    )
    client.direct = direct
    return client


@functools.lru_cache(maxsize=16_384)
def host_of(url: str) -> str:
    """The host part of ``url`` ("" when it has none), remembered for the feeds polled over
    and over: urllib remembers only 128 URLs it took apart, so with more feeds every poll
    parsed its URL again (5 us, of the 250 us of Python a poll answering 304 costs)."""
    return urlsplit(url).hostname or ""


@functools.cache
def ssl_context(trust_env: bool) -> ssl.SSLContext:
    """The process's TLS context for verified connections (``trust_env``: SSL_CERT_FILE and
    SSL_CERT_DIR honoured), made once: loading the CA bundle takes 30 ms, as long as a
    hundred polls answering 304, and every client would otherwise load it again."""
    return httpx.create_ssl_context(trust_env=trust_env)


FEED_HEADERS = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}


class Client(httpx.AsyncClient):
    """The shared httpx client, and under it, when nothing guards its connections, the
    aiohttp session that feed polls use directly (``Fetcher``): httpx's request and
    response layers cost about a millisecond a request, as much as the request itself."""

    direct: _AiohttpTransport | None = None


class _AiohttpTransport(AiohttpTransport):
    """httpx-aiohttp with three gaps closed: a redirected GET carries an empty body stream,
    which it would send as a chunked body; credentials in the URL, already sent by httpx
    as an Authorization header, make aiohttp refuse the request; and aiohttp errors it
    does not map (a bad status line, say) would escape as aiohttp's own exceptions."""

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session under this transport, made on first use (in the event loop).

        It reads proxies from the environment, as the httpx client over it does, when
        the environment names one. When it names none, the session is told not to look:
        aiohttp would otherwise look up ~/.netrc and the proxy variables again for every
        request, in a thread: a pass of 1,000 feeds answering 304 took twice as long.
        """
        if not isinstance(self.client, aiohttp.ClientSession):
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,
                keepalive_timeout=self.limits.keepalive_expiry,
                ssl=self.ssl_context,
            )
            proxies = getproxies()
            proxied = "http" in proxies or "https" in proxies
            self.client = aiohttp.ClientSession(connector=connector, trust_env=proxied)
        return self.client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.session()
        await request.aread()  # our requests are GETs and small webhook POSTs
        if request.url.userinfo:  # httpx sent it as Authorization; aiohttp refuses both
            request.url = request.url.copy_with(userinfo=b"")
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _remapped(exc) from exc.__cause__
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc


def _remapped(exc: httpx.TransportError) -> httpx.TransportError:
    """httpx-aiohttp maps every aiohttp connection error to ConnectTimeout; a refused
    connection or an unknown host is not a timeout, and the feed's error should say so."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ServerTimeoutError):
        return exc
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(cause))
    if isinstance(cause, aiohttp.ClientConnectionError):
        return httpx.RemoteProtocolError(f"{type(cause).__name__}: {cause}")
    return exc


class ClaimLost(Exception):
    """The claim on a feed or page went to another instance while this one waited for the host."""


class Fetcher:
    """Fetches feeds through one client, at most ``per_host`` at a time per host."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        clock: Clock | None = None,
        max_bytes: int = MAX_BODY_BYTES,
        per_host: int = PER_HOST,
    ) -> None:
        self.client = client
        self.clock = clock or SystemClock()
        self.max_bytes = max_bytes
        self.per_host = per_host
        # Feed polls go to the aiohttp session under the client when nothing guards it.
        self._direct = client.direct if isinstance(client, Client) else None
        # A host's semaphores live as long as a fetch holds or awaits them (its ``async with``
        # refers to them) and go with the last one: article links reach thousands of hosts.
        self._hosts: WeakValueDictionary[str, asyncio.Semaphore] = WeakValueDictionary()
        # Linked pages take at most per_host - 1 of a host's slots (one if per_host is 1),
        # so a backlog of articles on a site never keeps its feeds waiting for all of them.
        self._page_hosts: WeakValueDictionary[str, asyncio.Semaphore] = WeakValueDictionary()

    async def fetch(
        self, feed: FeedForPoll, timeout: float, on_start: Callable[[], bool] | None = None
    ) -> FetchResult:
        """Fetch ``feed``; any failure is a FetchError, with the HTTP status if there was one.

        ``on_start`` is asked once the host has a free slot, just before the request;
        when it says no (another instance took the feed over), ClaimLost is raised.
        """
        async with self._slot(self._hosts, host_of(feed.url), self.per_host):
            if on_start is not None and not on_start():
                raise ClaimLost(feed.id)
            direct = self._direct
            try:
                async with asyncio.timeout(timeout):
                    if direct is not None:
                        return await self._get_direct(direct.session(), feed, timeout)
                    return await self._get(feed, timeout)
            except TimeoutError as exc:
                raise FetchError(f"timed out after {timeout:g}s") from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: javascript:, data:
                raise FetchError(_describe(exc)) from exc
            except aiohttp.ClientError as exc:
                raise FetchError(_describe_aiohttp(exc)) from exc

    async def fetch_page(
        self, url: str, timeout: float, on_start: Callable[[], Awaitable[bool]] | None = None
    ) -> Page:
        """An entry's linked page (``fetch_articles``), cut at ``max_bytes``; a FetchError if not.

        Within the same per-host limit as feeds: a host's feeds and pages together
        never hold more than ``per_host`` connections. ``on_start`` is awaited once the
        host has a free slot, just before the request; when it says no, ClaimLost is raised.
        """
        host = urlsplit(url).hostname or ""
        pages = max(1, self.per_host - 1)
        async with (
            self._slot(self._page_hosts, host, pages),
            self._slot(self._hosts, host, self.per_host),
        ):
            if on_start is not None and not await on_start():
                raise ClaimLost(url)
            return await fetch_page(
                self.client, url, timeout, self.max_bytes, headers={"Accept": ACCEPT_HTML}
            )

    @staticmethod
    def _slot(
        slots: WeakValueDictionary[str, asyncio.Semaphore], host: str, size: int
    ) -> asyncio.Semaphore:
        """The host's semaphore in ``slots``; a new one when no fetch of that host refers to it."""
        semaphore = slots.get(host)
        if semaphore is None:
            semaphore = slots[host] = asyncio.Semaphore(size)
        return semaphore

    async def _get(self, feed: FeedForPoll, timeout: float) -> FetchResult:
        headers = _conditional_headers(feed)
        async with self.client.stream("GET", feed.url, headers=headers, timeout=timeout) as resp:
            if resp.status_code >= 300 and resp.status_code != 304:
                raise _status_error(resp, self.clock.now())
            body = b"" if resp.status_code == 304 else await self._read(resp)
            redirects = [r.status_code for r in resp.history]
            return _result(feed, str(resp.url), resp.status_code, resp.headers, body, redirects)

    async def _get_direct(
        self, session: aiohttp.ClientSession, feed: FeedForPoll, timeout: float
    ) -> FetchResult:
        """``_get`` straight through aiohttp: the same headers, redirects, status handling and
        bounded decoding (aiohttp hands the body over as it came, compressed or not)."""
        async with session.get(
            feed.url,
            headers={**FEED_HEADERS, **_conditional_headers(feed)},
            max_redirects=MAX_REDIRECTS,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            if resp.status >= 300 and resp.status != 304:
                reason = resp.reason or ""
                raise _http_error(resp.status, reason, resp.headers, self.clock.now())
            body = b"" if resp.status == 304 else await self._read_stream(resp)
            redirects = [r.status for r in resp.history]
            return _result(feed, str(resp.url), resp.status, resp.headers, body, redirects)

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> bytes:
        """``_read`` for an aiohttp response."""
        return await self._decode(resp.headers, resp.content.iter_any())

    async def _read(self, resp: httpx.Response) -> bytes:
        """The decoded body, refused past ``max_bytes`` counted after decompression.

        Content-Encoding is decoded here rather than by httpx, which inflates each
        network read whole (63 MiB at once from a 64 KiB piece of a gzip bomb).
        """
        return await self._decode(resp.headers, resp.aiter_raw())

    async def _decode(self, headers: Mapping[str, str], raw_body: AsyncIterator[bytes]) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"body too large: {int(declared)} bytes (limit {self.max_bytes})")
        inflater = _Inflater(headers.get("content-encoding", ""))
        chunks: list[bytes] = []
        size = 0
        async for raw in raw_body:
            for chunk in inflater.decode(raw, self.max_bytes - size + 1):
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(f"body too large: over {self.max_bytes} bytes")
                chunks.append(chunk)
        chunks.append(inflater.flush())
        return b"".join(chunks)


class _Inflater:
    """Content-Encoding decoded here, never more than ``limit`` bytes at a time.

    httpx inflates each 64 KiB read whole: 63 MiB at once from a gzip bomb, before
    the size cap can look at it.
    """

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",")]
        codings = [c for c in codings if c not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(f"unsupported Content-Encoding: {encoding}")
        self.coding = codings[0] if codings else None
        gzip = self.coding in ("gzip", "x-gzip")
        wbits = zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits) if self.coding else None
        self._raw_fallback = self.coding == "deflate"  # raw deflate, as some servers send

    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        if self._zlib is None:
            yield data
            return
        try:
            while data:
                try:
                    chunk = self._zlib.decompress(data, limit)
                except zlib.error:
                    if not self._raw_fallback:
                        raise
                    self._raw_fallback = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                self._raw_fallback = False
                data = self._zlib.unconsumed_tail
                yield chunk
        except zlib.error as exc:
            raise FetchError(f"undecodable {self.coding} body: {exc}") from exc

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib else b""


def _conditional_headers(feed: FeedForPoll) -> dict[str, str]:
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    return headers


def _result(
    feed: FeedForPoll,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    redirects: list[int],
) -> FetchResult:
    """A poll's answer, from httpx or aiohttp alike; ``redirects``: the statuses on the way."""
    return FetchResult(
        url=url,
        status=status,
        not_modified=status == 304,
        body=body,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        content_type=headers.get("content-type"),
        permanent_url=_permanent(feed.url, url, redirects),
    )


def _permanent(original: str, final: str, redirects: list[int]) -> str | None:
    """The final URL when every redirect on the way (their statuses) was permanent."""
    if not redirects or any(status not in PERMANENT for status in redirects):
        return None
    return final if final != original else None


def _status_error(resp: httpx.Response, now: datetime) -> FetchError:
    return _http_error(resp.status_code, resp.reason_phrase or "", resp.headers, now)


def _http_error(status: int, reason: str, headers: Mapping[str, str], now: datetime) -> FetchError:
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(headers.get("retry-after"), now)
    return FetchError(f"HTTP {status} {reason}".strip(), status=status, retry_after=retry_after)


def _describe_aiohttp(exc: aiohttp.ClientError) -> str:
    """A feed's error for what aiohttp raised, worded as ``_describe`` words httpx's."""
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"too many redirects (more than {MAX_REDIRECTS})"
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return f"unsupported URL scheme: {exc}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.InvalidURL):
        return f"invalid URL: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"too many redirects (more than {MAX_REDIRECTS})"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL scheme: {exc}"
    if isinstance(exc.__cause__, BlockedAddressError):
        return str(exc.__cause__)
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Page:
    """A page fetched for a command, at most ``max_bytes`` of it; ``url`` is after redirects."""

    url: str
    content_type: str | None
    charset: str | None
    body: bytes
    truncated: bool

    def text(self) -> str:
        """The body as text, in its declared charset, else UTF-8; undecodable bytes replaced."""
        try:
            return self.body.decode(self.charset or "utf-8", "replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", "replace")


async def fetch_page(
    client: httpx.AsyncClient,
    url: str,
    timeout: float,
    max_bytes: int = MAX_BODY_BYTES,
    headers: dict[str, str] | None = None,
) -> Page:
    """One GET for a command (``test-rule --url``, ``feeds add``); any failure is a FetchError.

    The same client, total timeout and bounded decoding as a feed poll, but a body
    past ``max_bytes`` is cut rather than refused: a page's title and feed links come first.
    """
    try:
        async with asyncio.timeout(timeout):
            async with client.stream("GET", url, headers=headers, timeout=timeout) as resp:
                if resp.status_code >= 300:  # Retry-After read on 429 and 503, as for feeds
                    raise _status_error(resp, datetime.now(UTC))
                body, cut = await _read_capped(resp, max_bytes)
                content_type = resp.headers.get("content-type")
                return Page(str(resp.url), content_type, resp.charset_encoding, body, cut)
    except TimeoutError as exc:
        raise FetchError(f"timed out after {timeout:g}s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(_describe(exc)) from exc


async def _read_capped(resp: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """The first ``max_bytes`` of the decoded body, and whether there was more."""
    inflater = _Inflater(resp.headers.get("content-encoding", ""))
    body = bytearray()
    async for raw in resp.aiter_raw():
        for chunk in inflater.decode(raw, max_bytes - len(body) + 1):
            body += chunk
            if len(body) > max_bytes:
                return bytes(body[:max_bytes]), True
    body += inflater.flush()
    return bytes(body[:max_bytes]), len(body) > max_bytes
