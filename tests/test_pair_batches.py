"""pair_batches: chunks of (a, b) pairs for ``a IN (...) AND b IN (...)`` index lookups."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.storage.session import pair_batches

PAIRS = st.lists(st.tuples(st.integers(0, 60), st.text("abcdef", max_size=3)), max_size=400)


@given(PAIRS, st.integers(1, 300), st.integers(1, 40))
def test_every_pair_is_asked_in_a_chunk_within_the_bounds(
    pairs: list[tuple[int, str]], probes: int, size: int
) -> None:
    chunks = list(pair_batches(pairs, probes, size))
    asked = [(a, b) for firsts, seconds in chunks for a in firsts for b in seconds]
    assert set(pairs) <= set(asked)
    for firsts, seconds in chunks:
        assert firsts == sorted(set(firsts)) and seconds == sorted(set(seconds))
        assert len(firsts) * len(seconds) <= probes
        assert len(firsts) <= size and len(seconds) <= size


def test_a_batch_of_polls_is_one_chunk_and_many_feeds_are_split() -> None:
    polls = [(feed, f"key-{n}") for feed in range(32) for n in range(40)]  # 32 feeds, 40 keys
    assert [(len(f), len(k)) for f, k in pair_batches(polls)] == [(32, 40)]
    wide = [(feed, f"{feed}-{n}") for feed in range(32) for n in range(40)]  # keys their own
    chunks = list(pair_batches(wide))
    assert len(chunks) > 1 and all(len(f) * len(k) <= 50_000 for f, k in chunks)
    assert sorted(p for f, k in chunks for p in wide if p[0] in f and p[1] in k) == sorted(wide)
    assert list(pair_batches([])) == []
