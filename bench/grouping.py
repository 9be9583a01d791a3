"""Story grouping: which similarity, which threshold, and how fast the index is.

    python -m bench.grouping [--stories 100000] [--queries 10000] [--quick]

Part 1 measures every method considered on the labelled pairs
(``tests/data/story_pairs.jsonl``): precision, recall and F1 over a sweep of
thresholds on the *tune* half, then the method with the best tune F1 and, for
it, the threshold with the best tune F0.5 (precision weighted over recall: a
false merge silences an alert). The *test* half, never used to choose, gives
the figures to believe. It ends with ``monitor.grouping.same_story`` as shipped,
broken down by kind of pair and with a 48-hour recency window.

Part 2 times ``StoryIndex``: adding N synthetic signatures and querying M, beside a
brute-force scan over fewer stories. Synthetic stories draw ~40 words from a
Zipf-distributed vocabulary, so frequent words are shared as in a day of news.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor import grouping
from monitor.grouping import Signature, StoryIndex

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "story_pairs.jsonl"
SWEEP = [round(0.05 * i, 2) for i in range(1, 9)]
FINE = [round(0.01 * i, 2) for i in range(1, 100)]

Features = Callable[[str, str], frozenset[str]]


@dataclass(frozen=True)
class Pair:
    a: dict[str, str]
    b: dict[str, str]
    same: bool
    split: str
    kind: str


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        return self.f(1.0)

    def f(self, beta: float) -> float:
        p, r = self.precision, self.recall
        return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Pair(r["a"], r["b"], r["same"], r["split"], r["kind"]) for r in rows]


def score(decisions: Iterable[tuple[bool, bool]]) -> Scores:
    """Precision and recall of (predicted, actual) decisions; precision 1.0 when none merged."""
    tp = fp = fn = 0
    for predicted, actual in decisions:
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    return Scores(tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 0.0)


# --- the methods considered -------------------------------------------------------------


def shingles(tokens: list[str], k: int) -> frozenset[str]:
    return frozenset(" ".join(tokens[i : i + k]) for i in range(max(1, len(tokens) - k + 1)))


def char_grams(tokens: list[str], n: int) -> frozenset[str]:
    text = " ".join(tokens)
    return frozenset(text[i : i + n] for i in range(max(1, len(text) - n + 1)))


def content(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t not in grouping.STOPWORDS]


def both(title: str, lead: str) -> list[str]:
    return grouping.story_words(title, lead)


def title_stems(title: str, lead: str) -> frozenset[str]:
    return grouping.content_stems(grouping.words(title))


def lead_stems(title: str, lead: str) -> frozenset[str]:
    return grouping.content_stems(grouping.words(lead, grouping.LEAD_WORDS))


def stems_and_bigrams(title: str, lead: str) -> frozenset[str]:
    tokens = both(title, lead)
    return grouping.content_stems(tokens) | shingles(content(tokens), 2)


def on_words(make: Callable[[list[str]], frozenset[str]]) -> Features:
    """A method from a function of the title-and-lead words."""
    return lambda title, lead: make(both(title, lead))


METHODS: dict[str, Features] = {
    "words, title+lead": on_words(frozenset),
    "content words, title+lead": on_words(lambda ws: frozenset(content(ws))),
    "content stems, title+lead": on_words(grouping.content_stems),
    "content stems, title only": title_stems,
    "content stems, lead only": lead_stems,
    "word 2-shingles": on_words(lambda ws: shingles(ws, 2)),
    "word 3-shingles": on_words(lambda ws: shingles(ws, 3)),
    "content 2-shingles": on_words(lambda ws: shingles(content(ws), 2)),
    "char 4-grams": on_words(lambda ws: char_grams(ws, 4)),
    "char 5-grams": on_words(lambda ws: char_grams(ws, 5)),
    "stems + stem bigrams": stems_and_bigrams,
}


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def minhash(features: frozenset[str], perms: int) -> tuple[int, ...]:
    """A plain MinHash (universal hashing mod 2^61-1), to measure what approximation costs."""
    prime, rng = (1 << 61) - 1, random.Random(1)
    coeffs = [(rng.randrange(1, prime), rng.randrange(prime)) for _ in range(perms)]
    hashes = [grouping.token_hash(f) for f in features] or [0]
    return tuple(min((a * h + b) % prime for h in hashes) for a, b in coeffs)


def minhash_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def similarities(pairs: list[Pair], method: str) -> list[float]:
    """Each pair's similarity under ``method`` (a METHODS name, or "minhash-K of <name>")."""
    base = method.split(" of ", 1)[1] if method.startswith("minhash") else method
    cache: dict[tuple[str, str], frozenset[str]] = {}

    def features(side: dict[str, str]) -> frozenset[str]:
        key = (side["title"], side["lead"])
        if key not in cache:
            cache[key] = METHODS[base](*key)
        return cache[key]

    if base == method:
        return [jaccard(features(p.a), features(p.b)) for p in pairs]
    perms = int(method.split()[0].split("-")[1])
    return [
        minhash_similarity(minhash(features(p.a), perms), minhash(features(p.b), perms))
        for p in pairs
    ]


