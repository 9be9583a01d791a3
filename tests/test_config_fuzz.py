"""``monitor check`` on random and mutated config.yaml files.

Whatever the file holds, the command exits 0 or 2, prints no traceback, reports each
problem as ``file:line: field: message`` and never shows a secret: database passwords,
Slack and webhook URLs, webhook secrets, whether written in the file or taken from
``${ENV}``. The ``@example`` cases and the regression tests at the end are the crashes and
leaks these properties found, each with the message it now gives.
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from monitor.cli import main

# ---------------------------------------------------------------- secrets and the base config

FILE_KEY = base64.b64encode(b"literal webhook signing key, 32b").decode()
ENV_KEY = base64.b64encode(b"webhook signing key from the env").decode()
ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/ENVSLACKTOKENq7Zr9Kf",
    "WEBHOOK_SECRET": f"whsec_{ENV_KEY}",
    "AUDIT_TOKEN": "AUDITTOKENk3y9Wp",
    "DB_PASSWORD": "envDbPassw0rdZq",
    "FEED_HOST": "feeds.example.org",  # not a secret: random values may use it anywhere
}
BEARER_TOKEN = "AUTHHEADERTOKEN"
SECRETS = [
    "hunter2pass",  # the database password written in the file
    "SECRETTOKENabc123",  # a Slack webhook URL written in the file
    "HOOKQUERYTOKEN7",  # a webhook URL written in the file
    FILE_KEY.rstrip("="),  # a whsec_ secret written in the file
    BEARER_TOKEN,  # an Authorization header value, added by a mutation
    "ENVSLACKTOKENq7Zr9Kf",
    ENV_KEY.rstrip("="),
    "AUDITTOKENk3y9Wp",
    "envDbPassw0rdZq",
]

BEARER = f"Bearer {BEARER_TOKEN}"

FLOW_STYLE = f"""\
# a valid config carrying secrets in the file and through ${{ENV}}
database: "postgresql+psycopg://monitor:hunter2pass@db.example.org/monitor"
block_private_addresses: false
defaults:
  interval: 5m
  timeout: 20s
  backlog: 24h
feeds:
  - url: https://example.org/world/rss.xml
    name: Example World
    interval: 2m
    rules: [emergency]
  - url: https://example.org/other.xml
    timeout: 45s
rules:
  - name: emergency
    any: ["state of emergency", "martial law"]
  - name: shutdown
    query: '"internet blackout" OR (internet NEAR/3 (shutdown OR cut OR blocked))'
    notify: [ops-slack, ingest]
notifiers:
  ops-slack: {{type: slack, url: "${{SLACK_WEBHOOK_URL}}"}}
  team-slack: {{type: slack, url: "https://hooks.slack.com/services/T000/B000/SECRETTOKENabc123"}}
  ingest: {{type: webhook, url: "https://hooks.example.org/in?token=HOOKQUERYTOKEN7", secret: "whsec_{FILE_KEY}"}}
  audit: {{type: webhook, url: "https://audit.example.org/hook/${{AUDIT_TOKEN}}", secret: "${{WEBHOOK_SECRET}}"}}
  stdout: {{type: console}}
"""  # noqa: E501

BLOCK_STYLE = f"""\
database: "postgresql+psycopg://monitor:${{DB_PASSWORD}}@db.example.org/monitor"
defaults: {{interval: 10m, backlog: 2d}}
feeds:
- url: "https://example.org/world/rss.xml"
  rules:
  - emergency
  - shutdown
rules:
- name: emergency
  any:
  - state of emergency
  notify:
  - ingest
- name: shutdown
  query: 'title:curfew* OR "martial law"'
notifiers:
  ingest:
    type: webhook
    url: "https://hooks.example.org/in?token=HOOKQUERYTOKEN7"
    secret: "whsec_{FILE_KEY}"
  team-slack:
    type: slack
    url: "https://hooks.slack.com/services/T000/B000/SECRETTOKENabc123"
  audit:
    type: webhook
    url: "https://audit.example.org/hook/${{AUDIT_TOKEN}}"
    secret: "${{WEBHOOK_SECRET}}"
