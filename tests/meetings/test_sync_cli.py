"""``chamberguard meetings import|sync|committees|scope``: output, and bad input refused with
a clear message, exit status 2 and nothing imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.main.cli import main
from tests.meetings.conftest import FIXTURES
from tests.meetings.test_sync import Env, dump, make_env
from tests.meetings.test_sync_http import NOW, FakeModernGov, fake_fixture  # noqa: F401


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.db.dispose()


def cli(env: Env, *args: str) -> int:
    return main(["--config", str(env.config), "meetings", *args])


def test_import_prints_a_summary_and_meetings_list_shows_the_rows(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(env, "import", str(FIXTURES / "getmeetings.xml")) == 0
    out = capsys.readouterr().out
    assert "created 9, updated 0, cancelled 0, unchanged 0, removed 0, deleted 0" in out
    assert "moderngov:5001" in out and "Sun 31 Mar 2024 10:00 BST" in out
    assert "(cancelled, in scope, room chamber)" in out  # 5011
    assert "not in scope" in out  # licensing

    assert cli(env, "import", str(FIXTURES / "getmeetings.xml"), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["unchanged"] == 9 and result["revision_bumped"] is False
    assert result["window"] is None

    assert cli(env, "list", "--json") == 0
    rows = {r["source_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(rows) == 9
    r = rows["5011"]
    assert (r["source"], r["committee"], r["title"], r["status"], r["state"], r["room"],
            r["in_scope"]) == ("moderngov", "Cabinet", "Cabinet", "cancelled", "cancelled",
                               "chamber", True)
    assert r["start"] == "2024-04-09T18:30:00+00:00" and r["end"] == "2024-04-09T21:30:00+00:00"
    assert rows["5040"]["in_scope"] is False


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("bad/truncated.xml", ["truncated.xml", "truncated", "line 42"]),
        ("bad/error403.html", ["error403.html", "HTML", "403 - Forbidden"]),
        ("bad/billion_laughs.xml", ["billion_laughs.xml", "entity", "billion laughs"]),
        ("bad/no_dtstart.ics", ["no_dtstart.ics", "DTSTART", "no-start@exampleton.gov.uk"]),
        ("does-not-exist.xml", ["does-not-exist.xml", "cannot read"]),
    ],
)
def test_bad_input_is_refused_and_nothing_is_imported(
    env: Env, capsys: pytest.CaptureFixture[str], name: str, words: list[str]
) -> None:
    assert cli(env, "import", str(FIXTURES / "calendar.ics")) == 0
    capsys.readouterr()
    before = dump(env.db)
    assert cli(env, "import", str(FIXTURES / name)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("chamberguard: nothing imported: ")
    for word in words:
        assert word in captured.err
    assert "Traceback" not in captured.err
    assert dump(env.db) == before


def test_console_script_exit_status(env: Env) -> None:
    """The installed ``chamberguard`` command, as IT runs it."""
    exe = Path(sys.executable).with_name("chamberguard")
    if not exe.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    base = [str(exe), "--config", str(env.config), "meetings", "import"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERGUARD_")}
    bad = subprocess.run([*base, str(FIXTURES / "bad/truncated.xml")], capture_output=True,
                         text=True, env=environ, timeout=60)
    assert bad.returncode == 2 and "truncated" in bad.stderr
    assert env.counts() == (0, 0, 1)
    good = subprocess.run([*base, str(FIXTURES / "getmeetings.xml"), "--json"],
                          capture_output=True, text=True, env=environ, timeout=60)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["counts"]["created"] == 9


def test_import_window_bounds_an_open_ended_calendar(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(FIXTURES / "sync" / "open_ended.ics")
    assert cli(env, "import", path) == 2
    assert "no COUNT or UNTIL" in capsys.readouterr().err
    assert cli(env, "import", path, "--from", "2024-03-01", "--to", "2024-06-06", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    # First Thursdays, 7 pm London: GMT in March, BST after; 6 June is the last day included.
    assert [m["start"] for m in result["meetings"]] == [
        "2024-03-07T19:00:00+00:00", "2024-04-04T18:00:00+00:00",
        "2024-05-02T18:00:00+00:00", "2024-06-06T18:00:00+00:00"]
    assert result["window"] is None  # a file import never removes, window or not


def test_committees_and_scope(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(env, "import", str(FIXTURES / "getmeetings.xml")) == 0
    capsys.readouterr()
    assert cli(env, "committees", "--json") == 0
    committees = {c["title"]: c for c in json.loads(capsys.readouterr().out)}
    assert committees["Licensing Sub-Committee"]["in_scope"] is False
    assert committees["Council"]["rule"] == "council"

    rev = env.revision()
    assert cli(env, "scope", "Licensing Sub-Committee", "--in") == 0
    assert "in   Licensing Sub-Committee (id 160)  — IT override" in capsys.readouterr().out
    assert env.revision() == rev + 1
    row = env.meeting("5040")
    assert row is not None and row.in_scope is True

    assert cli(env, "scope", "160", "--default") == 0
    row = env.meeting("5040")
    assert row is not None and row.in_scope is False

    before = dump(env.db)
    assert cli(env, "scope", "Licencing", "--out") == 2
    assert "no imported meetings of a committee 'Licencing'" in capsys.readouterr().err
    assert dump(env.db) == before


def test_sync_without_a_source_says_what_to_configure(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(env, "sync") == 2
    assert "set [meetings] moderngov_url" in capsys.readouterr().err


def test_sync_command_against_the_fake_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: FakeModernGov,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("api.meetings.sync.utcnow", lambda: NOW)
    env = make_env(tmp_path, f'[meetings]\nmoderngov_url = "{fake.base_url}"\n')
    assert cli(env, "sync", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["source"] == fake.base_url
    assert result["window"] == ["2024-03-08T00:00:00+00:00", "2024-06-13T23:00:00+00:00"]
    assert {m["source_id"] for m in result["meetings"]} == {
        "6001", "6002", "6010", "6011", "6012", "6040"}
    assert cli(env, "sync") == 0
    assert "created 0, updated 0, cancelled 0, unchanged 6" in capsys.readouterr().out

    # An unreachable site (nothing listens on this loopback port): clear error, no change.
    before = dump(env.db)
    broken = make_env(tmp_path / "broken", '[meetings]\nmoderngov_url = "http://127.0.0.1:9"\n'
                                           "timeout_seconds = 2\n")
    assert cli(broken, "sync", "--json") == 2
    err = capsys.readouterr().err
    assert err.startswith("chamberguard: nothing synced: ") and "127.0.0.1:9" in err
    assert broken.counts() == (0, 0, 1)
    assert dump(env.db) == before
    env.db.dispose()
    broken.db.dispose()
