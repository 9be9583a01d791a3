"""The collector settles once start-up is done: what start-up made is frozen, the young
generation is collected less often, and cyclic garbage made later is still collected."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from monitor.gctune import YOUNG


def test_settle_freezes_start_up_and_still_collects_later_cycles() -> None:
    # In a process of its own: the collector's settings are the whole process's.
    script = textwrap.dedent(
        """
        import gc, weakref
        from monitor.gctune import YOUNG, settle

        settle()
        frozen = gc.get_freeze_count()

        class Node:
            pass

        node = Node()
        node.self = node  # a cycle: only the collector frees it
        gone = weakref.ref(node)
        del node
        before = gone() is None
        kept = [[] for _ in range(YOUNG + 100)]  # enough new objects for a young collection
        print(frozen, gc.get_threshold()[0], before, gone() is None)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    frozen, young, early, collected = run.stdout.split()
    assert int(frozen) > 1000  # the modules imported by then
    assert int(young) == YOUNG
    assert (early, collected) == ("False", "True")  # the cycle waited, then went
