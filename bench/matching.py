"""Matching throughput for 10, 1,000 and 10,000 rules, beside a naive regex-per-rule loop.

    python -m bench.matching [--entries 400] [--quick]

Every row is measured in the same run, on the same entries (news paragraphs
from the seed report, as HTML, some carrying rule phrases). "monitor" is the
whole per-entry path: HTML to text, normalization, one automaton pass and the
evaluation of every rule that has a hit. "naive" is what many tools do: one
compiled case-insensitive regular expression per rule, tried in turn on the
text (HTML already stripped, so the baseline is flattered, not handicapped).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable

from bench.feeds import WORDS, paragraphs
from monitor.matching.matcher import Matcher, RuleSpec
from monitor.matching.query import any_of, parse_query
from monitor.matching.text import html_to_text, prepare_entry

SIZES = (10, 1_000, 10_000)


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    """Made-up words with the shape of news vocabulary, so rules rarely match by chance."""
    stems = sorted(
        {w.lower().strip(".,'\"()") for p in paragraphs() for w in p.split()} | set(WORDS)
    )
    suffixes = ["", "s", "ed", "ing", "er", "ist", "ity", "ation", "ism", "ward"]
    words = {
        rng.choice(stems) + rng.choice(suffixes) + rng.choice(["", "o", "ix", "an"])
        for _ in range(size * 2)
    }
    seen = {w.lower() for p in paragraphs() for w in re.findall(r"\w+", p)}
    return sorted(w for w in words if w.isalpha() and w not in seen)[:size]


def make_rules(count: int, rng: random.Random) -> list[tuple[str, list[str], str | None]]:
    """``count`` rules: mostly ``any`` lists of 1-3 word phrases, every fourth a query."""
    vocab = vocabulary(rng)
    rules = []
    for i in range(count):
        phrases = [" ".join(rng.sample(vocab, rng.randint(1, 3))) for _ in range(3)]
        if i == 0:
            phrases[0] = "state of emergency"
        query = None
        if i % 4 == 3:
            a, b, c = rng.sample(vocab, 3)
            query = f'"{phrases[0]}" OR ({a} NEAR/3 ({b} OR {c}*))'
        rules.append((f"r{i}", phrases, query))
    return rules


def make_entries(count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    paras = paragraphs()
    entries = []
    for i in range(count):
        chosen = rng.sample(paras, min(len(paras), rng.randint(2, 6)))
        content = "".join(f"<p>{p}</p>" for p in chosen) if i % 2 == 0 else ""
        entries.append((chosen[0][:90], f"<p>{chosen[-1]}</p>", content))
    return entries


def monitor_matcher(
    rules: list[tuple[str, list[str], str | None]],
) -> Callable[[tuple[str, str, str]], int]:
    specs = [
        RuleSpec(name, parse_query(query) if query else any_of(phrases))
        for name, phrases, query in rules
    ]
    matcher = Matcher(specs)
    return lambda e: len(matcher.match(prepare_entry(*e)))


def naive_matcher(
    rules: list[tuple[str, list[str], str | None]],
) -> Callable[[tuple[str, str, str]], int]:
    patterns = [
        re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b", re.I)
        for _, phrases, _ in rules
    ]

    def run(entry: tuple[str, str, str]) -> int:
        text = " ".join(html_to_text(part) for part in entry)
        return sum(1 for p in patterns if p.search(text))

    return run


def throughput(
    fn: Callable[[tuple[str, str, str]], int],
    entries: list[tuple[str, str, str]],
    min_seconds: float,
) -> tuple[float, float]:
    """(MB/s of entry text, microseconds per entry), repeating until ``min_seconds`` passed."""
    size = sum(len(part.encode()) for e in entries for part in e)
    done, start = 0, time.perf_counter()
    while True:
        for entry in entries:
            fn(entry)
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    return size * done / elapsed / 1e6, elapsed / (done * len(entries)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time per row")
    parser.add_argument("--quick", action="store_true", help="fewer entries, shorter rows")
    args = parser.parse_args()
    rng = random.Random(7)
    count = 60 if args.quick else args.entries
    entries = make_entries(count, rng)
    seconds = 0.3 if args.quick else args.seconds
    size = sum(len(p.encode()) for e in entries for p in e)
    print(f"{count} entries, {size / 1e6:.2f} MB of HTML, seed report paragraphs")
    print(
        f"{'rules':>7}{'monitor MB/s':>14}{'us/entry':>10}{'naive MB/s':>12}{'us/entry':>10}"
        f"{'speed-up':>10}"
    )
    per_entry = {}
    for n in SIZES:
        rules = make_rules(n, random.Random(n))
        ours_mb, ours_us = throughput(monitor_matcher(rules), entries, seconds)
        naive_entries = entries if n <= 1_000 else entries[: max(10, count // 10)]
        naive_mb, naive_us = throughput(naive_matcher(rules), naive_entries, seconds)
        per_entry[n] = ours_us
        print(
            f"{n:>7}{ours_mb:>14.2f}{ours_us:>10.0f}{naive_mb:>12.2f}{naive_us:>10.0f}"
            f"{naive_us / ours_us:>9.1f}x"
        )
    ratio = per_entry[SIZES[-1]] / per_entry[SIZES[0]]
    print(f"cost per entry, {SIZES[-1]:,} rules / {SIZES[0]} rules: {ratio:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