"""
BASES = [FLOW_STYLE, BLOCK_STYLE]

# How each secret is written in the base configs. An edit that breaks this can make the secret
# part of something that is shown: deleting the colon in "monitor:hunter2pass@" makes the
# password a user name; deleting an opening quote can make a URL part of a rule's phrase or
# of a mangled key. While it is intact, the secret must not be shown, whatever else changed.
SECRET_AS_WRITTEN = {  # patterns
    "hunter2pass": r'"postgresql\+psycopg:[^"\n]*:hunter2pass@',  # edits elsewhere in the URL
    "envDbPassw0rdZq": r'"postgresql\+psycopg:[^"\n]*:\$\{DB_PASSWORD\}@',  # are kept
    **{
        secret: re.escape(written)
        for secret, written in [
            ("SECRETTOKENabc123", '"https://hooks.slack.com/services/T000/B000/SECRETTOKENabc123"'),
            ("HOOKQUERYTOKEN7", '"https://hooks.example.org/in?token=HOOKQUERYTOKEN7"'),
            (FILE_KEY.rstrip("="), f'"whsec_{FILE_KEY}"'),
            ("ENVSLACKTOKENq7Zr9Kf", '"${SLACK_WEBHOOK_URL}"'),
            (ENV_KEY.rstrip("="), '"${WEBHOOK_SECRET}"'),
            ("AUDITTOKENk3y9Wp", '"https://audit.example.org/hook/${AUDIT_TOKEN}"'),
        ]
    },
}


def secrets_in(text: str) -> list[str]:
    """The secrets that ``text`` still writes as secrets."""
    return [
        s for s in SECRETS if s not in SECRET_AS_WRITTEN or re.search(SECRET_AS_WRITTEN[s], text)
    ]


EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b|<class '")


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "config.yaml"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def check(
    path: Path,
    content: str | bytes,
    capsys: pytest.CaptureFixture[str],
    secrets: list[str] = SECRETS,
    in_hypothesis: bool = True,
) -> int:
    """Run ``monitor check`` on ``content`` and assert the properties; returns the exit code."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:  # lone surrogates become bytes that are not UTF-8, which the loader must report
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    code = main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    if in_hypothesis:
        event(f"exit {code}{_gist(err)}")
    both = out + err
    assert code in (0, 2), both
    assert "Traceback" not in both
    assert not EXCEPTION_NAME.search(both), both
    for secret in secrets:
        assert secret not in both, f"secret {secret!r} printed:\n{both}"
    if code == 0:
        assert err == ""
        assert out.startswith(f"{path}: OK\n")
    else:
        assert out == ""
        lines = err.splitlines()
        assert lines
        where = re.compile(re.escape(str(path)) + r":[1-9][0-9]*: \S")
        for line in lines:
            assert where.match(line), f"not a file:line: error: {line!r}"
    return code


def _gist(err: str) -> str:
    """The kind of problem, for hypothesis' statistics (``--hypothesis-show-statistics``)."""
    for kind in ("invalid YAML", "cannot read the configuration", "must be a mapping"):
        if kind in err:
            return f": {kind}"
    return ": invalid values" if err else ""


# ------------------------------------------------------------------------------ strategies


def _repeat(alphabet: st.SearchStrategy[str], low: int, high: int) -> st.SearchStrategy[str]:
    """A very long string, built without asking hypothesis for thousands of draws."""
    return st.builds(
        lambda s, n: s * n, st.text(alphabet, min_size=1, max_size=3), st.integers(low, high)
    )


