"""The event hash chain: written by the sink under the insert lock, one chain for every
writer; `verify-chain` names the first bad id for a removed, altered, inserted or cut-off
event. On SQLite always, on PostgreSQL where the throwaway cluster can start."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text

from api.reports import service
from dashboard.main.cli import main
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.evidence import chain
from monitor.evidence.sink import COLUMNS, insert_events
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Base, Event
from tests.pg import pg_cluster  # noqa: F401  (session fixture)
from tests.reports.seed import NOW, seed_golden

T0 = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


def rec(i: int, **kw: object) -> EventRecord:
    base: dict[str, object] = dict(ts=T0 + timedelta(seconds=i), kind=EventKind.ATTEMPT,
                                   action=EventAction.REFUSED, room="chamber",
                                   mac="02:00:5e:10:00:01", device_id=1, member_id=1,
                                   meeting_id=1, domain="i.instagram.com",
                                   platform="instagram", category="platform")
    base.update(kw)
    return EventRecord(**base)  # type: ignore[arg-type]


def verify(db: Database) -> chain.ChainReport:
    return service.verify_events(db=db)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    d = Database(url)
    yield d
    d.dispose()


def test_canonical_form_is_documented_json() -> None:
    row = ("u-1", "2026-06-10 18:00:00.000000", "attempt", "refused", "chamber",
           "02:00:5e:10:00:01", 1, 2, None, "bücher.example", "instagram", "platform", "dns",
           None, 'a "quoted" détail')
    body = json.dumps(list(row), separators=(",", ":"))
    want = hashlib.sha256(f"cg-event/1\n{chain.GENESIS}\n{body}".encode()).hexdigest()
    assert chain.link(chain.GENESIS, row) == want
    linked, head = chain.chain_rows(chain.GENESIS, [row, row])
    assert linked[0][-1] == want and linked[1][-2] == want and head == linked[1][-1]
    # Types from elsewhere (a datetime, an id as text) hash the same as the storage form.
    odd: list[object] = list(row)
    odd[1] = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
    odd[6] = "1"
    assert chain.link(chain.GENESIS, odd) == want


def test_rows_encoded_once_hash_and_spool_exactly_as_encoded_apart() -> None:
    """The writer encodes each row once for the spool and the chain: the spool line and
    the hashes must be byte for byte what each would make on its own, odd rows included."""
    from monitor.evidence.spool import decode_batch, encode_batch

    good = ("u-1", "2026-06-10 18:00:00.000000", "attempt", "refused", "chamber",
            "02:00:5e:10:00:01", 1, 2, None, "bücher.example", "instagram", "platform", "dns",
            None, 'a "quoted" détail\nline')
    odd = ("u-2", None, "outage", "observed", None, None, True, "3", None, None, None, None,
           "dns", None, None)  # naive time stored as None; ids of other types
    rows = [good, odd, good]
    raw, bodies = chain.encode_rows(rows)
    assert raw == [json.dumps(list(r), separators=(",", ":")) for r in rows]
    assert bodies[0] is raw[0] and bodies[1] == chain.canonical(odd) != raw[1]
    assert encode_batch(rows, raw) == encode_batch(rows)
    assert decode_batch(encode_batch(rows, raw))[0] == [list(r) for r in rows]
    assert chain.chain_rows("ab" * 32, rows, bodies) == chain.chain_rows("ab" * 32, rows)
    with pytest.raises(ValueError):
        chain.chain_rows(chain.GENESIS, rows, bodies[:2])
    with pytest.raises(ValueError):
        encode_batch(rows, raw[:1])


def test_every_sink_row_is_linked_and_the_chain_verifies(db: Database) -> None:
    store_now(db, [rec(i) for i in range(5)])
    store_now(db, [rec(i, kind=EventKind.BYPASS, platform=None, detail="doh")
                   for i in range(5, 8)])
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT id, prev_hash, hash FROM events ORDER BY id")).all()
        head = chain.read_state(c).head_hash
    assert rows[0][1] == chain.GENESIS
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
    assert head == rows[-1][2]
    rep = verify(db)
    assert rep.ok and rep.checked == 8 and (rep.first_id, rep.last_id) == (1, 8)


def test_a_removed_event_names_the_next_id(db: Database) -> None:
    store_now(db, [rec(i) for i in range(6)])
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM events WHERE id = 3"))
    rep = verify(db)
    assert not rep.ok and rep.problem is not None
    assert rep.problem.event_id == 4 and "does not follow event 2" in rep.problem.reason


def test_an_altered_event_is_named(db: Database) -> None:
    store_now(db, [rec(i) for i in range(6)])
    with db.engine.begin() as c:
        c.execute(text("UPDATE events SET platform = 'linkedin' WHERE id = 5"))
    rep = verify(db)
    assert not rep.ok and rep.problem is not None
    assert rep.problem.event_id == 5 and "altered" in rep.problem.reason


def test_a_rehashed_alteration_breaks_the_next_link(db: Database) -> None:
    """Recomputing the altered row's own hash moves the failure to the next row."""
    store_now(db, [rec(i) for i in range(6)])
    with db.engine.begin() as c:
        row = c.execute(text(f"SELECT {', '.join(COLUMNS)}, prev_hash FROM events "
                             "WHERE id = 2")).one()
        new = list(row[:-1])
        new[COLUMNS.index("member_id")] = 99
        c.execute(text("UPDATE events SET member_id = 99, hash = :h WHERE id = 2"),
                  {"h": chain.link(row[-1], new)})
    rep = verify(db)
    assert not rep.ok and rep.problem is not None and rep.problem.event_id == 3


