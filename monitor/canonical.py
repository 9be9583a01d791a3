"""Canonical links: one spelling per story, whatever tracking a feed adds to it.

Scheme and host are lower-cased, default ports and the fragment dropped,
tracking parameters (``utm_*``, ``fbclid``, ``gclid`` and their kin) removed,
the remaining query kept in its order, and a trailing slash on the path
removed (the root path stays ``/``). Pure: no I/O.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "_hs")
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "at_medium",
        "at_campaign",
        "ref_src",
        "smid",
        "s_cid",
        "__twitter_impression",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


@functools.lru_cache(maxsize=4096)
def canonical_link(link: str) -> str | None:
    """The canonical form of an http(s) ``link``, or ``None`` when it is not one.

    Cached: a poll asks for each new entry's several times (its story key, its alerts'),
    and ``urlsplit`` with ``parse_qsl`` is the costly part of each."""
    try:
        parts = urlsplit(link.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port in (None, DEFAULT_PORTS[scheme]) else f"[{host}]:{port}"
    path = parts.path.rstrip("/") or "/"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking(k)
    ]
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))
