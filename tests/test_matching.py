"""The matcher, table-driven: the contract's Matching examples and our own cases."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import QueryError
from monitor.matching.matcher import Matcher, RuleSpec
from monitor.matching.query import any_of, parse_query
from monitor.matching.snippet import highlight, make_snippet
from monitor.matching.text import (
    BLOCK_RE,
    BLOCK_SPACE,
    BLOCK_TAGS,
    FOLD_RE,
    INVISIBLE_RE,
    MARK,
    MAX_PARSED_TAGS,
    html_to_text,
    mark_words,
    normalize,
    normalize_with_offsets,
    prepare_entry,
    to_display,
)


def matches(
    query: str, title: str = "", summary: str = "", content: str = "", article: str = ""
) -> bool:
    matcher = Matcher([RuleSpec("r", parse_query(query))])
    return bool(matcher.match(prepare_entry(title, summary, content, article)))


def any_matches(phrases: list[str], text: str) -> bool:
    matcher = Matcher([RuleSpec("r", any_of(phrases))])
    return bool(matcher.match(prepare_entry("", text, "")))


CONTRACT = [
    ('"state of emergency"', "State-of-Emergency", True),
    ('"state of emergency"', "state of <b>emergency</b>", True),
    ('"state of emergency"', "STATE OF\u00a0EMERGENCY", True),
    ('"state of emergency"', "statement of emergency", False),
    ("internet", "internetwork", False),
    ("internet NEAR/3 (shutdown OR cut OR blocked)", "they cut the internet", True),
    ('"internet blackout" OR (internet NEAR/3 cut)', "an Internet blackout began", True),
    ("a and b", "a b", False),  # lower-case and is a word: "and" must occur
    ("a and b", "a and b", True),
]

OWN = [
    # word boundaries
    ("protest", "protests grew", False),
    ("protest", "a protest.", True),
    ("protest", "(protest)", True),
    ("protest", "counterprotest", False),
    ("protest", "protest_camp", False),
    ("covid", "covid-19 cases", True),
    ('"covid-19"', "COVID 19 cases", True),
    ('"covid-19"', "covid19 cases", False),
    # HTML split across tags, entities, markup
    ('"state of emergency"', "<p>state of</p><p>emergency</p>", True),
    ("emergency", "emer<b>gency</b>", True),
    ("emergency", "emer</p><p>gency", False),
    ('"at&t"', "AT&amp;T outage", True),
    ('"rock & roll"', "rock &amp; roll", True),
    ("curfew", "<script>curfew</script>nothing here", False),
    ("curfew", "<a href='curfew'>link</a>", False),
    ("curfew", "&lt;curfew&gt;", True),
    # punctuation inside and around phrases
    ('"U.S. troops"', "U.S. troops withdrew", True),
    ('"U.S. troops"', "US troops withdrew", False),
    ('"state of emergency"', "a state of emergency, said", True),
    ('"state of emergency"', "state, of emergency", False),
    ('"#MeToo"', "the #metoo movement", True),
    # whitespace and hyphens fold between words only
    ('"martial law"', "martial\n\t law", True),
    ('"martial law"', "martial - law", True),
    ('"martial law"', "martial\u2010law", True),
    ('"martial law"', "martiallaw", False),
    # NEAR: both orders, at the limit, beyond it
    ("internet NEAR/3 cut", "internet was cut", True),
    ("internet NEAR/3 cut", "cut off the internet", True),
    ("internet NEAR/3 cut", "internet service was completely cut", True),
    ("internet NEAR/3 cut", "internet service was completely and totally cut", False),
    ("internet NEAR/0 cut", "internet cut", True),
    ("internet NEAR/0 cut", "internet was cut", False),
    ('"internet access" NEAR/2 blocked', "blocked all internet access", True),
    (
        "internet NEAR/3 cut",
        "internet went down. Elsewhere, in another story, power was cut",
        False,
    ),
    ("title:internet NEAR/3 cut", "internet cut", False),  # scope: title only, text in summary
    # NOT
    ("protest NOT sport", "protest in the capital", True),
    ("protest NOT sport", "protest at the sport stadium", False),
    ("protest AND NOT (football OR sport)", "football protest", False),
    ("NOT sport protest", "protest", True),
    # prefixes
    ("protest*", "protesters gathered", True),
    ("protest*", "counterprotesters gathered", False),
    ("evacu*", "Evacuations ordered", True),
    ('"state of" emerg*', "state of emergency", True),
    # OR, AND, parentheses
    ("curfew OR lockdown", "a lockdown", True),
    ("curfew lockdown", "a lockdown", False),
    ("curfew AND lockdown", "lockdown and curfew", True),
    ("(curfew OR lockdown) army", "army enforces curfew", True),
    ("(curfew OR lockdown) army", "police enforce curfew", False),
    # Unicode
    ("straße", "STRASSE closed", True),
    ("ﬁre", "fire in the building", True),  # NFKC: the ligature is "fi"
    ("Κρίση", "ΚΡΊΣΗ στην Αθήνα", True),
    ("кризис", "Кризис в регионе", True),
    ('"حالة الطوارئ"', "أعلنت الحكومة حالة الطوارئ اليوم", True),
    ("東京", "東京で地震", False),  # no spaces in Japanese: whole-word matching cannot split it
    ("emergency", "emer\u00adgency", True),  # soft hyphen
    ("emergency", "e\u200bmergency", True),  # zero-width space
    ("café", "Cafe\u0301 closed", True),  # combining accent composed by NFKC
]


@pytest.mark.parametrize(("query", "text", "expected"), CONTRACT + OWN)
def test_query_cases(query: str, text: str, expected: bool) -> None:
    assert matches(query, summary=text) is expected


def test_at_least_forty_own_cases() -> None:
    assert len(OWN) >= 40
    assert {e for _, _, e in OWN} == {True, False}


@pytest.mark.parametrize(
    ("phrases", "text", "expected"),
    [
        (["state of emergency", "martial law"], "Army imposes MARTIAL LAW", True),
        (["state of emergency", "martial law"], "the lawful martial arts", False),
        (["AND", "OR"], "this OR that", True),  # any: phrases are literal, not operators
        (['"quoted"'], "a quoted word", True),
    ],
)
def test_any_lists(phrases: list[str], text: str, expected: bool) -> None:
    assert any_matches(phrases, text) is expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("title:curfew", "title"),
        ("summary:curfew", "summary"),
        ("content:curfew", "content"),
        ("article:curfew", "article"),
    ],
)
def test_field_scopes(query: str, field: str) -> None:
    for where in ("title", "summary", "content", "article"):
        kwargs = {where: "a curfew tonight"}
        assert matches(query, **kwargs) is (where == field)


def test_scope_on_a_group() -> None:
    assert matches('title:("martial law" OR curfew)', title="Curfew declared", summary="x")
    assert not matches('title:("martial law" OR curfew)', title="x", summary="curfew")


ARTICLE = [
    # the linked page's text (fetch_articles): a fourth field, scoped with article:
    ('article:"internet blackout"', {"article": "<p>An internet blackout began.</p>"}, True),
    ('article:"internet blackout"', {"summary": "An internet blackout began."}, False),
    ('article:"internet blackout"', {"content": "An internet blackout began."}, False),
    ('"internet blackout"', {"article": "An Internet-Blackout began."}, True),  # unscoped
    ("internet NEAR/3 cut", {"summary": "internet", "article": "was cut"}, False),  # one field
    ("internet NEAR/3 cut", {"article": "they cut the internet"}, True),
    ("curfew AND article:blackout", {"title": "Curfew", "article": "a blackout"}, True),
    ("curfew NOT article:sport", {"summary": "curfew", "article": "the sport"}, False),
    ("curfew NOT article:sport", {"summary": "curfew", "content": "the sport"}, True),
    ('title:curfew OR article:"martial law"', {"article": "martial law declared"}, True),
]


@pytest.mark.parametrize(("query", "fields", "expected"), ARTICLE)
def test_article_field(query: str, fields: dict[str, str], expected: bool) -> None:
    assert matches(query, **fields) is expected


def test_any_phrases_match_the_article() -> None:
    matcher = Matcher([RuleSpec("r", any_of(["martial law"]))])
    assert matcher.match(prepare_entry("Curfew", "troops deployed", "", "Martial law declared"))


@pytest.mark.parametrize(
    ("summary", "field", "snippet_starts"),
    [
        ("Troops deployed in the capital.", "article", "…"),  # only in the article: its snippet
        ("An internet blackout began.", "summary", "An"),  # the feed's own text comes first
    ],
)
def test_snippet_from_the_article_only_when_the_match_is_only_there(
    summary: str, field: str, snippet_starts: str
) -> None:
    article = "word " * 80 + "Then an internet blackout began across the country. " + "tail " * 80
    matcher = Matcher([RuleSpec("r", parse_query('"internet blackout"'))])
    (match,) = matcher.match(prepare_entry("Unrest", summary, "", article))
    assert match.field == field
    assert match.snippet.startswith(snippet_starts)
    assert "internet blackout" in match.snippet


@pytest.mark.parametrize(
    ("query", "reason", "column"),
    [
        ("", "empty query", 1),
        ("(a OR b", "unbalanced parenthesis", 1),
        ("a OR b)", "unbalanced parenthesis", 7),
        ('"internet blackout" OR (internet NEAR/3 (cut OR blocked)', "unbalanced parenthesis", 24),
        ('"open', "unterminated quote", 1),
        ('""', "empty phrase", 1),
        ("a OR", "OR needs a term after it", 3),
        ("OR a", "OR needs a term before it", 1),
        ("a AND", "AND needs a term after it", 3),
        ("NOT", "NOT needs a term after it", 1),
        ("NOT a", "a query needs at least one term that is not negated", 1),
        ("a OR NOT b", "a query needs at least one term that is not negated", 1),
        ("a NEAR b", "NEAR needs a distance in words, as in NEAR/5", 3),
        ("a NEAR/3", "NEAR needs a term after it", 3),
        ("(a AND b) NEAR/3 c", "NEAR joins words, phrases or OR groups", 11),
        ("titel:x", "unknown field 'titel' (use title, summary, content, article)", 1),
        ("title:(summary:x)", "a field scope inside another field scope", 8),
        ("title:", "field title: needs a term after it", 1),
        ("pro*test", "* is allowed only at the end of a word", 4),
        ("p*", "prefix 'p*' is too short (at least 2 characters)", 1),
        ("!!!", "'!!!' has no letters or digits", 1),
    ],
)
def test_query_errors(query: str, reason: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert (caught.value.reason, caught.value.column) == (reason, column)
    assert str(caught.value) == f"{reason} at column {column}"


def test_lower_case_operators_are_words() -> None:
    assert matches("curfew or lockdown", summary="curfew or lockdown")
    assert not matches("curfew or lockdown", summary="curfew")
    assert matches("not", summary="do not enter")


def test_match_reports_terms_snippet_and_highlights() -> None:
    body = "word " * 60 + "the government declared a State of Emergency on Monday " + "tail " * 60
    matcher = Matcher([RuleSpec("emergency", any_of(["state of emergency", "curfew"]))])
    (match,) = matcher.match(prepare_entry("Headline", f"<p>{body}</p>", ""))
    assert match.rule == "emergency"
    assert match.matched == ("state of emergency",)
    assert match.field == "summary"
    assert 150 <= len(match.snippet) <= 260
    assert match.snippet.startswith("…") and match.snippet.endswith("…")
    marked = highlight(match.snippet, match.highlights, "[", "]")
    assert "declared a [State of Emergency] on Monday" in marked


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["state of emergency", "State-of-Emergency", "curfew", "word", "a.", "ß"]),
        max_size=120,
    ),
    st.sampled_from(["summary", "content"]),
)
def test_a_snippet_highlights_every_hit_inside_it_however_many_follow(
    words: list[str], field: str
) -> None:
    """Hits are placed in the display text only until one starts past the snippet; the
    snippet is what placing all of them would give."""
    text = " ".join(words)
    matcher = Matcher([RuleSpec("r", any_of(["state of emergency", "curfew"]))])
    found = matcher.match(prepare_entry("", text if field == "summary" else "", text))
    display = to_display(text)
    spans = [m.span() for m in re.finditer(r"state.of.emergency|curfew", display, re.I)]
    if not spans:
        assert found == []
        return
    (match,) = found
    assert (match.snippet, match.highlights) == make_snippet(display, spans)
    assert match.field == field


def test_highlights_survive_case_folding_that_changes_length() -> None:
    matcher = Matcher([RuleSpec("r", parse_query("strasse"))])
    (match,) = matcher.match(prepare_entry("", "Die STRASSE und die Straße", ""))
    assert highlight(match.snippet, match.highlights, "[", "]") == "Die [STRASSE] und die [Straße]"


def test_only_the_feeds_rules_are_considered() -> None:
    matcher = Matcher(
        [RuleSpec("a", parse_query("curfew")), RuleSpec("b", parse_query("curfew OR riot"))]
    )
    entry = prepare_entry("curfew", "", "")
    assert [m.rule for m in matcher.match(entry)] == ["a", "b"]
    assert [m.rule for m in matcher.match(entry, only=("b",))] == ["b"]
    assert matcher.match(entry, only=()) == []


def test_matched_terms_are_only_those_that_made_the_rule_true() -> None:
    matcher = Matcher([RuleSpec("r", parse_query("(riot AND army) OR curfew"))])
    (match,) = matcher.match(prepare_entry("", "riot and curfew", ""))
    assert match.matched == ("curfew",)


def test_no_rules_match_nothing() -> None:
    assert Matcher([]).match(prepare_entry("anything", "", "")) == []


# -- properties ------------------------------------------------------------------------------

QUERY_ALPHABET = st.sampled_from(
    list('abc ()"*:/-') + ["AND", "OR", "NOT", "NEAR/2", "title:", "é", "\u00a0", "ß", "NEAR"]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(QUERY_ALPHABET, max_size=12).map(" ".join)))
def test_parser_raises_only_its_own_error(query: str) -> None:
    try:
        tree = parse_query(query)
    except QueryError as exc:
        assert exc.column >= 1
        return
    Matcher([RuleSpec("r", tree)]).match(prepare_entry(query, query, ""))


WORD = st.text(
    alphabet=st.characters(categories=("Ll", "Lu", "Nd"), max_codepoint=0x2FF),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(WORD, min_size=1, max_size=4), st.lists(WORD, max_size=6), st.lists(WORD, max_size=6)
)
def test_phrase_always_matches_between_random_words(
    phrase: list[str], before: list[str], after: list[str]
) -> None:
    text = " ".join([*before, " ".join(phrase), *after])
    assert any_matches([" ".join(phrase)], text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_offsets_agree_with_fast_normalization(raw: str) -> None:
    display = to_display(raw)
    norm, offsets = normalize_with_offsets(display)
    assert norm == normalize(display)
    assert len(offsets) == len(norm)
    assert offsets == sorted(offsets)


# Text rich in what the fast paths skip or keep: spaces of several kinds, hyphens, ß (which
# case-folds to two letters), tags, words.
FOLDABLE = st.lists(
    st.sampled_from(
        [
            "a",
            "Straße",
            "é",
            "1",
            " ",
            "  ",
            "\t",
            "\n",
            "\u00a0",
            "-",
            "\u2010",
            "\u2011",
            " - ",
            "--",
            "<p>",
            "</p>",
            "<b>",
            "&amp;",
            "\u00ad",
            "\u0301",  # a combining accent, after a no-break space too
            "_",
            ".",
        ]
    )
    | st.text(max_size=3),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(FOLDABLE)
def test_display_offsets_by_stretches_equal_offsets_by_character(raw: str) -> None:
    field = prepare_entry(raw, "", "").fields["title"]
    norm, offsets = normalize_with_offsets(field.display)
    assert norm == field.norm
    assert [field.display_offset(i) for i in range(len(norm))] == offsets


@settings(max_examples=500, deadline=None)
@given(FOLDABLE)
def test_fast_text_steps_equal_their_plain_regex_forms(raw: str) -> None:
    """to_display, normalize and mark_words each take a faster road than the regex that
    says what they do (text.py); they must arrive at the same text."""
    display = to_display(raw)
    nfkc = unicodedata.normalize("NFKC", raw)
    assert display == re.sub(r"\s+", " ", INVISIBLE_RE.sub("", nfkc)).strip()
    assert normalize(display) == FOLD_RE.sub(" ", display.casefold())
    assert mark_words(normalize(display)) == re.sub(r"\b", MARK, normalize(display))
    html = f"{raw}<p>{raw}</P><br/>{raw}<bold>"
    assert BLOCK_RE.sub(BLOCK_SPACE, html) == re.sub(
        rf"(?=</?(?:{BLOCK_TAGS})\b)", " ", html, flags=re.I
    )


@pytest.mark.parametrize("count_up_to", [0, 10**9])
def test_marks_counted_in_place_or_bisected_give_the_same_match(
    count_up_to: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FieldText counts the marks before a hit in a short field and bisects their offsets
    in a long one; both must place the same words and highlights."""
    text = "Filler words here. " * 50 + "Officials declared a state of emergency near the border."
    matcher = Matcher([RuleSpec("r", parse_query('"state of emergency" AND border'))])
    expected = matcher.match(prepare_entry("", text, ""))
    monkeypatch.setattr("monitor.matching.text.COUNT_MARKS_UP_TO", count_up_to)
    (match,) = matcher.match(prepare_entry("", text, ""))
    assert match == expected[0]
    assert [match.snippet[a:b] for a, b in match.highlights] == ["state of emergency", "border"]


