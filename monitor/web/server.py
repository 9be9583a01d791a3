"""The daemon's HTTP endpoint: the status page, ``/healthz`` and ``/metrics``.

An aiohttp server on the daemon's own event loop. Handlers read ``app.config`` on every
request (a reload replaces it) and do their database work in a thread, so a slow query
never stalls polling. ``/healthz`` runs one database probe at a time, in a thread of its
own: a probe that hangs is not cancelled by the request giving up, so requests meanwhile
wait for that probe rather than start more, and it never takes a thread polls need.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from monitor.app import App
from monitor.config import listen_address
from monitor.errors import StorageError
from monitor.metrics import Metrics
from monitor.storage.outbox import Outbox
from monitor.storage.status import HealthProbe, StatusReader
from monitor.web.page import ALERTS_SHOWN, PageData, build_view, chart_since, render, secrets_of

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 5.0
SHUTDOWN_SECONDS = 2.0
# The page needs no script, no frames and nothing from elsewhere: say so to the browser,
# so that even a value that slipped past escaping could not run or load anything.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class WebServer:
    """Serves ``app.config.web.listen`` until ``stop()``; ``is_running`` says whether the
    daemon's scheduler is up and not stopping."""

    def __init__(self, app: App, metrics: Metrics, is_running: Callable[[], bool]) -> None:
        self.app = app
        self.metrics = metrics
        self.is_running = is_running
        self.probe = HealthProbe(app.engine)
        self.health_timeout = HEALTH_TIMEOUT_SECONDS
        self._runner: web.AppRunner | None = None
        self._probing: asyncio.Future[str | None] | None = None
        self._probe_deadline = 0.0  # loop time by which the running probe should have answered

    def application(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/", self.status_page)
        application.router.add_get("/healthz", self.healthz)
        application.router.add_get("/metrics", self.scrape)
        return application

    async def start(self) -> None:
        """Bind the configured address (port 0: any free one) and serve."""
        if self.app.config.web is None:
            raise ValueError("the web endpoint is not configured (web.listen)")
        host, port = listen_address(self.app.config.web.listen)
        runner = web.AppRunner(
            self.application(), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        shown = f"[{host}]" if ":" in host else host
        log.info("web: serving on http://%s:%d/", shown, self.port)

    @property
    def port(self) -> int:
        """The bound port; useful when the configured one is 0."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the web server is not running")
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(self.probe.close)

    async def healthz(self, _request: web.Request) -> web.Response:
        problem = await self.health_problem()
        if problem is None:
            return web.Response(text="ok\n", headers=HEADERS)
        return web.Response(status=503, text=f"{problem}\n", headers=HEADERS)

    async def health_problem(self) -> str | None:
        """None when healthy, else a one-line reason. Joins the probe already running, if
        any; one that has outlived its time is not waited for again."""
        if not self.is_running():
            return "the daemon is not running (starting or stopping)"
        loop = asyncio.get_running_loop()
        probing = self._probing
        if probing is None or probing.done() or probing.get_loop() is not loop:
            probing = self._probing = self._start_probe(loop)
            self._probe_deadline = loop.time() + self.health_timeout
        left = self._probe_deadline - loop.time()
        if left <= 0:
            return (
                "database check still running: the database has not answered"
                f" for over {self.health_timeout:g}s"
            )
        try:
            return await asyncio.wait_for(asyncio.shield(probing), left)
        except TimeoutError:
            return f"the database did not answer within {self.health_timeout:g}s"

    def _start_probe(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[str | None]:
        """``probe.problem()`` in a daemon thread: a hung probe neither holds an executor
        thread nor keeps the process from exiting."""
        future: asyncio.Future[str | None] = loop.create_future()

        def run() -> None:
            try:
                outcome: tuple[str | None, BaseException | None] = (self.probe.problem(), None)
            except Exception as exc:
                outcome = (None, exc)
            with suppress(RuntimeError):  # the loop closed while the probe ran: nobody asks
                loop.call_soon_threadsafe(_settle, future, *outcome)

        future.add_done_callback(_retrieved)
        threading.Thread(target=run, name="healthz-probe", daemon=True).start()
        return future

    async def scrape(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self.metrics.scrape)
        headers = {**HEADERS, "Content-Type": CONTENT_TYPE_LATEST}
        return web.Response(body=body, headers=headers)

    async def status_page(self, request: web.Request) -> web.Response:
        sort, direction = request.query.get("sort"), request.query.get("dir")
        try:
            html = await asyncio.to_thread(self._page, sort, direction)
        except (StorageError, SQLAlchemyError) as exc:
            log.warning("web: status page: %s", _reason(exc))
            return web.Response(
                status=503, text=f"status page unavailable: {_reason(exc)}\n", headers=HEADERS
            )
        return web.Response(text=html, content_type="text/html", headers=HEADERS)

    def _page(self, sort: str | None, direction: str | None) -> str:
        return render(build_view(self._gather(), sort, direction))

    def _gather(self) -> PageData:
        """Everything the page shows, read now, under the configuration in force now."""
        app, config = self.app, self.app.config
        now = app.clock.now()
        reader = StatusReader(app.engine)
        password = app.engine.url.password
        return PageData(
            feeds=app.storage.feed_statuses(),
            alerts=Outbox(app.engine, app.storage.instance).alerts(ALERTS_SHOWN),
            hours=reader.rule_hours(chart_since(now)),
            rules=[rule.name for rule in config.rules],
            outbox=reader.outbox_depth(),
            now=now,
            secrets=[*secrets_of(config), *([str(password)] if password else [])],
        )


def _settle(
    future: asyncio.Future[str | None], result: str | None, error: BaseException | None
) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _retrieved(future: asyncio.Future[str | None]) -> None:
    """Marks the probe's error as seen: the request that would have seen it may have gone."""
    if not future.cancelled():
        future.exception()


def _reason(exc: Exception) -> str:
    """One line, without the SQL and its parameters SQLAlchemy would add."""
    if isinstance(exc, SQLAlchemyError):
        text = str(getattr(exc, "orig", None) or type(exc).__name__).strip()
        return f"database error: {text.splitlines()[0] if text else type(exc).__name__}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
