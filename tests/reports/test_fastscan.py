"""The report scan's C pass (dashboard.reports._fastscan) against the Python reference.

``query._pass`` is the specification: ``_fastscan.group`` must return exactly its episodes,
tallies and bypass ids (times as integer microseconds since 2000-01-01 UTC), and must say
"out of order" exactly when the reference does. Checked with hypothesis on rows shaped as
both backends deliver them (integer times from PostgreSQL, stored text from SQLite, with
and without the meeting column, runs of repeated keys as an index scan gives them), plus
the time-text parser against ``datetime`` and a fuzz run of malformed rows and texts (a
clear ValueError, never a crash or a guess), and the switch that forces the Python pass.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.reports import query
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from tests.pg import pg_cluster  # noqa: F401  (session fixture)

fast = query._fastscan
needs_c = pytest.mark.skipif(fast is None, reason="dashboard.reports._fastscan not built")

PG0 = datetime(2000, 1, 1)
US = timedelta(microseconds=1)
GAP_US = 120_000_000


def text_to_us(s: str) -> int:
    return (datetime.fromisoformat(s) - PG0) // US


def reference(rows: list[tuple[Any, ...]], gap: int, meeting: int | None) -> Any:
    """query._pass with the same integer times the C pass uses; None when out of order."""
    rows_i = [(r[0], text_to_us(r[1]), *r[2:]) if isinstance(r[1], str) else r for r in rows]
    try:
        return query._pass(rows_i, gap, meeting, query._same)
    except query._OutOfOrder:
        return None


def as_text(us: int) -> str:
    return (PG0 + timedelta(microseconds=us)).isoformat(" ", "microseconds")


@st.composite
def row_lists(draw: Any) -> tuple[list[tuple[Any, ...]], int | None]:
    """Rows as the scan reads them: id, time, kind * 4 + action (small ints), device,
    member, platform, mac-if-no-device[, meeting]. Bursts repeat a key (as index order
    gives)."""
    with_meeting = draw(st.booleans())
    text = draw(st.booleans())
    n_bursts = draw(st.integers(0, 12))
    rows: list[tuple[Any, ...]] = []
    ids = draw(st.permutations(range(1, 400)))
    t = draw(st.integers(0, 10**15))
    for _ in range(n_bursts):
        dev = draw(st.sampled_from([1, 2, 300, None]))
        mem = draw(st.sampled_from([None, 1, 2, 1000]))
        plat = draw(st.sampled_from(["instagram", "x", "", None]))
        mac = None if dev is not None else draw(st.sampled_from(["aa:01", "aa:02"]))
        kind = draw(st.sampled_from([1, 1, 1, 2, 3, 0]))
        action = draw(st.sampled_from([1, 2, 3]))
        mid = draw(st.sampled_from([1, 2, None]))
        for _ in range(draw(st.integers(1, 8))):
            t += draw(st.sampled_from([0, 1, GAP_US - 1, GAP_US, GAP_US + 1, -1, -GAP_US,
                                       5_000_000]))
            t = max(t, 0)
            eid = ids[len(rows) % len(ids)]
            row: tuple[Any, ...] = (eid, as_text(t) if text else t, kind * 4 + action, dev,
                                    mem, plat, mac)
            rows.append(row + (mid,) if with_meeting else row)
    if draw(st.booleans()):
        rows.sort(key=lambda r: (r[1], r[0]))
    return rows, None if with_meeting else draw(st.sampled_from([7, 8]))


@needs_c
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row_lists(), st.sampled_from([1, GAP_US, 10**12]))
def test_group_equals_the_python_pass(case: Any, gap: int) -> None:
    rows, meeting = case
    want = reference(rows, gap, meeting)
    got = fast.group(list(rows), gap, meeting)
    if want is None:
        assert got is None
        # the caller sorts and runs again: then both agree on a result
        rows = sorted(rows, key=query._time_then_id)
        want, got = reference(rows, gap, meeting), fast.group(rows, gap, meeting)
    assert want is not None and got is not None
    eps, tal, byp = got
    assert eps == want[0]
    assert tal == want[1]
    assert byp == want[2]


@needs_c
def test_group_on_the_benchmark_shape() -> None:
    """20,000 rows in member order (the PostgreSQL index order), a few out of order."""
    rnd = random.Random(3)
    rows = []
    for i in range(20_000):
        mem = rnd.randrange(40)
        rows.append((i + 1, rnd.randrange(10**10), rnd.choice([1] * 30 + [2, 4]) * 4 + 1,
                     mem + 1, mem + 1, rnd.choice(["instagram", "x", "tiktok"]), None))
    rows.sort(key=lambda r: (r[4], r[1]))
    assert fast.group(rows, GAP_US, 5) == reference(rows, GAP_US, 5)
    rows[100], rows[101] = rows[101], rows[100]
    if reference(rows, GAP_US, 5) is None:
        assert fast.group(rows, GAP_US, 5) is None


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59,
                                                                     999999)),
       st.booleans(), st.sampled_from([" ", "T"]))
def test_time_text_as_datetime_reads_it(t: datetime, micro: bool, sep: str) -> None:
    s = t.isoformat(sep, "microseconds" if micro else "seconds")
    want = (datetime.fromisoformat(s) - PG0) // US
    assert fast.text_us(s) == want


BAD_TEXT = ["", "2026-13-01 00:00:00", "2026-02-29 00:00:00", "2026-04-31 12:00:00",
            "2026-01-01 24:00:00", "2026-01-01 00:60:00", "2026-01-01 00:00:60",
            "0000-01-01 00:00:00", "2026-01-01 00:00:00.12345", "2026-01-01 00:00:00+00:00",
            "2026-01-01T00:00:00Z", "2026/01/01 00:00:00", "２０２６-01-01 00:00:00",
            "2026-01-01 00:00:00.1234567", "2026-01-01x00:00:00", "2026-1-01 00:00:00"]


@needs_c
@pytest.mark.parametrize("s", BAD_TEXT)
def test_time_text_not_in_the_stored_form_is_refused(s: str) -> None:
    with pytest.raises(ValueError):
        fast.text_us(s)


@needs_c
def test_fuzz_rows_and_texts_never_crash() -> None:
    """Random and mutated rows: a result equal to the reference, None (out of order), or
    ValueError — nothing else escapes, and nothing is guessed."""
    rnd = random.Random(11)
    base = "2026-03-29 00:59:59.999999"
    values: list[Any] = [None, 0, 1, -1, 2**63, -(2**63) - 1, 2**70, "", "x", 1.5, b"b",
                         True, (1,), base, "2026-03-29 01:00:00"]
    for _ in range(20_000):
        s = list(base)
        for _ in range(rnd.randint(1, 3)):
            s[rnd.randrange(len(s))] = chr(rnd.choice([rnd.randrange(32, 127),
                                                       rnd.randrange(0x80, 0x3000)]))
        text = "".join(s)[: rnd.choice([26, 19, 25, 27, 0])]
        try:
            got = fast.text_us(text)
        except ValueError:
            continue
        assert got == text_to_us(text)
    for _ in range(5_000):
        width = rnd.choice([7, 8, 6, 9])
        row = tuple(rnd.choice(values) for _ in range(width))
        rows: Any = [row, (1, 5, 5, 1, 1, "x", None, 2, 2)[:width]]
        meeting = None if width == 8 else 3
        try:
            got = fast.group(rows, GAP_US, meeting)
        except (ValueError, TypeError):
            continue
        assert got == reference(rows, GAP_US, meeting)
    with pytest.raises(TypeError):
        fast.group((), GAP_US, None)
    with pytest.raises(ValueError):
        fast.group([(1, 5, 5, 1, 1, "x", None), (2, base, 5, 1, 1, "x", None)], 1, 1)


def test_the_switch_forces_the_python_pass(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    db = Database(url)
    t0 = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    store_now(db, [EventRecord(t0 + timedelta(seconds=30 * i), EventKind.ATTEMPT,
                               EventAction.REFUSED, room="chamber", mac="02:00:5e:00:00:01",
                               device_id=1, member_id=1, meeting_id=1, domain="x.com",
                               platform="x", category="platform") for i in range(10)])
    calls: list[int] = []
    if fast is not None:
        class Spy:
            @staticmethod
            def group(*a: Any) -> Any:
                calls.append(1)
                return fast.group(*a)
        monkeypatch.setattr(query, "_fastscan", Spy)
    results = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(query.FAST_SWITCH, switch)
        with db.session() as s:
            sc = query.scan(s.connection(), timedelta(minutes=2), "meeting_id = ?", [1],
                            meeting_id=1)
        results[switch] = ([(e.first, e.last, e.lookups) for e in sc.episodes],
                           [(t.count, t.first, t.last) for t in sc.tallies])
        if switch == "1" and fast is not None:
            assert calls == [1]
    assert calls == ([1] if fast is not None else [])
    assert results["1"] == results["0"] == (
        [(t0, t0 + timedelta(seconds=270), 10)], [(10, t0, t0 + timedelta(seconds=270))])
    db.dispose()


def varied_events(seed: int, n: int = 3000) -> list[EventRecord]:
    """Ids, times and names of every sort the raw PostgreSQL reader meets: NULL device,
    member and platform, empty and non-ASCII platform names, MACs for unregistered
    devices, ids beyond the small-int and cache ranges, every kind and action."""
    rnd = random.Random(seed)
    t0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    kinds = list(EventKind)
    out = []
    for _ in range(n):
        dev = rnd.choice([1, 2, 700, 70_000, None])
        plat = rnd.choice(["instagram", "x", "", None, "mastodon.café", "ïnstagram", "脸书"])
        out.append(EventRecord(
            t0 + timedelta(microseconds=rnd.randrange(0, 3 * 3600 * 10**6)),
            rnd.choice(kinds[:2] * 6 + kinds), rnd.choice(list(EventAction)), room="chamber",
            mac=rnd.choice(["02:00:5e:00:00:01", "da:a1:19:00:00:07", None]), device_id=dev,
            member_id=rnd.choice([dev, 3, 300, None]) if dev else None,
            meeting_id=rnd.choice([1, 1, 2, None]), domain="x.example",
            platform=plat or None if plat is None else plat, category="platform"))
    return out


@needs_c
@pytest.mark.postgres
def test_pgresult_pass_equals_the_row_pass_and_the_reference(pg_cluster) -> None:  # noqa: F811
    """The pass straight over PostgreSQL's binary result gives what the pass over the
    driver's rows and the Python reference give, with and without the meeting column;
    a result of another shape is refused (ValueError), never misread; and the scan
    really takes that route on PostgreSQL."""
    assert fast.libpq_found()
    d = Database(pg_cluster.new_database())
    try:
        store_now(d, varied_events(9))
        with d.engine.connect() as c:
            raw: Any = c.connection.driver_connection
            for where, meeting in (("meeting_id = 1", 1), ("meeting_id IN (1, 2)", None),
                                   ("TRUE", None)):
                cols = query._COLS + ("" if meeting else ", meeting_id")
                sql = f"SELECT {cols} FROM events WHERE {where} ORDER BY ts, id"
                with raw.cursor(binary=True) as cur:
                    cur.execute(sql)
                    got = fast.group_pgresult(cur.pgresult.pgresult_ptr, GAP_US, meeting)
                rows = query._fetch(c, sql, [], binary=True)
                assert got is not None and len(rows) > 100
                assert got == fast.group(rows, GAP_US, meeting)
                assert got == reference(rows, GAP_US, meeting)
            with raw.cursor(binary=True) as cur:  # another shape: refused
                cur.execute("SELECT id, ts, kind, action, device_id, member_id, platform "
                            "FROM events")
                with pytest.raises(ValueError):
                    fast.group_pgresult(cur.pgresult.pgresult_ptr, GAP_US, 1)
                cur.execute(f"SELECT {query._COLS} FROM events")
                with pytest.raises(ValueError):  # the meeting column missing
                    fast.group_pgresult(cur.pgresult.pgresult_ptr, GAP_US, None)
            with raw.cursor() as cur:  # text format: refused
                cur.execute(f"SELECT {query._COLS} FROM events")
                with pytest.raises(ValueError):
                    fast.group_pgresult(cur.pgresult.pgresult_ptr, GAP_US, 1)
            with pytest.raises(ValueError):
                fast.group_pgresult(0, GAP_US, 1)
        # a meeting where no row order is "out of order" (one lookup per device), whatever
        # order the server reads the rows in
        t0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
        store_now(d, [EventRecord(t0 + timedelta(seconds=7 * i), EventKind.ATTEMPT,
                                  EventAction.REFUSED, room="chamber", device_id=1 + i,
                                  member_id=1 + i, meeting_id=5, domain="x.com",
                                  platform="x", category="platform") for i in range(300)])
        with d.engine.connect() as c:
            taken: list[Any] = []
            real = query._group_pgresult

            def spy(*a: Any) -> Any:
                taken.append(got := real(*a))
                return got

            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(query, "_group_pgresult", spy)
                sc = query.scan(c, timedelta(minutes=2), "meeting_id = ?", [5], order=None,
                                meeting_id=5)
            assert len(taken) == 1 and taken[0] is not None
            assert [(e.device_id, e.lookups) for e in sc.episodes] == [
                (1 + i, 1) for i in range(300)]
    finally:
        d.dispose()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