def at(sims: list[float], pairs: list[Pair], threshold: float) -> Scores:
    return score((s >= threshold, p.same) for s, p in zip(sims, pairs, strict=True))


def best(sims: list[float], pairs: list[Pair], beta: float) -> float:
    """The fine-grid threshold with the best F-beta (ties: the higher threshold)."""
    return max(FINE, key=lambda t: (at(sims, pairs, t).f(beta), t))


# --- part 1: quality --------------------------------------------------------------------


def fmt(s: Scores) -> str:
    return f"P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}"


def cell(s: Scores) -> str:
    return f"{s.precision:.2f}/{s.recall:.2f}/{s.f1:.2f}".replace("0.", ".")


def quality(pairs: list[Pair], quick: bool) -> None:
    tune = [p for p in pairs if p.split == "tune"]
    test = [p for p in pairs if p.split == "test"]
    print(
        f"labelled pairs: {len(pairs)} ({sum(p.same for p in pairs)} same); "
        f"tune {len(tune)}, test {len(test)}"
    )
    methods = [*METHODS, *(f"minhash-{k} of content stems, title+lead" for k in (64, 128))]
    results: dict[str, tuple[float, Scores, Scores, float]] = {}
    if not quick:
        print("\nsweep on the tune half, P/R/F1 at thresholds " + " ".join(map(str, SWEEP)))
    for method in methods:
        sims = {"tune": similarities(tune, method), "test": similarities(test, method)}
        if not quick:
            print(f"  {method:42s}" + " ".join(cell(at(sims["tune"], tune, t)) for t in SWEEP))
        t1, t05 = best(sims["tune"], tune, 1.0), best(sims["tune"], tune, 0.5)
        results[method] = (t1, at(sims["tune"], tune, t1), at(sims["test"], test, t1), t05)
    print("\nper method, at the tune half's best-F1 threshold:")
    for method, (t1, on_tune, on_test, _) in results.items():
        print(f"  {method:42s} t={t1:.2f}  tune {fmt(on_tune)}  test {fmt(on_test)}")
    # MinHash rows only show what approximating costs: exact sets are small enough to store.
    chosen = max(METHODS, key=lambda m: results[m][1].f1)
    threshold = results[chosen][3]
    print(
        f"\nchosen: {chosen!r} (best tune F1 of the exact methods); threshold "
        f"{threshold:.2f} (best tune F0.5); shipped THRESHOLD = {grouping.THRESHOLD}"
    )
    chosen_sweep(chosen, tune, test)
    shipped(pairs, tune, test)


def chosen_sweep(method: str, tune: list[Pair], test: list[Pair]) -> None:
    sims_tune, sims_test = similarities(tune, method), similarities(test, method)
    print(f"sweep of {method!r}:")
    for t in [round(0.02 * i, 2) for i in range(3, 18)]:
        print(
            f"  t={t:.2f}  tune {fmt(at(sims_tune, tune, t))}  test {fmt(at(sims_test, test, t))}"
        )


def decide(pair: Pair) -> bool:
    return grouping.same_story(signature_of(pair.a), signature_of(pair.b))


def signature_of(side: dict[str, str]) -> Signature:
    return grouping.signature(side["title"], side["lead"])


def within_window(pair: Pair) -> bool:
    a, b = (datetime.fromisoformat(s["published"]) for s in (pair.a, pair.b))
    return abs(a - b) <= grouping.WINDOW


def shipped(pairs: list[Pair], tune: list[Pair], test: list[Pair]) -> None:
    """``same_story`` as shipped: overall, by kind of pair, and with a recency window."""
    print(
        f"\nshipped same_story: Jaccard >= {grouping.THRESHOLD} and >= "
        f"{grouping.MIN_SHARED} shared words"
    )
    for name, subset in (("all", pairs), ("tune", tune), ("test", test)):
        print(f"  {name:5s} {fmt(score((decide(p), p.same) for p in subset))}")
    print("  by kind (share of pairs merged):")
    for kind in sorted({p.kind for p in pairs}):
        subset = [p for p in pairs if p.kind == kind]
        merged = sum(decide(p) for p in subset)
        print(f"    {kind:16s} {merged:3d}/{len(subset):3d} = {merged / len(subset):.3f}")
    windowed = score((decide(p) and within_window(p), p.same) for p in pairs)
    close = sum(within_window(p) and not p.same for p in pairs)
    hours = grouping.WINDOW.total_seconds() / 3600
    print(
        f"  with a {hours:.0f}h window ({close} different-story pairs inside it): {fmt(windowed)}"
    )