def test_a_snippet_after_folded_hyphens_highlights_the_phrase() -> None:
    text = "Officials - in a - long - statement -- said a state-of-emergency was declared."
    matcher = Matcher([RuleSpec("r", parse_query('"state of emergency"'))])
    (match,) = matcher.match(prepare_entry("", text, ""))
    start, end = match.highlights[0]
    assert match.snippet[start:end] == "state-of-emergency"


def test_block_tags_still_separate_words() -> None:
    assert html_to_text("a</p><p>b<br>c<DIV>d</div>e<b>f</b>") == "a  b c d ef"


def test_nesting_is_bounded() -> None:
    assert parse_query("(" * 50 + "curfew" + ")" * 50) == parse_query("curfew")
    with pytest.raises(QueryError, match="nested more than 50 levels deep") as deep:
        parse_query("(" * 51 + "curfew" + ")" * 51)
    assert deep.value.column == 51
    with pytest.raises(QueryError, match="nested more than 50 levels deep"):
        parse_query("a " + "NOT " * 51 + "b")


@pytest.mark.parametrize(
    "markup",
    [
        "<div>" * 100_000 + "State of <b>Emer</b>gency &amp; curfew" + "</div>" * 100_000,
        "<p>state of emergency</p>" + "<span></span>" * 30_000,
        "<b>state</b>" + "<i>" * 60_000 + " of emergency",  # never closed
    ],
    ids=["deeply-nested", "many-tags", "unclosed"],
)
def test_markup_with_more_tags_than_parsed_is_stripped_and_still_matches(
    markup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_PARSED_TAGS tags are stripped by pattern, never parsed (lexbor's time grows
    with the square of nesting depth); block tags still split words, inline ones do not."""

    def parser_used(_html: str) -> None:
        raise AssertionError("markup past the cap went to the HTML parser")

    monkeypatch.setattr("monitor.matching.text.LexborHTMLParser", parser_used)
    assert markup.count("<") > MAX_PARSED_TAGS
    text = html_to_text(markup)
    assert "state of emergency" in normalize(" ".join(text.split()))
    assert "<" not in text


def test_stripped_markup_keeps_block_tags_apart_and_entities_decoded() -> None:
    markup = "<p>curfew</p><p>declared</p> &amp; emer<b>gency</b>" + "<br>" * MAX_PARSED_TAGS
    assert " ".join(html_to_text(markup).split()) == "curfew declared & emergency"
