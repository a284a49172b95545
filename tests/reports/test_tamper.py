"""Integrity against someone with database access: every tamper path the issue names.

* events altered after a report: ``report verify`` says ALTERED and exits non-zero;
* the chain recomputed after altering events (every link holds): the signed checkpoint
  outside the database names the event whose hash changed;
* a faked purge anchor (a prefix deleted, the anchor set to the last deleted hash, even with
  a purge record): no checkpointed purge left that anchor;
* the ``legacy_max_id`` path (hashes removed, the pre-chain range raised): the checkpoint
  recorded a smaller range;
* the checkpoint file itself edited: its line's signature fails.

Checkpoints are written on each report (and after purges, and daily); the file is tested,
the system-log copy is best effort (a test host may have no journal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from api.reports import service
from dashboard.main.cli import main
from monitor.evidence import chain, checkpoint
from tests.reports.seed import NOW, Golden, seed_golden


def _cli(g: Golden, *args: str) -> int:
    return main(["--config", str(g.settings.site.data_dir / "chamberguard.toml"), *args])


@pytest.fixture
def issued(tmp_path: Path) -> tuple[Golden, Path]:
    g = seed_golden(tmp_path)
    out = tmp_path / "meeting.json"
    assert _cli(g, "report", str(g.ids["meeting"]), "--format", "json", "-o", str(out)) == 0
    return g, out


def _recompute_chain(g: Golden) -> None:
    """What an attacker with database access can do: rehash every row from the anchor and
    move the head, so that every link holds again."""
    with g.db.engine.begin() as c:
        st = chain.read_state(c)
        rows = c.execute(text(f"SELECT id, {', '.join(chain.CONTENT)} FROM events "
                              "WHERE hash IS NOT NULL ORDER BY id")).fetchall()
        prev = st.anchor_hash
        for r in rows:
            h = chain.link(prev, tuple(r[1:]))
            c.execute(text("UPDATE events SET prev_hash = :p, hash = :h WHERE id = :i"),
                      {"p": prev, "h": h, "i": r[0]})
            prev = h
        chain.set_head(c, prev)


def test_a_report_checkpoints_the_chain_head(issued: tuple[Golden, Path]) -> None:
    g, _ = issued
    p = checkpoint.path_of(g.settings.site.data_dir)
    lines = p.read_text().splitlines()
    assert len(lines) == 1
    cp = json.loads(lines[0])
    assert cp["reason"] == "report" and cp["head_id"] and len(cp["sig"]) > 40
    with g.db.engine.connect() as c:
        assert cp["head_hash"] == chain.snapshot(c, None).head_hash
    assert _cli(g, "verify-chain") == 0
    g.db.dispose()


def test_events_altered_after_the_report_exit_non_zero_with_altered(
        issued: tuple[Golden, Path], capsys: pytest.CaptureFixture[str]) -> None:
    g, out = issued
    capsys.readouterr()
    with g.db.engine.begin() as c:
        c.execute(text("UPDATE events SET platform = 'youtube' WHERE platform = 'tiktok'"))
    assert _cli(g, "report", "verify", str(out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("ALTERED:") and "OK: intact" not in err
    assert _cli(g, "verify-chain") == 1
    g.db.dispose()


def test_a_recomputed_chain_is_caught_by_the_checkpoint(
        issued: tuple[Golden, Path], capsys: pytest.CaptureFixture[str]) -> None:
    g, out = issued
    with g.db.engine.begin() as c:
        c.execute(text("UPDATE events SET platform = 'youtube' WHERE platform = 'tiktok'"))
    _recompute_chain(g)
    with g.db.engine.connect() as c:
        assert chain.verify_chain(c).ok  # every link holds: the database alone cannot tell
    capsys.readouterr()
    assert _cli(g, "verify-chain") == 1
    err = capsys.readouterr().err
    assert "ALTERED" in err and "chain recomputed" in err
    assert _cli(g, "report", "verify", str(out)) == 1
    assert capsys.readouterr().err.startswith("ALTERED:")
    g.db.dispose()


def test_a_faked_purge_anchor_is_caught(issued: tuple[Golden, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    g, out = issued
    with g.db.engine.begin() as c:  # delete the first five events as if purged
        last_id, last_hash = c.execute(text("SELECT id, hash FROM events ORDER BY id "
                                            "LIMIT 1 OFFSET 4")).one()
        c.execute(text("DELETE FROM events WHERE id <= :i"), {"i": last_id})
        chain.set_anchor(c, anchor_hash=last_hash, anchor_event_id=last_id, legacy_max_id=0)
        c.execute(text("INSERT INTO evidence_purges (ts, actor, events_cutoff, events_deleted, "
                       "anchor_hash, late_events_kept, reports_cutoff, reports_deleted, "
                       "devices_deleted) VALUES ('2026-07-01 00:00:00', 'daily-purge', "
                       "'2026-06-10 18:20:00', 5, :h, 0, '2020-01-01 00:00:00', 0, 0)"),
                  {"h": last_hash})
    with g.db.engine.connect() as c:
        assert chain.verify_chain(c).ok  # the links from the new anchor hold
    capsys.readouterr()
    assert _cli(g, "verify-chain") == 1
    assert "purge anchor was faked" in capsys.readouterr().err
    assert _cli(g, "report", "verify", str(out)) == 1
    assert "ALTERED" in capsys.readouterr().err
    g.db.dispose()


def test_the_legacy_path_is_caught(issued: tuple[Golden, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    g, out = issued
    with g.db.engine.begin() as c:  # alter, remove the hashes, call them pre-chain
        top = int(c.execute(text("SELECT max(id) FROM events WHERE platform = 'tiktok'"))
                  .scalar_one())
        c.execute(text("UPDATE events SET platform = 'youtube' WHERE platform = 'tiktok'"))
        c.execute(text("UPDATE events SET hash = NULL, prev_hash = NULL WHERE id <= :i"),
                  {"i": top})
        st = chain.read_state(c)
        chain.set_anchor(c, anchor_hash=st.anchor_hash, anchor_event_id=0, legacy_max_id=top)
    _recompute_chain(g)
    with g.db.engine.connect() as c:
        assert chain.verify_chain(c).ok
    capsys.readouterr()
    assert _cli(g, "verify-chain") == 1
    assert "written before the chain existed" in capsys.readouterr().err
    assert _cli(g, "report", "verify", str(out)) == 1
    g.db.dispose()


def test_an_edited_checkpoint_file_is_caught(issued: tuple[Golden, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    g, _ = issued
    p = checkpoint.path_of(g.settings.site.data_dir)
    cp = json.loads(p.read_text())
    cp["head_hash"] = "0" * 64
    p.write_text(json.dumps(cp, sort_keys=True, separators=(",", ":")) + "\n")
    capsys.readouterr()
    assert _cli(g, "verify-chain") == 1
    assert "line 1: ALTERED" in capsys.readouterr().err
    g.db.dispose()


def test_a_genuine_purge_is_checkpointed_and_still_verifies(tmp_path: Path) -> None:
    g = seed_golden(tmp_path, extra="[retention]\nevents_days = 30\n")
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    data = service.issue(db=g.db, settings=g.settings, doc=doc, fmt="json", actor="t")
    res = service.run_purge(db=g.db, settings=g.settings, actor="test")
    assert res.events_deleted > 0
    reasons = [json.loads(x)["reason"] for x in
               checkpoint.path_of(g.settings.site.data_dir).read_text().splitlines()]
    assert reasons == ["report", "purge"]
    assert service.verify_events(db=g.db, settings=g.settings).ok
    v = service.verify_file(data=data, settings=g.settings, db=g.db)
    assert not v.altered, v.reason
    assert any("moved to event" in d or "purged" in d for d in v.details)
    g.db.dispose()
