from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import (
    ConsoleNotifier,
    SlackNotifier,
    WebhookNotifier,
    load_config,
    parse_config,
)
from monitor.errors import ConfigError

GOOD = """\
database: sqlite:///monitor.db
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
rules:
  - name: emergency
    any: ["state of emergency", "martial law"]
  - name: shutdown
    query: '"internet blackout" OR (internet NEAR/3 (shutdown OR cut OR blocked))'
    notify: [ops-slack]
notifiers:
  ops-slack: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
  ingest:    {type: webhook, url: "https://hooks.example.org/monitor", secret: "${WEBHOOK_SECRET}"}
  stdout:    {type: console}
"""

ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T000/B000/XXXXSECRET",
    "WEBHOOK_SECRET": "s3cr3t-value",
}


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "config.yaml", env if env is not None else ENV)
    return info.value.problems


def test_contract_example_loads() -> None:
    config = parse_config(GOOD, "config.yaml", ENV)
    assert config.defaults.interval == 300
    assert config.defaults.backlog == 86400
    assert config.feeds[0].interval == 120
    assert config.feeds[0].rules == ["emergency"]
    assert config.feeds[1].name is None
    assert [r.name for r in config.rules] == ["emergency", "shutdown"]
    slack, hook, console = (config.notifiers[n] for n in ("ops-slack", "ingest", "stdout"))
    assert (
        isinstance(slack, SlackNotifier)
        and slack.url.get_secret_value() == ENV["SLACK_WEBHOOK_URL"]
    )
    assert isinstance(hook, WebhookNotifier) and hook.secret is not None
    assert hook.secret.get_secret_value() == "s3cr3t-value"
    assert isinstance(console, ConsoleNotifier)


def test_defaults_when_keys_are_absent() -> None:
    config = parse_config("feeds: []\n", "config.yaml", {})
    assert config.database == "sqlite:///monitor.db"
    assert (config.defaults.interval, config.defaults.timeout, config.defaults.backlog) == (
        300,
        20,
        86400,
    )
    assert config.block_private_addresses is False


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${A}", {"A": "https://a.test/x"}, "https://a.test/x"),
        ("${A:-https://d.test/}", {}, "https://d.test/"),
        ("${A:-https://d.test/}", {"A": "https://a.test/"}, "https://a.test/"),
        ("https://h.test/${P}/x", {"P": "path"}, "https://h.test/path/x"),
        ("https://h.test/$$literal", {}, "https://h.test/$literal"),
    ],
)
def test_environment_substitution(value: str, env: dict[str, str], expected: str) -> None:
    config = parse_config(f'feeds:\n  - url: "{value}"\n', "config.yaml", env)
    assert config.feeds[0].url == expected


