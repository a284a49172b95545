"""Chain gaps (the "counts" privacy level's removed runs) are covered by the signed
checkpoint outside the database: deleting, editing or adding a ``chain_gaps`` row is named by
``report verify`` (ALTERED, exit 1) and by ``verify-chain``, even where the chain links."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from api.reports import service
from dashboard.main.cli import main
from monitor.evidence import checkpoint
from monitor.evidence.levels import sync_level
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from tests.reports.seed import Golden, make_settings, seed_golden

COUNTS = '[privacy]\nlevel = "counts"\n'


@pytest.fixture
def collapsed(tmp_path: Path) -> Iterator[tuple[Golden, Path]]:
    """The golden meeting under "counts", reported (so collapsed into totals and gaps)."""
    settings = make_settings(tmp_path, COUNTS)
    upgrade(settings.database_url)
    pre = Database(settings.database_url)
    sync_level(pre, settings)
    pre.dispose()
    g = seed_golden(tmp_path, extra=COUNTS)
    out = tmp_path / "meeting.json"
    assert _cli(g, "report", str(g.ids["meeting"]), "--format", "json", "-o", str(out)) == 0
    with g.db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM chain_gaps")).scalar()
    yield g, out
    g.db.dispose()


def _cli(g: Golden, *args: str) -> int:
    return main(["--config", str(g.settings.site.data_dir / "chamberguard.toml"), *args])


def test_the_checkpoint_lists_the_gaps_and_an_intact_database_verifies(
        collapsed: tuple[Golden, Path], capsys: pytest.CaptureFixture[str]) -> None:
    g, out = collapsed
    pub = service.signing.installation_public(g.settings.site.data_dir)
    last = checkpoint.read(g.settings.site.data_dir, pub)[-1]
    with g.db.engine.connect() as c:
        rows = c.execute(text("SELECT first_event_id, last_event_id FROM chain_gaps "
                              "ORDER BY first_event_id")).fetchall()
    assert last.gaps is not None and [(a, b) for a, b, _ in last.gaps] == \
        [(int(a), int(b)) for a, b in rows]
    capsys.readouterr()
    assert _cli(g, "report", "verify", str(out)) == 0
    assert _cli(g, "verify-chain") == 0


@pytest.mark.parametrize("tamper", ["delete", "edit-count", "edit-meeting"])
def test_a_changed_gap_row_is_named(collapsed: tuple[Golden, Path], tamper: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    g, out = collapsed
    sql = {"delete": "DELETE FROM chain_gaps WHERE id = (SELECT min(id) FROM chain_gaps)",
           "edit-count": "UPDATE chain_gaps SET events = events + 1 WHERE id = "
                         "(SELECT min(id) FROM chain_gaps)",
           "edit-meeting": "UPDATE chain_gaps SET meeting_id = meeting_id + 1000 WHERE id = "
                           "(SELECT min(id) FROM chain_gaps)"}[tamper]
    with g.db.engine.begin() as c:
        c.execute(text(sql))
    capsys.readouterr()
    assert _cli(g, "report", "verify", str(out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("ALTERED") and "chain gap over events" in err, err
    assert _cli(g, "verify-chain") == 1
    err = capsys.readouterr().err
    if tamper != "delete":  # a deleted gap also breaks the links, which is said first
        assert "chain gap over events" in err, err


def test_a_gap_row_added_behind_the_checkpoints_is_named(
        collapsed: tuple[Golden, Path], capsys: pytest.CaptureFixture[str]) -> None:
    g, _ = collapsed
    with g.db.engine.begin() as c:
        c.execute(text(
            "INSERT INTO chain_gaps (meeting_id, first_event_id, last_event_id, events, "
            "prev_hash, last_hash, created_at) SELECT meeting_id, last_event_id + 100000, "
            "last_event_id + 100001, 2, 'f' || substr(prev_hash, 2), last_hash, created_at "
            "FROM chain_gaps WHERE id = (SELECT min(id) FROM chain_gaps)"))
    problems = service.checkpoint_problems(g.db, g.settings)
    assert any("is in no checkpoint" in p for p in problems), problems
