"""A static feed server in a process of its own, on several loopback addresses: nginx when
it is installed, else aiohttp.

    python -m bench.server DIRECTORY [--hosts 20]   (the aiohttp server)

Feeds spread over several hosts the way real ones are, so the monitor's limit of
two requests at a time per host applies as it would in production. Both answer
conditional GETs (ETag, Last-Modified, 304) like a real server, and running apart
keeps the server's work off the measured processes. nginx is preferred: aiohttp's
static handler costs about 0.8 ms of Python a request, and on two cores that
server's time would bound every tool's unchanged pass (1,200 requests/s against
3,300 from nginx, measured with a bare aiohttp client).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web


async def serve(directory: Path, hosts: int) -> None:
    app = web.Application()
    app.router.add_static("/", str(directory))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    bases = []
    for i in range(hosts):
        site = web.TCPSite(runner, f"127.0.0.{i + 1}", 0, backlog=1024)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        host, port = server.sockets[0].getsockname()[:2]
        bases.append(f"http://{host}:{port}")
    print(json.dumps(bases), flush=True)
    await asyncio.Event().wait()


@contextmanager
def started(directory: Path, hosts: int = 20) -> Iterator[tuple[str, list[str]]]:
    """Run the server in a child process; yields its name and the base URLs."""
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).exists()), None
    )
    if nginx:
        with _nginx(nginx, directory, hosts) as bases:
            yield "nginx", bases
        return
    with _aiohttp(directory, hosts) as bases:
        yield "aiohttp", bases


@contextmanager
def _nginx(binary: str, directory: Path, hosts: int) -> Iterator[list[str]]:
    """nginx with one worker (the other core is the client's) serving ``directory``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bases, listens = [], []
        for i in range(hosts):
            host = f"127.0.0.{i + 1}"
            port = _free_port(host)
            bases.append(f"http://{host}:{port}")
            listens.append(f"listen {host}:{port} backlog=1024;")
        temps = " ".join(
            f"{kind}_temp_path {root}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (root / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")  # else workers cannot read tmp
            + f"worker_processes 1; daemon off; pid {root}/nginx.pid;\n"
            f"error_log {root}/error.log warn;\n"
            "events { worker_connections 4096; }\n"
            f"http {{ access_log off; sendfile on; keepalive_requests 100000; {temps}\n"
            "  types { application/rss+xml xml; }\n"
            f"  server {{ {' '.join(listens)} root {directory.resolve()}; }} }}\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "NGINX"}  # NGINX: inherited sockets
        proc = subprocess.Popen(
            [binary, "-c", str(root / "nginx.conf"), "-p", str(root)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(bases[-1], proc)
            yield bases
        finally:
            proc.terminate()
            proc.wait(10)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_listening(base: str, proc: subprocess.Popen[bytes]) -> None:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.1):
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")


@contextmanager
def _aiohttp(directory: Path, hosts: int) -> Iterator[list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.server", str(directory), "--hosts", str(hosts)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--hosts", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(serve(args.directory, args.hosts))


if __name__ == "__main__":
    main()
