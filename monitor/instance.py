"""The name of this monitor process, recorded on what it claims and handles.

``MONITOR_INSTANCE`` names it; else host name and process id, unique while it
runs, so two processes never mistake each other's claims for their own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def instance_name(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (env.get("MONITOR_INSTANCE") or "").strip()[:200] or (
        f"{socket.gethostname()}:{os.getpid()}"
    )