QUERY_PIECES = ["(", ")", '"', "a", "b*", "*", "AND", "OR", "NOT", "NEAR/3", "title:", "x:"]
control = st.characters(codec=None, categories=["Cc", "Cf", "Zl", "Zp"])
surrogate = st.characters(categories=["Cs"])
strings = st.one_of(
    st.text(max_size=20),
    st.text(st.one_of(control, surrogate, st.characters()), max_size=10),
    _repeat(st.characters(), 1000, 20_000),
    st.from_regex(r"[0-9]{1,4}(\.[0-9])? ?[smhdwx]?", fullmatch=True),  # near-durations
    st.lists(st.sampled_from(QUERY_PIECES), max_size=12).map(" ".join),  # near-queries
    st.sampled_from(
        [
            "",
            " ",
            "https://a.test/",
            "http://[::1/",
            "ftp://x",
            "${UNSET_VARIABLE}",
            "${FEED_HOST}",
            "${UNSET:-}",
            "$$",
            "whsec_",
            "whsec_!!",
            "slack",
            "webhook",
            "console",
            "NOT x",
            '"unterminated',
            "(a OR",
            "a NEAR/5000 b",
            "x*y",
            "title:",
            "2026-11-24",
            "sqlite://",
            "postgresql+psycopg:///u:pw@h/db",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(),  # nan and inf included
    strings,
)
keys = st.one_of(
    st.sampled_from(
        ["database", "defaults", "feeds", "rules", "notifiers", "url", "name", "type", "secret"]
        + ["interval", "timeout", "backlog", "any", "query", "notify", "block_private_addresses"]
    ),
    st.text(max_size=10),
    st.integers(-5, 5),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _dump(data: Any, unicode: bool, flow: bool | None) -> str:
    return yaml.safe_dump(data, allow_unicode=unicode, default_flow_style=flow, sort_keys=False)


random_documents = st.builds(
    _dump,
    st.one_of(values, st.dictionaries(keys, values, max_size=6)),
    st.booleans(),
    st.sampled_from([None, False, True]),
)

YAML_PIECES = [
    "[", "]", "{", "}", ": ", ":", ",", "- ", "? ", "\n", "\n  ", "\t", " ", "#", "'", '"', "|",
    ">", "&a ", "*a", "&b ", "*b", "!!python/object:os.system ", "!!python/name:os.system ",
    "!!binary ", "!!int ", "!!bool ", "!!timestamp ", "!!set ", "!!map ", "!local ", "!<x> ",
    "<<: ", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\\u", "\\ud800", "\\x",
    "a", "feeds", "rules", "url", "0x_", "0b_", "2026-13-45", "9" * 5000, ".nan", ".inf",
    "${FEED_HOST}", "\x00", "\x85", "\u2028", "\ufeff", "\U0001f600",
]  # fmt: skip
raw_texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join),
    st.binary().map(lambda b: b"feeds:\n  - url: " + b),  # invalid UTF-8, somewhere past line 1
    st.binary(),
)


def _nested(opening: str, closing: str, depth: int) -> str:
    return "feeds: " + opening * depth + "x" + closing * depth


def _alias_bomb(levels: int, width: int) -> str:
    lines = ["l0: &l0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\nfeeds: *l{levels}\n"


BRACKETS = [("[", "]"), ("{a: ", "}"), ("- ", ""), ("a:\n- ", "")]
pathological = st.one_of(
    st.builds(
        lambda pair, depth: _nested(*pair, depth), st.sampled_from(BRACKETS), st.integers(1, 10_000)
    ),
    st.integers(1, 300).map(lambda n: "".join(f"{'  ' * i}k{i}:\n" for i in range(n))),
    st.builds(_alias_bomb, st.integers(1, 12), st.integers(1, 12)),
    st.sampled_from(["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a [1, [2, *a]]\n", "&a [*a]"]),
)


# Mutations. Positions are fractions of the current length, so they stay valid as it changes.
garbage = st.one_of(st.sampled_from(YAML_PIECES), st.text(min_size=1, max_size=5))
text_mutation = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), garbage),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("duplicate-line"), st.floats(0, 1), st.just(0)),
)


