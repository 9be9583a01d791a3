"""Story grouping: is this entry the same story as one already seen from another outlet?

An entry's *signature* is the set of its content words (title and the first
LEAD_WORDS words of its summary or content), prepared like rule text (HTML
removed, NFKC, case-folded) and further folded so that outlets' spelling
habits do not count: accents dropped (``Türkiye``/``Turkiye``), thousands
separators removed (``1,300``/``1300``), stop words and wire boilerplate
dropped, and each word cut to its first STEM_CHARS characters, a crude stem
that makes ``protest``, ``protests`` and ``protesters`` one word in any
language that inflects at the end. Two signatures are the same story when the
Jaccard similarity of their sets reaches THRESHOLD and they share at least
MIN_SHARED words.

The method and THRESHOLD were chosen on a labelled set of 626 pairs
(``tests/data/story_pairs.jsonl``, measured by ``python -m bench.grouping``):
the method with the best F1, at the threshold with the best F0.5, because a
false merge silences an alert while a missed one only sends a second. Text
alone cannot tell every rewrite of a story from a follow-up report on the same
place and topic; MIN_SHARED keeps two short titles from merging on two words. Grouping compares
stories of the last WINDOW only: the caller removes older ones from StoryIndex.

StoryIndex finds the best match among many stories without scanning them: an
inverted index from word to stories, probed with only the query's rarest words
(prefix filtering), which is exact for a Jaccard threshold. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import operator
import re
import struct
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from monitor.matching.text import PreparedEntry, html_to_text, to_display

THRESHOLD = 0.16
# How long a story stays in the index: follow-up reports on the same place and topic
# (the next day's protest, the aftershock two weeks on) are the false merges text alone
# makes; within 48 hours the labelled set has few of them (see bench.grouping).
WINDOW = timedelta(hours=48)
MIN_SHARED = 3
LEAD_WORDS = 60
LEAD_CHARS = 50_000
STEM_CHARS = 5
TOKEN_BYTES = 4
# Reading a few common words' postings too lets the index drop stories that share one
# rare word by chance without looking at them (measured fastest in bench.grouping).
EXTRA_PROBES = 3

# Function words, reporting verbs, weekdays, months and wire boilerplate: they are shared
# by unrelated stories and say nothing about which event a story reports.
STOPWORDS = frozenset(
    """a an the and or but nor so yet of to in on at by for from with without as into onto
    over under after before since until during about above below between among against
    through across along around than then that this these those it its is are was were be
    been being has have had do does did will would shall should can could may might must
    not no only also very just more most less least other some such any all both each
    few many much own same there here up down out off again further once when where which
    who whom whose what why how while if because though although however their they them
    he she his her him we our us you your i me my said says say saying told tells
    according reported reports reporting added monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october
    november december jan feb mar apr jun jul aug sep sept oct nov dec reuters ap afp
    update updated breaking live watch read news""".split()
)
WORD_RE = re.compile(r"\w+(?:[.'’]\w+)*")
THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")
POSSESSIVE_RE = re.compile(r"['’]s$")
# Letters NFKD does not decompose into a base letter and a mark.
LETTER_FOLD = str.maketrans({"ı": "i", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"})


def fold(text: str) -> str:
    """Case-folded ``text`` without accents, so outlets' spellings of a name compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(LETTER_FOLD))
    if decomposed.isascii():  # no marks to drop: 5 us for a 3,000-character lead, not 176
        return decomposed
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str, limit: int | None = None) -> list[str]:
    """The words of an HTML or plain-text field, folded; the first ``limit`` when given."""
    return display_words(to_display(html_to_text(text or "")), limit)


def display_words(display: str, limit: int | None = None) -> list[str]:
    """``words`` of a field's display text (``to_display``'s), as rules are matched on."""
    found = WORD_RE.findall(THOUSANDS_RE.sub("", fold(display)))
    return found[:limit] if limit is not None else found


def story_words(title: str, lead: str) -> list[str]:
    """The title's words followed by the first LEAD_WORDS words of the lead."""
    # A full article can serve as the lead: its first words are near its start, so the
    # rest is not parsed (LEAD_CHARS allows for heavy markup before them).
    return words(title[:LEAD_CHARS]) + words(lead[:LEAD_CHARS], LEAD_WORDS)


def content_stems(tokens: Iterable[str]) -> frozenset[str]:
    """Stop words dropped, possessives removed, each word cut to STEM_CHARS characters."""
    stems = (POSSESSIVE_RE.sub("", token) for token in tokens)
    return frozenset(stem[:STEM_CHARS] for stem in stems if stem and stem not in STOPWORDS)


def lead_of(summary: str, content: str) -> str:
    """The text a story leads with: its summary, or its content when it has none."""
    return summary if summary and summary.strip() else content


def token_hash(stem: str) -> int:
    """A stable 32-bit hash (unlike ``hash()``, the same in every process)."""
    digest = hashlib.blake2b(stem.encode(), digest_size=TOKEN_BYTES).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Signature:
    """An entry's content words as sorted, distinct 32-bit hashes (about 40 for a lead)."""

    tokens: tuple[int, ...]

    def to_bytes(self) -> bytes:
        """Little-endian uint32s, ``TOKEN_BYTES`` per word: what the database stores."""
        return struct.pack(f"<{len(self.tokens)}I", *self.tokens)

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """The signature ``to_bytes`` wrote; ValueError for a length no signature has."""
        if len(data) % TOKEN_BYTES:
            raise ValueError(f"a signature is a multiple of {TOKEN_BYTES} bytes, not {len(data)}")
        return cls(tuple(sorted(set(struct.unpack(f"<{len(data) // TOKEN_BYTES}I", data)))))


