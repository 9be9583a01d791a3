"""Story grouping: signatures, the same-story rule, the index, and quality on the labelled set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import grouping
from monitor.grouping import Signature, StoryIndex, same_story, signature, similarity
from monitor.matching.text import prepare_entry

PAIRS = Path(__file__).parent / "data" / "story_pairs.jsonl"

# The figures bench.grouping reports for the shipped rule, rounded down to 2 decimals.
FLOORS = {
    "all": (0.81, 0.76),  # (precision, recall)
    "test": (0.76, 0.72),
}

SEED_TITLE = "Troops, protesters clash in Kazakhstan as US, UN call for 'restraint'"
SEED_LEAD = (
    "At least eight security forces have been killed and over 300 injured so far as violent "
    "protests resume in Kazakhstan's largest city Almaty. Authorities cut internet and mobile "
    "phone access nationwide after a state of emergency was declared."
)
# The seed lead padded with stop words to exactly LEAD_WORDS words.
PADDED = SEED_LEAD + " of" * (grouping.LEAD_WORDS - len(grouping.words(SEED_LEAD)))


@pytest.mark.parametrize(
    ("title", "lead"),
    [
        (SEED_TITLE.upper(), SEED_LEAD.upper()),
        (f"<h1>{SEED_TITLE}</h1>", f"<p>{SEED_LEAD.replace('Almaty', '<b>Almaty</b>')}</p>"),
        (SEED_TITLE.replace(",", "").replace("'", '"'), SEED_LEAD.replace(".", " ;")),
        (SEED_TITLE, SEED_LEAD.replace(" ", "\u00a0").replace("'", "&#8217;")),
        (SEED_TITLE, SEED_LEAD.replace("'", "\u2019")),
        ("  " + SEED_TITLE + "\n", SEED_LEAD.replace(". ", ".\n\n")),
        (SEED_TITLE, PADDED + " words past the first sixty are not read"),
    ],
)
def test_signature_ignores_case_html_punctuation_and_spacing(title: str, lead: str) -> None:
    assert signature(title, lead) == signature(SEED_TITLE, SEED_LEAD)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Erdoğan re-elected president of Türkiye", "Erdogan re-elected president of Turkiye"),
        ("Kılıçdaroğlu concedes", "Kilicdaroglu concedes"),
        ("Death toll passes 1,300", "death toll passes 1300"),
        ("Protesters storm parliament", "protester stormed Parliament"),
        ("Kazakhstan's president", "Kazakhstan president"),
    ],
)
def test_spelling_habits_of_outlets_compare_equal(a: str, b: str) -> None:
    assert signature(a) == signature(b)


@given(st.text() | st.text("aeiouAEIOU ,.-'0123456789"))
def test_fold_drops_marks_and_case_whatever_the_script(text: str) -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(grouping.LETTER_FOLD))
    expected = "".join(char for char in decomposed if not unicodedata.combining(char))
    assert grouping.fold(text) == expected
    assert grouping.fold("Türkiye İstanbul Łódź ÉCOLE") == "turkiye istanbul lodz ecole"


HTMLISH = st.lists(
    st.sampled_from(
        ["Protest", "protests", "Türkiye", "1,300", "\u00a0", " ", "<p>", "</p>", "&amp;", "-"]
    )
    | st.text(max_size=4),
    max_size=80,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(HTMLISH, HTMLISH, HTMLISH, st.integers(0, 2))
def test_a_signature_from_the_prepared_fields_is_the_signature(
    title: str, summary: str, content: str, long: int
) -> None:
    """A parse worker signs an entry from the display text it prepared for the rules: the
    same signature as from the raw fields, a lead past LEAD_CHARS included."""
    if long:  # a lead of which only the first LEAD_CHARS are read
        padding = "<b>x</b>" * (grouping.LEAD_CHARS // 8 + 1)
        summary, content = (padding + summary, content) if long == 1 else ("", padding + content)
    prepared = prepare_entry(title, summary, content)
    assert signature(title, summary, content, prepared) == signature(title, summary, content)


def test_lead_is_the_summary_else_the_content() -> None:
    assert signature(SEED_TITLE, "", SEED_LEAD) == signature(SEED_TITLE, SEED_LEAD)
    assert signature(SEED_TITLE, SEED_LEAD, "other text entirely") == signature(
        SEED_TITLE, SEED_LEAD
    )
    assert signature(SEED_TITLE, " ", SEED_LEAD) == signature(SEED_TITLE, SEED_LEAD)


@pytest.mark.parametrize(
    ("title_a", "lead_a", "title_b", "lead_b", "same"),
    [
        pytest.param(
            SEED_TITLE,
            SEED_LEAD,
            "UPDATE 2-Kazakhstan: security forces killed as Almaty protests resume, internet cut",
            "At least eight members of the security forces have been killed and more than 300 "
            "injured as violent protests resumed in Almaty, Kazakhstan's largest city. Internet "
            "and mobile phone access was cut across the country after a state of emergency.",
            True,
            id="retitled-update-matches",
        ),
        pytest.param(
            SEED_TITLE,
            SEED_LEAD,
            "Relatives of detainees protest in Almaty as Kazakhstan tallies arrests",
            "Several hundred people gathered outside a police building in Almaty on Thursday "
            "demanding information about relatives detained during last week's unrest, in the "
            "first public protest since authorities restored order in Kazakhstan's largest city.",
            False,
            id="different-event-same-city",
        ),
        pytest.param(
            SEED_TITLE,
            SEED_LEAD,
            "Cyclone Remal hits Bangladesh and India, nearly a million evacuated",
            "Cyclone Remal made landfall on the coasts of Bangladesh and India's West Bengal "
            "state on Sunday night, after authorities moved nearly a million people to shelters.",
            False,
            id="unrelated",
        ),
        pytest.param(
            "Earthquake hits Turkey",
            "",
            "Turkey earthquake: aftershock felt",
            "",
            False,
            id="two-short-titles-sharing-two-words",
        ),
        pytest.param(
            "Powerful earthquake kills more than 1,300 in Turkey and Syria",
            "",
            "Powerful earthquake kills more than 1,300 people in Turkey, Syria",
            "",
            True,
            id="near-identical-titles",
        ),
    ],
)
def test_same_story(title_a: str, lead_a: str, title_b: str, lead_b: str, same: bool) -> None:
    a, b = signature(title_a, lead_a), signature(title_b, lead_b)
    assert same_story(a, b) is same
    assert same_story(b, a) is same


def test_similarity_bounds() -> None:
    sig = signature(SEED_TITLE, SEED_LEAD)
    assert similarity(sig, sig) == 1.0
    assert similarity(sig, signature("Cyclone Remal")) == 0.0
    assert similarity(Signature(()), Signature(())) == 0.0
    assert not same_story(Signature(()), Signature(()))


def test_signature_bytes_round_trip() -> None:
    sig = signature(SEED_TITLE, SEED_LEAD)
    data = sig.to_bytes()
    assert len(data) == grouping.TOKEN_BYTES * len(sig.tokens)
    assert 20 <= len(sig.tokens) <= 60
    assert Signature.from_bytes(data) == sig
    assert Signature.from_bytes(b"") == Signature(())


def test_signature_from_bytes_rejects_a_torn_value() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        Signature.from_bytes(b"\x01\x02\x03")


def test_signature_is_stable_across_processes_and_releases() -> None:
    """Stored signatures must compare with new ones: no salted ``hash()``, no silent change."""
    assert signature("Almaty").tokens == (4097089201,)
    assert signature("Almaty, Kazakhstan").to_bytes().hex() == "a3518071b19e34f4"


# --- StoryIndex -------------------------------------------------------------------------

SEED = signature(SEED_TITLE, SEED_LEAD)
REWRITE = signature(
    "Kazakhstan: eight security officers killed as unrest grips Almaty",
    "Eight members of Kazakhstan's security forces have been killed and 317 injured in unrest "
    "over fuel prices, the interior ministry said, as troops fired on protesters in Almaty and "
    "internet access remained cut across the country under a state of emergency.",
)
OTHER = signature(
    "Cyclone Mocha slams into Myanmar and Bangladesh coasts",
    "Cyclone Mocha made landfall near the Bangladesh-Myanmar border on Sunday with winds of up "
    "to 195 km per hour, tearing roofs off buildings in Sittwe.",
)


def test_index_finds_the_same_story_and_not_another() -> None:
    index = StoryIndex()
    index.add(1, SEED)
    index.add(2, OTHER)
    assert same_story(SEED, REWRITE)
    assert index.find(REWRITE) == 1
    assert index.find(signature("Volcano erupts in Iceland after weeks of earthquakes")) is None
    assert len(index) == 2 and 1 in index


def test_index_prefers_the_most_similar_then_the_first_seen() -> None:
    index = StoryIndex()
    index.add(7, REWRITE)
    index.add(3, SEED)
    assert index.find(SEED) == 3  # identical beats a rewrite
    index.add(9, SEED)
    assert index.find(SEED) == 3  # a tie goes to the lower id


def test_index_remove_and_replace() -> None:
    index = StoryIndex()
    index.add(1, SEED)
    index.remove(1)
    index.remove(1)  # unknown ids are ignored
    assert index.find(SEED) is None and len(index) == 0
    assert index._postings == {}  # nothing left behind for 100,000 stories a day to pile up
    index.add(2, SEED)
    index.add(2, OTHER)  # re-adding an id replaces its signature
    assert index.find(SEED) is None
    assert index.find(OTHER) == 2


def test_a_renamed_story_is_found_under_its_new_id_only() -> None:
    index = StoryIndex()
    index.add(1 << 62, SEED)  # a stand-in, until the row's id is known
    index.add(5, OTHER)
    index.rename(1 << 62, 12)
    index.rename(99, 100)  # an id never indexed: nothing happens
    assert index.find(REWRITE) == 12 and len(index) == 2 and (1 << 62) not in index
    assert all((1 << 62) not in posting for posting in index._postings.values())
    index.remove(12)
    assert index.find(REWRITE) is None and index.find(OTHER) == 5


def test_nearest_tells_a_passed_over_look_alike_from_none() -> None:
    index = StoryIndex()
    index.add(1, SEED)
    assert index.nearest(REWRITE) == (1, True)
    assert index.nearest(REWRITE, skip=lambda story: story == 1) == (None, True)
    assert index.nearest(OTHER, skip=lambda story: story == 1) == (None, False)


def test_empty_index_and_empty_signature() -> None:
    index = StoryIndex()
    assert index.find(SEED) is None
    index.add(1, Signature(()))
    index.add(2, SEED)
    assert index.find(Signature(())) is None
    assert index.find(SEED) == 2


def brute_force(stories: dict[int, Signature], sig: Signature) -> int | None:
    found = [(similarity(sig, s), -i) for i, s in stories.items() if same_story(sig, s)]
    return -max(found)[1] if found else None


def test_index_answers_exactly_as_a_scan_of_every_story() -> None:
    """Prefix filtering skips words, never matches: same answers as comparing with all."""
    sides = [row[side] for row in load() for side in ("a", "b")]
    sigs = [signature(s["title"], s["lead"]) for s in sides]
    unique = list(dict.fromkeys(sigs))
    rng = random.Random(3)
    stories = {i: sig for i, sig in enumerate(unique) if rng.random() < 0.5}
    index = StoryIndex()
    for story_id, sig in stories.items():
        index.add(story_id, sig)
    answers = [(index.find(sig), brute_force(stories, sig)) for sig in unique]
    assert all(got == expected for got, expected in answers)
    assert sum(got is not None for got, _ in answers) > len(stories)  # matches were found


# --- quality on the labelled set --------------------------------------------------------


def load() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line]


def test_labelled_set_is_as_described() -> None:
    rows = load()
    same = sum(row["same"] for row in rows)
    assert len(rows) >= 240
    assert 0.4 <= same / len(rows) <= 0.6
    assert sum(row["kind"] == "hard" for row in rows) >= 60
    assert {row["split"] for row in rows} == {"tune", "test"}
    for row in rows:
        assert row["same"] == row["kind"].startswith("same")
        assert row["note"] and all(row[s]["title"] and row[s]["outlet"] for s in ("a", "b"))


def precision_recall(rows: list[dict]) -> tuple[float, float]:
    tp = fp = fn = 0
    for row in rows:
        merged = same_story(*(signature(row[s]["title"], row[s]["lead"]) for s in ("a", "b")))
        tp += merged and row["same"]
        fp += merged and not row["same"]
        fn += row["same"] and not merged
    return tp / (tp + fp), tp / (tp + fn)


@pytest.mark.parametrize("part", sorted(FLOORS))
def test_grouping_quality_does_not_drop(part: str) -> None:
    rows = [row for row in load() if part == "all" or row["split"] == part]
    precision, recall = precision_recall(rows)
    floor_p, floor_r = FLOORS[part]
    assert precision >= floor_p, f"{part}: precision {precision:.3f} < {floor_p}"
    assert recall >= floor_r, f"{part}: recall {recall:.3f} < {floor_r}"