# --- part 2: index speed ----------------------------------------------------------------


def synthetic(count: int, rng: random.Random, vocabulary: int = 60_000) -> list[Signature]:
    """``count`` signatures of ~40 words drawn from a Zipf (1/rank) vocabulary."""
    ranks = range(1, vocabulary + 1)
    weights = [1 / (r + 100) for r in ranks]  # + 100: stop words are already gone
    words = rng.choices(ranks, weights=weights, k=count * 40)
    return [
        Signature(tuple(sorted({_word_hash(w) for w in words[i * 40 : (i + 1) * 40]})))
        for i in range(count)
    ]


def _word_hash(rank: int) -> int:
    return int.from_bytes(
        hashlib.blake2b(rank.to_bytes(4, "little"), digest_size=4).digest(), "little"
    )


def rewrite(sig: Signature, rng: random.Random, vocabulary: list[int]) -> Signature:
    """Another outlet's version: a third of the words replaced."""
    kept = [t for t in sig.tokens if rng.random() > 0.33]
    new = rng.sample(vocabulary, len(sig.tokens) - len(kept))
    return Signature(tuple(sorted(set(kept) | set(new))))


def brute_force(stories: dict[int, Signature], sig: Signature) -> int | None:
    found = [
        (grouping.similarity(sig, s), -i) for i, s in stories.items() if grouping.same_story(sig, s)
    ]
    return -max(found)[1] if found else None


def speed(stories: int, queries: int) -> None:
    rng = random.Random(7)
    print(
        f"\nStoryIndex: {stories:,} synthetic stories, {queries:,} queries "
        "(half rewrites of indexed stories, half new)"
    )
    sigs = synthetic(stories, rng)
    vocabulary = sorted({t for s in sigs[:2000] for t in s.tokens})
    probe = [rewrite(rng.choice(sigs), rng, vocabulary) for _ in range(queries // 2)]
    probe += synthetic(queries - len(probe), rng)
    per_query = time_index(sigs, probe)
    compare_with_scan(sigs[:10_000], probe, stories, per_query)


def time_index(sigs: list[Signature], probe: list[Signature]) -> float:
    """Prints the time to add ``sigs`` and to find each of ``probe``; returns s per query."""
    index = StoryIndex()
    start = time.perf_counter()
    for story_id, sig in enumerate(sigs):
        index.add(story_id, sig)
    added = time.perf_counter() - start
    start = time.perf_counter()
    hits = sum(index.find(sig) is not None for sig in probe)
    found = time.perf_counter() - start
    print(
        f"  add {len(sigs):,}: {added:.2f}s ({added / len(sigs) * 1e6:.1f} us each); "
        f"find {len(probe):,}: {found:.2f}s ({found / len(probe) * 1e6:.0f} us each), "
        f"{hits:,} matched"
    )
    return found / len(probe)


def compare_with_scan(
    few: list[Signature], probe: list[Signature], stories: int, per_query: float
) -> None:
    """A brute-force scan of ``few`` stories beside the index over them, answers compared."""
    table = dict(enumerate(few))
    index = StoryIndex()
    for story_id, sig in table.items():
        index.add(story_id, sig)
    sample = probe[:: max(1, len(probe) // 500)][:500]
    start = time.perf_counter()
    expected = [brute_force(table, sig) for sig in sample]
    brute = (time.perf_counter() - start) / len(sample)
    start = time.perf_counter()
    got = [index.find(sig) for sig in sample]
    indexed = (time.perf_counter() - start) / len(sample)
    print(
        f"  brute-force scan of {len(few):,}: {brute * 1e6:.0f} us/query; index over the same: "
        f"{indexed * 1e6:.0f} us/query (x{brute / indexed:.0f}); same answers: {got == expected}"
    )
    scan = brute * stories / len(few)  # a scan's cost grows with the stories it reads
    print(
        f"  over {stories:,}: index {per_query * 1e6:.0f} us/query; a scan, extrapolated, "
        f"{scan * 1e3:.0f} ms/query (x{scan / per_query:.0f})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grouping", description=__doc__)
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="no sweeps; 5,000 stories")
    args = parser.parse_args(argv)
    quality(load_pairs(), args.quick)
    if args.quick:
        args.stories, args.queries = 5_000, 500
    speed(args.stories, args.queries)


if __name__ == "__main__":
    main()