BROKEN_CASES = [
    pytest.param(
        "feeds:\n  - url: https://a.test/\n    colour: red\n",
        ["config.yaml:3: feeds[0].colour: unknown key"],
        id="unknown-key",
    ),
    pytest.param(
        "defaults:\n  interval: 5 minutes\n",
        [
            "config.yaml:2: defaults.interval: invalid duration '5 minutes': use a number and a unit (s, m, h, d, w)"  # noqa: E501
        ],
        id="bad-duration",
    ),
    pytest.param(
        "feeds:\n  - url: ftp://a.test/feed\n",
        ["config.yaml:2: feeds[0].url: must be an http:// or https:// URL with a host"],
        id="bad-url",
    ),
    pytest.param(
        "feeds:\n  - name: nameless\n",
        ["config.yaml:2: feeds[0].url: is required"],
        id="missing-url",
    ),
    pytest.param(
        'notifiers:\n  n: {type: slack, url: "${NOPE}"}\n',
        ["config.yaml:2: notifiers.n.url: environment variable NOPE is not set"],
        id="missing-env",
    ),
    pytest.param(
        'notifiers:\n  n: {type: webhook, url: "https://h.test/", secret: "whsec_s3cr3t!"}\n',
        ["config.yaml:2: notifiers.n.secret: webhook secret: text after 'whsec_' is not base64"],
        id="bad-webhook-secret",
    ),
    pytest.param(
        "notifiers:\n  n: {type: pager}\n",
        ["config.yaml:2: notifiers.n: unknown type (expected slack, webhook or console)"],
        id="unknown-notifier-type",
    ),
    pytest.param(
        "rules:\n  - name: a\n    any: [x]\n  - name: a\n    any: [y]\n",
        ["config.yaml:4: rules[1].name: duplicate rule name 'a'"],
        id="duplicate-rule",
    ),
    pytest.param(
        "notifiers:\n  a: {type: console}\n  a: {type: console}\n",
        ["config.yaml:3: notifiers.a: duplicate key 'a'"],
        id="duplicate-notifier-key",
    ),
    pytest.param(
        "feeds:\n  - url: https://a.test/\n  - url: https://a.test/\n",
        ["config.yaml:3: feeds[1].url: same feed as feeds[0]"],
        id="duplicate-feed",
    ),
    pytest.param(
        "feeds:\n  - url: https://a.test/\n    rules: [nope]\nrules: []\n",
        ["config.yaml:3: feeds[0].rules[0]: no rule named 'nope'"],
        id="unknown-rule",
    ),
    pytest.param(
        "rules:\n  - name: r\n    any: [x]\n    notify: [ghost]\n",
        ["config.yaml:4: rules[0].notify[0]: no notifier named 'ghost'"],
        id="unknown-notifier",
    ),
    pytest.param(
        "rules:\n  - name: r\n    any: [x]\n    query: y\n",
        ["config.yaml:2: rules[0]: give exactly one of 'any' or 'query'"],
        id="any-and-query",
    ),
    pytest.param(
        "feeds: [\n",
        ["config.yaml:2: invalid YAML: expected the node content, but found '<stream end>'"],
        id="yaml-syntax",
    ),
    pytest.param(
        "- a\n- b\n",
        ["config.yaml:1: the configuration must be a mapping of keys"],
        id="not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN_CASES)
def test_broken_config_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_is_reported_at_once() -> None:
    text = (
        "database: sqlite:///x.db\n"  # 1
        "defaults: {interval: soon}\n"  # 2
        "feeds:\n"  # 3
        "  - url: https://a.test/\n"  # 4
        "    rules: [ghost]\n"  # 5
        "    extra: 1\n"  # 6
        "rules:\n"  # 7
        "  - name: r\n"  # 8
        "    any: [x]\n"  # 9
        "    notify: [nobody]\n"  # 10
    )
    got = problems(text)
    assert [line.split(": ")[0] for line in got] == [
        "config.yaml:2",
        "config.yaml:5",
        "config.yaml:6",
        "config.yaml:10",
    ]
    assert "feeds[0].rules[0]: no rule named 'ghost'" in got[1]


def test_secrets_never_appear_in_errors() -> None:
    text = GOOD.replace("type: console", "type: console, bogus: 1").replace(
        'url: "https://hooks.example.org/monitor"', 'url: "ftp://${WEBHOOK_SECRET}"'
    )
    got = "\n".join(problems(text))
    assert "ingest.url" in got and "stdout.bogus" in got
    for secret in ENV.values():
        assert secret not in got
    assert "s3cr3t" not in got


def test_check_command_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert main(["check", "-c", str(good)]) == 0
    out = capsys.readouterr().out
    assert "2 feeds, 2 rules, 3 notifiers" in out
    assert "XXXXSECRET" not in out and "s3cr3t" not in out
    assert "ops-slack: slack url ***" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - url: nope\n")
    assert main(["check", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"{bad}:2: feeds[0].url: must be an http:// or https:// URL with a host\n"


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read the configuration: No such file or directory" in capsys.readouterr().err


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("feeds: []\n")
    monkeypatch.setenv("MONITOR_CONFIG", str(path))
    assert main(["check"]) == 0


def test_empty_url_default_switches_a_notifier_off(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('notifiers:\n  s: {type: slack, url: "${UNSET_HOOK:-}"}\n')
    config = load_config(path, env={}).config
    assert config.notifiers["s"].enabled is False
    assert main(["check", "-c", str(path)]) == 0
    assert "notifier s: slack (off: its url is empty)" in capsys.readouterr().out


def test_shipped_example_config_is_valid() -> None:
    loaded = load_config(Path(__file__).resolve().parents[1] / "config.yaml", env={})
    assert len(loaded.config.feeds) >= 12
    assert {r.name for r in loaded.config.rules} == {"emergency", "shutdown"}
    assert loaded.config.notifiers["stdout"].type == "console"