def test_the_first_and_the_last_events_are_covered(db: Database) -> None:
    store_now(db, [rec(i) for i in range(4)])
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM events WHERE id = 4"))
    rep = verify(db)
    assert not rep.ok and rep.problem is not None
    assert rep.problem.event_id == 3 and "latest events were removed" in rep.problem.reason
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM events WHERE id = 1"))
    rep = verify(db)
    assert not rep.ok and rep.problem is not None
    assert rep.problem.event_id == 2 and "start of the chain" in rep.problem.reason


def test_a_row_written_outside_the_sink_is_unchained(db: Database) -> None:
    store_now(db, [rec(i) for i in range(3)])
    with db.engine.begin() as c:
        c.execute(insert(Event), [rec(9).row("sneaked-in")])
    rep = verify(db)
    assert not rep.ok and rep.problem is not None
    assert rep.problem.event_id == 4 and "not chained" in rep.problem.reason


def test_replayed_rows_are_not_linked_twice(db: Database) -> None:
    rows = [rec(i).wire(f"boot-{i}") for i in range(6)]
    with db.engine.begin() as c:
        insert_events(c, rows[:3])
    with db.engine.begin() as c:  # a spool replay: half already stored, one repeated
        insert_events(c, rows[1:] + [rows[4]])
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM events")).scalar() == 6
    rep = verify(db)
    assert rep.ok and rep.checked == 6
    with db.engine.begin() as c:  # all known: nothing inserted, head unchanged
        insert_events(c, rows)
    assert verify(db).ok


def _concurrent_writers(url: str, writers: int = 4, batches: int = 15, size: int = 20) -> None:
    errors: list[BaseException] = []

    def work(w: int) -> None:
        d = Database(url)
        try:
            for b in range(batches):
                recs = [rec(b * size + i, room=f"room-{w}") for i in range(size)]
                store_now(d, recs)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            d.dispose()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_writers_keep_one_chain_sqlite(db: Database) -> None:
    _concurrent_writers(db.url)
    rep = verify(db)
    assert rep.ok, rep.problem
    assert rep.checked == 4 * 15 * 20


