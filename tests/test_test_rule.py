"""``monitor test-rule`` and rule errors in ``monitor check``: broken rules never fail silently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import App
from monitor.cli import main
from monitor.config import load_config
from tests.conftest import FakeClock
from tests.support.feeds import Item, rss
from tests.support.polling import poll_due
from tests.support.server import FeedServer

Capture = pytest.CaptureFixture[str]


def test_text_that_matches_exits_0_with_the_match_highlighted(capsys: Capture) -> None:
    code = main(
        ["test-rule", '"state of emergency"', "--text", "They declared a State-of-Emergency."]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "match in content: state of emergency" in out
    assert "They declared a **State-of-Emergency**." in out


def test_no_match_exits_1(capsys: Capture) -> None:
    assert main(["test-rule", "curfew", "--text", "a statement of emergency"]) == 1
    assert capsys.readouterr().out == "no match\n"


def test_bad_query_exits_2_with_reason_and_column(capsys: Capture) -> None:
    assert main(["test-rule", "internet NEAR/3 (cut OR", "--text", "x"]) == 2
    err = capsys.readouterr().err
    assert "bad query: OR needs a term after it at column 22" in err
    assert err.splitlines()[-1] == "  " + " " * 21 + "^"


def test_file_with_html(tmp_path: Path, capsys: Capture) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>The government <b>cut</b> the internet.</p></body></html>")
    assert main(["test-rule", "internet NEAR/3 cut", "--file", str(page)]) == 0
    assert "The government **cut** the **internet**." in capsys.readouterr().out


def test_missing_file_exits_2(tmp_path: Path, capsys: Capture) -> None:
    assert main(["test-rule", "x", "--file", str(tmp_path / "absent.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_url_is_fetched_and_matched(server: FeedServer, capsys: Capture) -> None:
    server.route(
        "/article.html",
        body=b"<html><head><title>Unrest</title></head><body><p>An internet blackout.</p>"
        b"</body></html>",
        content_type="text/html; charset=utf-8",
    )
    assert main(["test-rule", '"internet blackout"', "--url", server.url("/article.html")]) == 0
    assert "An **internet blackout**." in capsys.readouterr().out
    assert main(["test-rule", "curfew", "--url", server.url("/article.html")]) == 1
    assert main(["test-rule", "curfew", "--url", server.url("/missing.html")]) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_backtest_over_stored_entries(tmp_path: Path, server: FeedServer, capsys: Capture) -> None:
    now = datetime.now(UTC)
    items = [
        Item(title="Curfew in the capital", guid="a", published=now - timedelta(days=1)),
        Item(title="Curfew lifted", guid="b", published=now - timedelta(days=2)),
        Item(title="Markets rally", guid="c", published=now - timedelta(days=1)),
        Item(title="Old curfew", guid="d", published=now - timedelta(days=60)),
    ]
    server.route("/wire.xml", body=rss(items))
    config = tmp_path / "config.yaml"
    config.write_text(f"feeds:\n  - url: {server.url('/wire.xml')}\n    name: Wire\n")
    app = App.open(load_config(config, env={}), clock=FakeClock(now))
    app.sync_feeds()

    poll_due(app, every_feed=True)
    app.close()

    assert main(["test-rule", "curfew", "--stored", "--since", "30d", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 of 3 entries stored in the last 30d would have alerted")
    assert "       2  Wire" in out
    day = (now - timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"       1  {day}" in out
    assert "[Wire] **Curfew** in the capital" in out or "[Wire] Curfew in the capital" in out
    assert main(["test-rule", "riot", "--stored", "-c", str(config)]) == 1
    assert main(["test-rule", "riot", "--stored", "--since", "soon", "-c", str(config)]) == 2


def test_check_reports_a_bad_query_with_file_line_field_and_column(
    tmp_path: Path, capsys: Capture
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "rules:\n"
        "  - name: emergency\n"
        '    any: ["state of emergency", "!!"]\n'
        "  - name: shutdown\n"
        "    query: '\"internet blackout\" OR (internet NEAR/3 (shutdown OR cut)'\n"
    )
    assert main(["check", "-c", str(config)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{config}:3: rules[0].any[1]: '!!' has no letters or digits",
        f"{config}:5: rules[1].query: unbalanced parenthesis at column 24",
    ]
