"""A static feed server in a process of its own: aiohttp on several loopback addresses.

    python -m bench.server DIRECTORY [--hosts 20]

Prints one line of JSON, the base URL on each address, then serves until killed.
Feeds spread over several hosts the way real ones are, so the monitor's limit of
two requests at a time per host applies as it would in production. aiohttp's
static files answer conditional GETs (ETag, Last-Modified, 304) like a real server,
and running apart keeps the server's work off the measured process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
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
def started(directory: Path, hosts: int = 20) -> Iterator[list[str]]:
    """Run the server in a child process; yields the base URLs."""
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
