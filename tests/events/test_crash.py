"""kill -9 of a writer mid-stream: every event it acknowledged is in the database after a
restart (a new writer on the same spool replays it), exactly once.

Two variants: the database keeps up (most acknowledged rows are already committed, the rest
come from the spool), and the database is blocked by the test (nothing can be committed, so
every acknowledged row must come from the spool).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.events import EventWriter
from monitor.evidence.sink import ADVISORY_KEY
from monitor.store.db import Database

ROOT = Path(__file__).resolve().parents[2]
KILL_AFTER = 20_000  # acknowledged events before the kill


@contextmanager
def blocked(db_url: str) -> Iterator[None]:
    """Hold the database's event-insert lock so the writer can commit nothing."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the one write lock
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        import psycopg

        url = db_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
            yield
            pg.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))


def run_and_kill(db_url: str, spool: Path) -> int:
    """Start a writer process, kill -9 it once it has acknowledged KILL_AFTER events, and
    return the last acknowledgement it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.events.writer_child", db_url, str(spool), "chamber", "0",
         "--forever"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    acked = 0
    try:
        for line in proc.stdout:
            if line.startswith(b"ack "):
                acked = int(line.split()[1])
                if acked >= KILL_AFTER:
                    break
        else:
            raise AssertionError("writer exited before acknowledging anything")
        os.kill(proc.pid, signal.SIGKILL)
        # Acknowledgements printed before the kill may still be in the pipe: they count too.
        for line in proc.stdout:
            if line.startswith(b"ack "):
                acked = int(line.split()[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    return acked


def stored(db: Database) -> tuple[set[int], int, int]:
    with db.engine.connect() as c:
        details = [d for (d,) in c.execute(text(
            "SELECT detail FROM events WHERE kind = 'attempt'"))]
        total, uids = c.execute(text(
            "SELECT count(*), count(DISTINCT uid) FROM events WHERE kind = 'attempt'")).one()
    return {int(d.removeprefix("n=")) for d in details}, int(total), int(uids)


@pytest.mark.parametrize("db_blocked", [False, True], ids=["db-keeping-up", "db-blocked"])
def test_kill_9_loses_no_acknowledged_event(db_url: str, tmp_path: Path, db_blocked: bool) -> None:
    spool = tmp_path / "spool"
    if db_blocked:
        with blocked(db_url):
            acked = run_and_kill(db_url, spool)
    else:
        acked = run_and_kill(db_url, spool)
    assert acked >= KILL_AFTER
    db = Database(db_url)
    before, _, _ = stored(db)
    if db_blocked:
        assert before == set(), "nothing could have been committed while the database was held"
    assert any(spool.glob("*.spool")), "the killed writer left its spool behind"

    # Restart: a new writer on the same spool replays whatever did not reach the database.
    w = EventWriter(db, room="chamber", spool_dir=spool)
    w.start()
    assert w.flush(60)
    w.stop()
    got, total, uids = stored(db)
    print(f"acked={acked} committed-before={len(before)} replayed={w.replayed} stored={len(got)}")
    missing = set(range(acked)) - got
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert total == uids == len(got), "replay must not duplicate rows"
    assert w.replayed >= len(got - before) > 0 or not (got - before)
    if db_blocked:
        assert w.replayed >= acked
    assert [p.name for p in spool.iterdir()] == [".lock"], "replayed spool is deleted"
    db.dispose()
