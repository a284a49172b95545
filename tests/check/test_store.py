"""Check requests and their typed lines in the database, on SQLite and PostgreSQL: asked,
claimed once, answered in order, read back; the migration matches the model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.check import requests
from monitor.check.model import Item, Line, RequestState, Status
from monitor.store.db import Database

T = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def test_ask_claim_finish_read(db: Database) -> None:
    with db.session() as s:
        cid = requests.ask(s, "chamber", "clerk", T)
    with db.session() as s:
        v = requests.read(s, cid, T + timedelta(seconds=1))
        assert v is not None and v.state is RequestState.PENDING and not v.finished
        assert requests.claim(s, "chamber", T + timedelta(seconds=1)) == cid
    with db.session() as s:
        assert requests.claim(s, "chamber", T + timedelta(seconds=1)) is None
        v = requests.read(s, cid, T + timedelta(seconds=2))
        assert v is not None and v.state is RequestState.RUNNING
    lines = [Line(Item.GATE, Status.OK, "Running."),
             Line(Item.AGENDA, Status.FAIL, "refused — with a dash and ‘quotes’")]
    with db.session() as s:
        requests.finish(s, cid, lines, T + timedelta(seconds=3))
    with db.session() as s:
        v = requests.read(s, cid, T + timedelta(minutes=5))
    assert v is not None and v.state is RequestState.DONE and v.finished and not v.ok
    assert v.lines == tuple(lines) and v.seconds == 3.0
    assert requests.as_text(v)[-1] == "Not ready (checked in 3.0 s)"


def test_a_claimed_check_that_never_finishes_is_unanswered(db: Database) -> None:
    with db.session() as s:
        cid = requests.ask(s, "chamber", "it", T)
        requests.claim(s, "chamber", T)
    with db.session() as s:
        v = requests.read(s, cid, T + requests.FINISH_WITHIN + timedelta(seconds=1))
    assert v is not None and v.state is RequestState.UNANSWERED and not v.ok
    assert "did not finish it in time" in requests.unanswered_text(v)


def test_the_migration_matches_the_model(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from monitor.store.models import Base

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "chamber_check" in repr(d)] == []