def mutate_text(text: str, mutations: list[tuple[str, float, Any]]) -> str:
    for kind, where, arg in mutations:
        at = int(where * len(text))
        if kind == "insert":
            text = text[:at] + arg + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + arg :]
        elif kind == "truncate":
            text = text[:at]
        else:  # a line written twice: duplicate keys, or a second list item
            lines = text.splitlines(keepends=True) or [""]
            i = min(int(where * len(lines)), len(lines) - 1)
            text = "".join(lines[: i + 1] + lines[i:])
    return text


def _containers(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every mapping and list in ``data``."""
    out = []
    if isinstance(data, dict | list):
        out.append(path)
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            out.extend(_containers(value, (*path, key)))
    return out


def _paths_of(value: Any, data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where ``value`` is in ``data``."""
    if isinstance(data, dict | list):
        items = data.items() if isinstance(data, dict) else enumerate(data)
        return [p for key, item in items for p in _paths_of(value, item, (*path, key))]
    return [path] if data == value else []


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


data_mutation = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 99), st.integers(0, 99), st.none()),
    st.tuples(st.just("replace"), st.integers(0, 99), st.integers(0, 99), values),
    st.tuples(st.just("rename"), st.integers(0, 99), st.integers(0, 99), keys),
    st.tuples(st.just("add"), st.integers(0, 99), st.integers(0, 99), st.tuples(keys, values)),
    st.tuples(  # a key the config does not have, holding a secret that must not be echoed
        st.just("add"),
        st.integers(0, 99),
        st.integers(0, 99),
        st.builds(lambda: ("headers", {"Authorization": BEARER})),
    ),
)


def mutate_data(data: Any, mutations: list[tuple[str, int, int, Any]]) -> Any:
    for kind, which, item, drawn in mutations:
        arg = copy.deepcopy(drawn)  # hypothesis may hand the same object to two mutations
        paths = _containers(data)
        if not paths:
            return data
        node = _at(data, paths[which % len(paths)])
        slots = list(node) if isinstance(node, dict) else list(range(len(node)))
        slot = slots[item % len(slots)] if slots else None
        if kind == "add":
            key, value = arg
            if isinstance(node, dict):
                node[key] = value
            else:
                node.insert(item % (len(node) + 1), value)
        elif slot is None:
            continue
        elif kind == "drop":
            del node[slot]
        elif kind == "replace":
            node[slot] = arg
        elif kind == "rename" and isinstance(node, dict):
            node[arg] = node.pop(slot)
    return data