def signature(
    title: str, summary: str = "", content: str = "", prepared: PreparedEntry | None = None
) -> Signature:
    """The signature of an entry from its title and lead (summary, else content), HTML or not.

    ``prepared``, the entry's fields as ``prepare_entry`` made them for the rules, saves
    making their display text again: it is the same text wherever the field is within
    LEAD_CHARS (longer, the lead's words are read from its first LEAD_CHARS only)."""
    lead = lead_of(summary, content)
    if prepared is not None and len(title) <= LEAD_CHARS and len(lead) <= LEAD_CHARS:
        fields = prepared.fields
        # the lead's own field (a summary and content that are one string are one text)
        lead_field = fields["summary" if lead is summary else "content"]
        found = display_words(fields["title"].display)
        found += display_words(lead_field.display, LEAD_WORDS)
    else:
        found = story_words(title, lead)
    stems = content_stems(found)
    return Signature(tuple(sorted({token_hash(stem) for stem in stems})))


def similarity(a: Signature, b: Signature) -> float:
    """Jaccard similarity of the two word sets: shared words over all words."""
    shared = len(set(a.tokens).intersection(b.tokens))
    union = len(a.tokens) + len(b.tokens) - shared
    return shared / union if union else 0.0


def matches(shared: int, size_a: int, size_b: int) -> bool:
    """The grouping rule on set sizes: enough shared words, and enough of all words."""
    union = size_a + size_b - shared
    return shared >= MIN_SHARED and shared >= THRESHOLD * union


def same_story(a: Signature, b: Signature) -> bool:
    """Whether two entries report the same story (see the module docstring for the rule)."""
    shared = len(set(a.tokens).intersection(b.tokens))
    return matches(shared, len(a.tokens), len(b.tokens))


class StoryIndex:
    """Recent stories' signatures, searchable for the best same-story match.

    Every word maps to the stories that have it. A query of ``n`` indexed words
    needs ``need = max(MIN_SHARED, ceil(THRESHOLD * n))`` shared words to match
    (Jaccard >= THRESHOLD implies sharing that share of the query), so a match
    holds at least ``EXTRA_PROBES + 1`` of the query's ``n - need + 1 + EXTRA_PROBES``
    rarest words (prefix filtering). Only those posting lists are read; stories
    with fewer hits are dropped unseen, and the rest are checked exactly against
    the query's remaining, commonest words. Rarity is counted live, so the day's
    common words ("killed", "election") are the ones skipped. The answer is
    exactly that of comparing the query with every story.
    """

    def __init__(self) -> None:
        self._stories: dict[int, frozenset[int]] = {}
        self._postings: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._stories

    def add(self, story_id: int, sig: Signature) -> None:
        """Index ``sig`` under ``story_id`` (replacing what that id had)."""
        self.remove(story_id)
        tokens = frozenset(sig.tokens)
        self._stories[story_id] = tokens
        for token in tokens:
            self._postings.setdefault(token, set()).add(story_id)

    def remove(self, story_id: int) -> None:
        """Forget a story (one that aged out); unknown ids are ignored."""
        for token in self._stories.pop(story_id, ()):
            posting = self._postings[token]
            posting.discard(story_id)
            if not posting:
                del self._postings[token]

    def rename(self, old: int, new: int) -> None:
        """Index what ``old`` had under ``new`` instead (nothing when ``old`` is not indexed)."""
        tokens = self._stories.pop(old, None)
        if tokens is None:
            return
        self.remove(new)
        self._stories[new] = tokens
        for token in tokens:
            posting = self._postings[token]
            posting.discard(old)
            posting.add(new)

    def find(self, sig: Signature, skip: Callable[[int], bool] | None = None) -> int | None:
        """The id of the most similar indexed story that is the same story, else ``None``;
        stories for which ``skip(story_id)`` is true are passed over.

        Ties go to the lowest id, the story seen first.
        """
        return self.nearest(sig, skip)[0]

    def nearest(
        self, sig: Signature, skip: Callable[[int], bool] | None = None
    ) -> tuple[int | None, bool]:
        """``find(sig, skip)``, and whether any indexed story is the same story, passed
        over or not: both from one look at the index."""
        size = len(sig.tokens)
        best: tuple[float, int] | None = None
        alike = False
        for story_id, shared in self._overlaps(sig).items():
            other = len(self._stories[story_id])
            if not matches(shared, size, other):
                continue
            alike = True
            if skip is not None and skip(story_id):
                continue
            score = shared / (size + other - shared)
            if best is None or (score, -story_id) > (best[0], -best[1]):
                best = (score, story_id)
        return (None if best is None else best[1]), alike

    def _overlaps(self, sig: Signature) -> dict[int, int]:
        """Shared-word counts of every story that can match ``sig`` (and maybe a few more)."""
        indexed = [token for token in sig.tokens if token in self._postings]
        indexed.sort(key=lambda token: len(self._postings[token]))
        need = max(MIN_SHARED, math.ceil(THRESHOLD * len(sig.tokens)))
        if len(indexed) < need:
            return {}
        probed = min(len(indexed), len(indexed) - need + 1 + EXTRA_PROBES)
        hits: Counter[int] = Counter()
        for token in indexed[:probed]:
            hits.update(self._postings[token])
        rest = frozenset(indexed[probed:])
        # Most stories share a word or two by chance: drop them at C speed, not in a loop.
        enough = map(operator.ge, hits.values(), itertools.repeat(need - len(rest)))
        return {
            story_id: hits[story_id] + len(rest & self._stories[story_id])
            for story_id in itertools.compress(hits.keys(), enough)
        }