@pytest.mark.postgres
def test_concurrent_writers_keep_one_chain_postgresql(pg_cluster) -> None:  # noqa: F811
    url = pg_cluster.new_database()
    _concurrent_writers(url, writers=6)
    d = Database(url)
    try:
        rep = verify(d)
        assert rep.ok, rep.problem
        assert rep.checked == 6 * 15 * 20
        rows = [rec(i).wire(f"pg-{i}") for i in range(4)]
        with d.engine.begin() as c:
            insert_events(c, rows[:2])
        with d.engine.begin() as c:
            insert_events(c, rows)
        assert verify(d).ok and verify(d).checked == 6 * 15 * 20 + 4
        with d.engine.begin() as c:
            c.execute(text("DELETE FROM events WHERE id = (SELECT min(id) + 7 FROM events)"))
        bad = verify(d)
        assert not bad.ok and bad.problem is not None and "does not follow" in \
            bad.problem.reason
    finally:
        d.dispose()


@pytest.mark.postgres
def test_golden_report_on_postgresql(pg_cluster, tmp_path: Path) -> None:  # noqa: F811
    g = seed_golden(tmp_path, url=pg_cluster.new_database())
    try:
        doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                            meeting_id=g.ids["meeting"], now=NOW)
        assert {m["name"]: (m["episodes"], m["lookups"], m["bypass_attempts"])
                for m in doc["members"]} == {"Cllr Ada Lovelace": (4, 7, 1),
                                             "Cllr Grace Hopper": (2, 5, 2)}
        data = service.issue(db=g.db, settings=g.settings, doc=doc, fmt="json", actor="t")
        v = service.verify_file(data=data, settings=g.settings, db=g.db)
        assert v.ok and any("unchanged" in d for d in v.details)
        assert verify(g.db).ok
    finally:
        g.db.dispose()


def test_legacy_rows_before_the_migration_are_counted_not_verified(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006_member_registration_codes")
    d = Database(url)
    with d.engine.begin() as c:
        c.execute(text(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES "
                       f"({', '.join(':' + k for k in COLUMNS)})"),
                  [dict(zip(COLUMNS, rec(i).wire(f"old-{i}"), strict=True)) for i in range(3)])
    d.dispose()
    upgrade(url)
    d = Database(url)
    try:
        store_now(d, [rec(10 + i) for i in range(2)])
        rep = verify(d)
        assert rep.ok and rep.legacy == 3 and rep.checked == 2 and rep.first_id == 4
        assert "before the hash chain existed" in rep.notes[0]
    finally:
        d.dispose()


def test_the_migration_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [x for x in diff if any(t in repr(x) for t in (
        "event_chain", "evidence_purges", "reports_issued", "prev_hash", "'hash'"))]
    assert ours == []


def test_cli_verify_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = seed_golden(tmp_path)
    cfg = str(tmp_path / "chamberguard.toml")
    assert main(["--config", cfg, "verify-chain"]) == 0
    assert "OK: 20 chained events verified" in capsys.readouterr().out
    with g.db.engine.begin() as c:
        c.execute(text("DELETE FROM events WHERE id = 9"))
    assert main(["--config", cfg, "verify-chain"]) == 1
    assert "FAILED at event 10" in capsys.readouterr().err
    assert main(["--config", cfg, "verify-chain", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad_id"] == 10
    g.db.dispose()


def test_a_report_notices_events_altered_after_it(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    data = service.issue(db=g.db, settings=g.settings, doc=doc, fmt="csv", actor="t")
    last = doc["evidence"]["last_event_id"]
    with g.db.engine.begin() as c:
        c.execute(text("UPDATE events SET hash = :h WHERE id = :i"), {"h": "f" * 64, "i": last})
    v = service.verify_file(data=data, settings=g.settings, db=g.db)
    # the file itself is intact, but the events it was made from are not: never "OK"
    assert not v.ok and v.altered and v.reason.startswith("ALTERED:")
    assert any("different hash now" in d for d in v.details)
    g.db.dispose()
