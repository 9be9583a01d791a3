"""The cyclic garbage collector set for a process that polls for months.

Nearly everything a poll allocates is freed by reference counting the moment it is
done with; the collector is for the rare cycle. CPython's defaults suit short scripts
and cost a poller dearly: a young-generation collection every 700 allocations, and
full collections that walk the 130,000 objects start-up leaves behind (modules,
classes, the configuration, SQLAlchemy's metadata), none of which will ever be
garbage. In a pass over 2,000 feeds, 10% changed, the main process spent 0.37 s of
its 2.8 s of CPU collecting (``python -m bench`` rows 2 and 3).

``settle`` is called once start-up is done: what exists then is moved out of the
collector's way for good (``gc.freeze``), and the young generation is collected every
YOUNG allocations. Cycles are still collected, a little later: 10,000 objects at most
wait, a few MB.
"""

from __future__ import annotations

import gc

YOUNG = 10_000  # net allocations of tracked objects between young collections (default 700)


def settle() -> None:
    """Start-up is over: keep the collector off what it left, and collect young objects
    less often. Call once per process, after imports and configuration."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
