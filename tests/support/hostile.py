"""Hostile HTTP answers for ``FeedServer.route(path, handler=...)``, and a memory gauge.

Each factory returns a handler that writes the raw response itself: an endless
body (with or without Content-Length), a gzip bomb, a slow drip. Handlers count
what they sent in a ``Sent`` and stop as soon as the client hangs up or the test
sets ``Sent.stop``, so no server thread outlives its test for long.
"""

from __future__ import annotations

import resource
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler

Handler = Callable[[BaseHTTPRequestHandler], None]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
BLOCK = 64 * KIB
FEED_HEAD = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    b"<title>Endless</title><link>http://example.test/</link><description>"
)
RUSAGE = resource.RUSAGE_SELF
HANGUP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


@dataclass
class Sent:
    """What a hostile handler wrote; ``stop`` ends it early, ``done`` is set when it returns."""

    bytes: int = 0
    requests: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


def endless(sent: Sent, total: int = GIB, content_length: bool = True) -> Handler:
    """A ``total``-byte feed body generated block by block: declared, or chunked without a length.

    The body is an RSS prologue and then spaces inside ``<description>``, never
    held in memory as a whole.
    """
    pad = b" " * BLOCK

    def handler(req: BaseHTTPRequestHandler) -> None:
        sent.requests += 1
        try:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            if content_length:
                req.send_header("Content-Length", str(total))
            else:
                req.send_header("Transfer-Encoding", "chunked")
            req.end_headers()
            remaining = total
            first = FEED_HEAD
            while remaining > 0 and not sent.stop.is_set():
                block = (first + pad)[: min(BLOCK, remaining)] if first else pad[:remaining]
                first = b""
                if content_length:
                    req.wfile.write(block)
                else:
                    req.wfile.write(b"%x\r\n%b\r\n" % (len(block), block))
                sent.bytes += len(block)
                remaining -= len(block)
            if not content_length and remaining <= 0:
                req.wfile.write(b"0\r\n\r\n")
        except HANGUP:
            pass
        finally:
            req.close_connection = True
            sent.done.set()

    return handler


@lru_cache(maxsize=2)
def gzip_bomb(decoded: int = GIB) -> bytes:
    """A gzip member that decodes to ``decoded`` zero bytes (a multiple of 1 MiB), about 1 MB.

    Built with zlib in streaming fashion, block by block: after a full flush
    the deflate state is reset, so every further 1 MiB block of zeros compresses
    to the same bytes, which are checked and then repeated instead of recompressed.
    """
    assert decoded % MIB == 0 and decoded >= 2 * MIB
    zeros = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH) == again
    final = deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(decoded // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, decoded & 0xFFFFFFFF)
    return header + first + again * (decoded // MIB - 1) + final + trailer


def gzip_answer(sent: Sent, body: bytes, content_length: bool = True) -> Handler:
    """``body`` (already gzip-encoded) sent with ``Content-Encoding: gzip``."""

    def handler(req: BaseHTTPRequestHandler) -> None:
        sent.requests += 1
        try:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            req.send_header("Content-Encoding", "gzip")
            if content_length:
                req.send_header("Content-Length", str(len(body)))
            else:
                req.send_header("Connection", "close")
            req.end_headers()
            for start in range(0, len(body), BLOCK):
                if sent.stop.is_set():
                    break
                req.wfile.write(body[start : start + BLOCK])
                sent.bytes += min(BLOCK, len(body) - start)
        except HANGUP:
            pass
        finally:
            req.close_connection = True
            sent.done.set()

    return handler


def drip(sent: Sent, body: bytes, interval: float = 1.0) -> Handler:
    """``body`` with its true Content-Length, one byte every ``interval`` seconds."""

    def handler(req: BaseHTTPRequestHandler) -> None:
        sent.requests += 1
        try:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.flush()
            for byte in body:
                req.wfile.write(bytes([byte]))
                req.wfile.flush()
                sent.bytes += 1
                if sent.stop.wait(interval):
                    break
        except HANGUP:
            pass
        finally:
            req.close_connection = True
            sent.done.set()

    return handler


@dataclass
class Peak:
    """Peak memory over a block: traced Python allocations, and the growth of the peak RSS."""

    traced: int = 0
    rss_growth: int = 0


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS (VmHWM) to the current RSS, where Linux allows it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


@contextmanager
def peak_memory() -> Iterator[Peak]:
    """Measure the block's peak: tracemalloc (Python allocations) and the process's peak RSS.

    The peak RSS is reset first (Linux ``clear_refs``) so an earlier test's peak
    does not hide this one's; where that is not possible ru_maxrss, which only
    grows, gives a lower bound.
    """
    peak = Peak()
    reset = _reset_peak_rss()
    before = (_status_kib("VmRSS") or 0) if reset else resource.getrusage(RUSAGE).ru_maxrss
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        after = (_status_kib("VmHWM") or 0) if reset else resource.getrusage(RUSAGE).ru_maxrss
        peak.rss_growth = max(0, after - before) * KIB