# ------------------------------------------------------------------------------ properties

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("base", BASES, ids=["flow", "block"])
def test_base_configs_are_valid(
    base: str, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(config_path, base, capsys, in_hypothesis=False) == 0


@settings(SETTINGS, max_examples=250)
@given(text=random_documents)
def test_random_documents(text: str, config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(config_path, text, capsys)


@settings(SETTINGS, max_examples=250)
@given(content=st.one_of(raw_texts, pathological))
@example(content="feeds: " + "[" * 10_000 + "]" * 10_000)  # RecursionError in the composer
@example(content="- " * 10_000 + "x")
@example(content="a: &a [*a]\n")  # RecursionError building the data
@example(content=_alias_bomb(9, 9))  # 387 million values: hung building the data
@example(content="a: !!python/object:os.system ls\n")  # ConstructorError
@example(content="a: 0b_\n")  # ValueError from int()
@example(content="a: 2026-13-45\n")  # ValueError from datetime
@example(content="a: " + "9" * 5000 + "\n")  # ValueError: int of more than 4300 digits
@example(content="a: !!bool maybe\n")  # KeyError
@example(content="!!int")  # IndexError
@example(content="a: !!timestamp soon\n")  # AttributeError
@example(content="a: !!binary '%%'\n")
@example(content="x: &x {url: 'https://a.test/'}\nfeeds:\n  - <<: *x\n")  # merge key
@example(content="a: b\x00c\n")  # the error spread over two lines
@example(content="a: &x 1\nb: &x 2\n")  # "second occurrence"
@example(content=b"feeds:\n  - url: https://a.test/\xff\n")  # error without a line
@example(content='"a\\nb": 1\n')  # a line break in the field name
@example(content='" ": 1\n')  # a field name that does not show
@example(content='feeds:\n  - url: https://a.test/\n    name: "\\ud800"\n')  # unprintable
@example(content="rules:\n  - name: [a]\n    any: [x]\n")  # TypeError: unhashable name
@example(content="defaults: {interval: [5m]}\n")  # AttributeError in parse_duration
@example(content="defaults: {interval: null}\n")
@example(content="defaults: {interval: 2026-11-24}\n")
@example(content="defaults: {interval: .nan}\n")  # ValueError formatting the summary
@example(content="defaults: {interval: .inf}\n")  # OverflowError formatting the summary
@example(content="defaults: {interval: 99999999999d}\n")  # accepted; overflows timedelta
@example(content="feeds:\n  - url: 'http://[::1/'\n")  # urlsplit's message, not ours
@example(content="notifiers:\n  1: {type: console}\n")  # notifiers[1].[key]
def test_raw_and_pathological_text(
    content: str | bytes, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check(config_path, content, capsys)


@settings(SETTINGS, max_examples=300)
@given(
    base=st.sampled_from(BASES),
    mutations=st.lists(data_mutation, min_size=1, max_size=4),
    unicode=st.booleans(),
    flow=st.sampled_from([None, False]),
)
def test_mutated_data(
    base: str,
    mutations: list[tuple[str, int, int, Any]],
    unicode: bool,
    flow: bool | None,
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = mutate_data(yaml.safe_load(base), mutations)
    secrets = SECRETS
    if any(path[-2:] != ("headers", "Authorization") for path in _paths_of(BEARER, data)):
        # renamed keys made it the value of a field that is shown, such as a feed's name
        secrets = [s for s in SECRETS if s != BEARER_TOKEN]
    check(config_path, _dump(data, unicode, flow), capsys, secrets)


@settings(SETTINGS, max_examples=800)
@given(base=st.sampled_from(BASES), mutations=st.lists(text_mutation, min_size=1, max_size=5))
@example(  # the database line twice, joined: the password also in the database name
    base=BLOCK_STYLE, mutations=[("duplicate-line", 0.0, 0), ("delete", 0.09375, 15)]
)
@example(  # the URL became part of an unknown key, which was shown
    base=FLOW_STYLE,
    mutations=[("delete", FLOW_STYLE.index('rl: "https://hooks.slack') / len(FLOW_STYLE), 3)],
)
@example(  # the database password shown as part of a database name
    base=FLOW_STYLE,
    mutations=[("insert", FLOW_STYLE.index("monitor:hunter") / len(FLOW_STYLE), "/")],
)
def test_mutated_text(
    base: str,
    mutations: list[tuple[str, float, Any]],
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = mutate_text(base, mutations)
    check(config_path, text, capsys, secrets_in(text))


# ------------------------------------------------------------ regressions, with their messages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feeds: " + "[" * 500 + "]" * 500, "1: invalid YAML: nested more than 100 levels deep"),
        ("a: 1\nb: &a [*a]\n", "2: invalid YAML: an alias refers to a collection that contains it"),
        (_alias_bomb(9, 9), "6: invalid YAML: aliases expand to more than 100000 values"),
        (
            "a: 1\nb: !!python/object:os.system ls\n",
            "2: invalid YAML: could not determine a constructor for the tag"
            " 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: 1\nb: 2026-13-45\n", "2: invalid YAML: cannot read this value as timestamp"),
        ("a: 1\n\nb: 0x_\n", "3: invalid YAML: cannot read this value as int"),
        ("a:\n  b: c\x07\n", "2: invalid YAML: unacceptable character #x0007: special characters"),
        ("a: 1\n---\nb: 2\n", "2: invalid YAML: expected a single document in the stream, but"),
        ("a: &x 1\nb: &x 2\n", "2: invalid YAML: found duplicate anchor 'x' (first on line 1)"),
        ('a: 1\nb: "\\udc00"\n', "2: invalid YAML: a \\u escape gives a lone surrogate"),
        ("x: &x {a: 1}\nfeeds:\n  - <<: *x\n", "3: feeds[0]: merge keys ('<<') are not supported"),
        ('"a\\nb": 1\n', "1: ['a\\nb']: unknown key"),
        ('" ": 1\n"": 2\n', "1: [' ']: unknown key"),
        ('feeds:\n  - "": 2\n', "2: feeds[0]['']: unknown key"),
        ("rules:\n  - name: [a]\n    any: [x]\n", "2: rules[0].name: Input should be a valid"),
        ("defaults:\n  interval: [5m]\n", "2: defaults.interval: expected a duration such as 45s"),
        ("defaults:\n  interval: .nan\n", "2: defaults.interval: a duration must be greater than"),
        ("defaults:\n  interval: .inf\n", "2: defaults.interval: a duration must be at most 365"),
        ("feeds:\n  - url: 'http://[::1/'\n", "2: feeds[0].url: must be an http:// or https://"),
        ("notifiers:\n  1: {type: console}\n", "2: notifiers[1]: names must be strings"),
        (
            'notifiers:\n  s: {type: slack, u "https://hooks.slack.com/services/T0/B0/SECRETTOKENabc123"}\n',
            "2: notifiers.s: an entry has no ':' (write key: value)",
        ),
        ("feeds:\n  - {url: 'https://a.test/', name}\n", "2: feeds[0]: an entry has no ':'"),
        (
            "database: 'postgresql+psycopg:///u:hunter2pass@h/db'\n",
            "1: database: cannot tell the password from the rest of the URL",
        ),
        ("database: 'postgresql://u:hunter2pass@h:x/db'\n", "1: database: not a database URL"),
    ],
)
def test_regressions(
    text: str, expected: str, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path.write_text(text, encoding="utf-8")
    assert main(["check", "-c", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert f"\n{config_path}:{expected}" in f"\n{err}", err
    assert "hunter2pass" not in err


def test_undecodable_file_names_the_line(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path.write_bytes(b"feeds:\r\n  - url: https://a.test/\xff\r\n")
    assert main(["check", "-c", str(config_path)]) == 2
    assert capsys.readouterr().err == (
        f"{config_path}:2: cannot read the configuration: not UTF-8 text (byte 0xff)\n"
    )


def test_environment_value_that_is_not_utf8(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEED_NAME", "caf\udce9")  # how os.environ holds the byte 0xe9
    config_path.write_text('feeds:\n  - url: https://a.test/\n    name: "${FEED_NAME}"\n')
    assert main(["check", "-c", str(config_path)]) == 2
    assert capsys.readouterr().err == (
        f"{config_path}:3: feeds[0].name: environment variable FEED_NAME is not valid UTF-8\n"
    )


@pytest.mark.parametrize("query", ["(" * 400 + "a" + ")" * 400, "a AND " + "NOT " * 1500 + "b"])
def test_deeply_nested_query_is_a_config_error(
    query: str, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"rules:\n  - name: r\n    query: '{query}'\n"
    assert check(config_path, text, capsys, in_hypothesis=False) == 2


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://monitor@db.example.org/monitor?password=hunter2pass",
        "postgresql+psycopg://monitor:hunter2pass@db.example.org/monitor-hunter2pass",
    ],
)
def test_database_password_elsewhere_in_the_url(
    url: str, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check(config_path, f'database: "{url}"\n', capsys, in_hypothesis=False)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://monitor:p%40ss%3Aword@db.example.org/monitor-p@ss:word",
        "postgresql+psycopg://monitor:p%2Bss@db.example.org/monitor?options=p%2Bss",
    ],
)
def test_database_password_with_special_characters_elsewhere_in_the_url(
    url: str, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forms = ["p@ss:word", "p%40ss%3Aword", "p+ss", "p%2Bss"]
    check(config_path, f'database: "{url}"\n', capsys, [*SECRETS, *forms], in_hypothesis=False)
