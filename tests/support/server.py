"""A real HTTP server on 127.0.0.1 for tests: routes with status, body, headers and delays.

Each route answers conditional GETs the way a static server does (304 when the
request's If-None-Match / If-Modified-Since matches), and every request is
recorded so tests can assert what the monitor sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    content_type: str = "application/rss+xml; charset=utf-8"
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when the request arrived


class FeedServer:
    """``server.route("/a.xml", body=...)``; ``server.url("/a.xml")``; ``server.requests``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, **kwargs: object) -> Route:
        route = Route(**kwargs)  # type: ignore[arg-type]
        self.routes[path] = route
        return route

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionError:  # the client died mid-request (a killed monitor)
                    pass

            def do_GET(self) -> None:
                server._record(
                    Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                route = server.routes.get(self.path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.handler is not None:
                    route.handler(self)
                    return
                if self._not_modified(route):
                    self._send(304, b"", self._validators(route))
                    return
                headers = {"Content-Type": route.content_type, **self._validators(route)}
                self._send(route.status, route.body, {**headers, **route.headers})

            def _validators(self, route: Route) -> dict[str, str]:
                out = {}
                if route.etag:
                    out["ETag"] = route.etag
                if route.last_modified:
                    out["Last-Modified"] = route.last_modified
                return out

            def _not_modified(self, route: Route) -> bool:
                if route.status != 200:
                    return False
                inm = self.headers.get("If-None-Match")
                if inm is not None and route.etag:
                    return inm == route.etag
                ims = self.headers.get("If-Modified-Since")
                return (
                    ims is not None
                    and route.last_modified is not None
                    and ims == route.last_modified
                )

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if body and status != 304:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
