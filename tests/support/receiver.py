"""A real webhook receiver on 127.0.0.1: scripted answers, held requests, idempotent accepts.

``receiver.script(503, (429, {"Retry-After": "2"}), 200)`` answers the next
requests in that order, then ``receiver.default``. ``receiver.hold()`` makes
requests wait until ``release()`` (to kill a sender mid-request). Like a
careful real receiver it accepts each ``webhook-id`` once: a repeat is answered
200 but counted in ``duplicates``, not in ``accepted``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = int | tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, default: int = 200) -> None:
        self.default = default
        self.down = False  # when true: close the connection without an answer
        self.received: list[Received] = []
        self.accepted: list[str] = []
        self.duplicates: list[str] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self.holding = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._answers = list(answers)

    def hold(self) -> None:
        self.holding.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.received if 200 <= r.status < 300]

    def ok(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def _next(self) -> tuple[int, dict[str, str]]:
        with self._lock:
            answer = self._answers.pop(0) if self._answers else self.default
        return answer if isinstance(answer, tuple) else (answer, {})

    def _accept(self, message_id: str | None) -> None:
        with self._lock:
            if message_id is None:
                return
            if message_id in self.accepted:
                self.duplicates.append(message_id)
            else:
                self.accepted.append(message_id)

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionError:  # the client died mid-request (a killed monitor)
                    pass

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = self.rfile.read(length)
                except ConnectionError:
                    body = b""
                if len(body) < length:  # the sender died mid-request: nothing was received
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.down:
                    self.close_connection = True
                    return
                if not receiver._released.is_set():
                    receiver.holding.set()
                    receiver._released.wait(60)
                status, extra = receiver._next()
                receiver._record(Received(arrived, headers, body, status))
                if 200 <= status < 300:
                    receiver._accept(headers.get("webhook-id"))
                self._answer(status, extra)

            def _answer(self, status: int, headers: Iterable[tuple[str, str]] | dict[str, str]):  # type: ignore[no-untyped-def]
                payload = b"ok" if status < 300 else b"error"
                try:
                    self.send_response(status)
                    for key, value in dict(headers).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
