"""Report queries: one pass over the events a report covers.

A heavy meeting holds tens of thousands of lookups (background sync). The report reads
them once, through the driver's cursor, and in that single pass builds everything it needs:

* **episodes** by the gap rule of :mod:`allowlist.episodes` — lookups are ``attempt`` events
  with a platform; per (meeting, device key, platform), where the device key is the device
  id, else the MAC; a lookup joins the open episode when it comes *strictly less* than
  ``gap`` after that episode's previous lookup, else starts a new one. The loop is that
  rule written for speed (no per-row objects); ``tests/reports/test_query.py`` checks it
  equals :func:`allowlist.episodes.group_episodes` on edge cases and random data;
* **tallies** per (meeting, member, device, kind, action, platform named?) — count, first
  and last time and id: presence, bypass counts, refused vs observed, events covered;
* the **bypass** events themselves (few), for the report to list.

Rows come in index order (member, time, id) where that needs no sort; if a device's lookups
ever arrive out of time order (its member changed during the meeting), the pass is redone
in (time, id) order, so the result never depends on the order rows were read in.

Speed (a meeting report is timed against the bare SQL aggregate, tests/bench/bench_report.py):
PostgreSQL sends times in its binary form, integer microseconds since 2000-01-01 UTC, read
as that integer (no server arithmetic, no datetime per row); the pass itself runs in C
(``_fastscan``, a port of :func:`_pass` checked against it in
tests/reports/test_fastscan.py) when built, unless ``CG_REPORT_ACCEL=0``. On PostgreSQL the
C pass reads the binary result itself (psycopg's ``pgresult_ptr``), so no Python object is
made per value; whatever it cannot read exactly falls back to psycopg's rows, then to the
Python pass.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from monitor.evidence.sink import ts_text
from monitor.settings import switched_off

_fastscan: Any
try:
    _fastscan = importlib.import_module("dashboard.reports._fastscan")
except ImportError:  # pragma: no cover - not built (no compiler): the Python pass runs
    _fastscan = None


@dataclass(slots=True)
class EpisodeRow:
    """One episode (the fields of allowlist.episodes.Episode that reports use)."""

    meeting_id: int | None
    device_id: int | None
    mac: str | None
    member_id: int | None
    platform: str
    first: datetime
    last: datetime
    lookups: int
    first_id: int = 0
    meeting_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Tally:
    """Events of one (meeting, member, device, kind, action, platform named?) group."""

    meeting_id: int | None
    member_id: int | None
    device_id: int | None
    mac: str | None
    kind: str
    action: str
    platform: bool
    count: int
    first_id: int
    last_id: int
    first: datetime
    last: datetime


@dataclass(slots=True)
class BypassRow:
    id: int
    ts: datetime
    action: str
    device_id: int | None
    mac: str | None
    member_id: int | None
    meeting_id: int | None
    domain: str | None
    detail: str | None


@dataclass(slots=True)
class Scan:
    episodes: list[EpisodeRow]
    tallies: list[Tally]
    bypasses: list[BypassRow]


class _OutOfOrder(Exception):
    """A device's rows came out of time order: sort and group again."""


# Kind and action come back as one small integer, kind * 4 + action (no string made per
# row, one value fewer to send and decode; a kind or action this version does not know is
# 0, "other"); mac only where it is the device key (no device id). Bypass details are read
# afterwards, by id (a few rows).
KINDS = ("attempt", "bypass", "device-seen", "outage", "allowed-sample")
ACTIONS = ("refused", "observed", "allowed")
_K = {i: k for i, k in enumerate(KINDS, 1)}
_A = {i: a for i, a in enumerate(ACTIONS, 1)}
ATTEMPT, BYPASS = 1, 2  # kinds: the pass tests ``kind_action >> 2``
_COLS = ("id, ts, CASE kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in _K.items())
         + " ELSE 0 END * 4 + CASE action " + " ".join(f"WHEN '{a}' THEN {i}"
                                                      for i, a in _A.items())
         + " ELSE 0 END, device_id, member_id, platform, "
         "CASE WHEN device_id IS NULL THEN mac END")


def _sql(conn: Connection, where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """``where`` uses ``?`` placeholders; datetimes become the dialect's form."""
    if conn.dialect.name == "sqlite":
        return where, [ts_text(p) if isinstance(p, datetime) else p for p in params]
    return where.replace("?", "%s"), list(params)


def scan(conn: Connection, gap: timedelta, where: str, params: list[Any], *,
         order: str | None = "ts, id", meeting_id: int | None = None) -> Scan:
    """Read the events matching ``where`` (``?`` placeholders, values in ``params``) once.

    ``order``: an ORDER BY the index serves for free on SQLite (e.g. ``member_id, ts,
    id``); PostgreSQL reads without one (its sort cost more than the rest of the report).
    Any order gives the same result: rows found out of time order for their device are
    sorted here by (time, id) and the pass is redone. ``meeting_id``: set when ``where``
    selects one meeting (its id is then not read per row)."""
    cond, args = _sql(conn, where, params)
    sqlite = conn.dialect.name == "sqlite"
    cols = _COLS if meeting_id is not None else _COLS + ", meeting_id"
    sql = f"SELECT {cols} FROM events WHERE {cond}"
    if sqlite and order:
        sql += f" ORDER BY {order}"
    with _gc_paused():
        eps, tal, byp, when = _read_and_group(conn, sql, args, gap, meeting_id, sqlite)
    return _finish(conn, eps, tal, byp, when)


Groups = tuple[list[list[Any]], dict[tuple[Any, ...], list[Any]], list[int]]


def _read_and_group(conn: Connection, sql: str, args: list[Any], gap: timedelta,
                    meeting_id: int | None, sqlite: bool
                    ) -> tuple[*Groups, Callable[[Any], datetime]]:
    """The pass, by the fastest route that applies: C over PostgreSQL's binary result, C
    over the driver's rows, or the Python reference. Times: SQLite's stored UTC text;
    PostgreSQL's binary form, integer microseconds since 2000-01-01 UTC (no datetime made
    per row, no arithmetic on the server)."""
    fast = _fast_module()
    with _cursor(conn, binary=not sqlite) as cur:
        cur.execute(sql, args)
        if fast is not None and not sqlite:
            got = _group_pgresult(fast, cur, gap, meeting_id)
            if got is not None:
                return (*got, _from_pg_us)
        rows = list(cur.fetchall())
    if fast is not None:
        try:
            got = fast.group(rows, gap // _US, meeting_id)
            if got is None:  # a device's rows out of time order
                rows.sort(key=_time_then_id)
                got = fast.group(rows, gap // _US, meeting_id)
            return (*got, _from_pg_us)
        except ValueError:  # a row it does not recognise: the reference below decides
            pass
    if sqlite:
        def when(v: Any) -> datetime:
            return v.replace(tzinfo=UTC)
        parse: Callable[[Any], Any] = datetime.fromisoformat
        gap_t: timedelta | int = gap
    else:
        when, parse, gap_t = _from_pg_us, _same, gap // _US
    try:
        return (*_pass(rows, gap_t, meeting_id, parse), when)
    except _OutOfOrder:
        rows.sort(key=_time_then_id)  # stored text sorts as time; ints as ints
        return (*_pass(rows, gap_t, meeting_id, parse), when)


def _group_pgresult(fast: Any, cur: Any, gap: timedelta, meeting_id: int | None
                    ) -> Groups | None:
    """The C pass straight over the binary result (psycopg documents ``pgresult_ptr`` for
    C extensions), without a Python object per value; None to read the rows instead: no
    such result, a connection not speaking UTF-8, a result the C code does not recognise,
    or rows out of time order (sorted on the way back)."""
    res = cur.pgresult
    ptr = getattr(res, "pgresult_ptr", None)
    if not isinstance(ptr, int) or cur.connection.info.encoding != "utf-8":
        return None
    try:
        got: Groups | None = fast.group_pgresult(ptr, gap // _US, meeting_id)
    except ValueError:
        return None
    return got


_US = timedelta(microseconds=1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's binary timestamptz counts from it
FAST_SWITCH = "CG_REPORT_ACCEL"  # 0: the Python pass only (monitor.settings.switched_off)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the rows are read and grouped: tens of thousands
    of fresh tuples and no reference cycles, so collecting then only costs time (about a
    tenth of the read). Collection resumes after, whatever happens inside."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _from_pg_us(v: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=v)


def _same(v: Any) -> Any:
    return v


def _time_then_id(r: Any) -> tuple[Any, Any]:
    return (r[1], r[0])


def _fast_module() -> Any:
    """The C pass (:mod:`dashboard.reports._fastscan`) if built and not switched off with
    ``CG_REPORT_ACCEL=0``; it returns what :func:`_pass` returns, times as integers."""
    return None if switched_off(FAST_SWITCH) else _fastscan


def _fetch(conn: Connection, sql: str, args: list[Any], *, binary: bool = False) -> list[Any]:
    with _cursor(conn, binary=binary) as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


@contextmanager
def _cursor(conn: Connection, *, binary: bool) -> Iterator[Any]:
    """A driver cursor; ``binary`` (PostgreSQL): binary results, timestamptz read as it is
    sent, int64 µs since 2000-01-01 UTC."""
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor(binary=True) if binary else raw.cursor()
    try:
        if binary:
            cur.adapters.register_loader("timestamptz", _int8_binary_loader(cur))
        yield cur
    finally:
        cur.close()


def _int8_binary_loader(cur: Any) -> Any:
    from psycopg.pq import Format

    return cur.adapters.get_loader(cur.adapters.types["int8"].oid, Format.BINARY)


def _pass(rows: list[Any], gap: Any, meeting_id: int | None,
          parse: Callable[[Any], Any]) -> tuple[list[list[Any]], dict[tuple[Any, ...], list[Any]],
                                                list[int]]:
    """The grouping loop (the reference; ``_fastscan.group`` is its port to C): open
    episodes per (meeting, device id, mac, platform), tallies per (meeting, member, device,
    kind and action, platform), bypass ids. Raises _OutOfOrder when a device's rows are not
    in time order."""
    open_: dict[tuple[Any, ...], list[Any]] = {}
    eps: list[list[Any]] = []
    tal: dict[tuple[Any, ...], list[Any]] = {}
    bypass_ids: list[int] = []
    mid = meeting_id
    for row in rows:
        if meeting_id is None:
            eid, ts, ka, dev, mem, plat, mac, mid = row
        else:
            eid, ts, ka, dev, mem, plat, mac = row
        t = parse(ts)
        key = (mid, mem, dev, ka, plat)
        x = tal.get(key)
        if x is None:
            tal[key] = [1, eid, eid, t, t, mac]
        else:
            if t < x[4]:
                raise _OutOfOrder()
            x[0] += 1
            x[4] = t
            if eid > x[2]:
                x[2] = eid
            elif eid < x[1]:
                x[1] = eid
        kind = ka >> 2
        if plat and kind == ATTEMPT:
            ek = (mid, dev, mac, plat)
            ep = open_.get(ek)
            if ep is None or t - ep[1] >= gap:
                if ep is not None and t < ep[1]:
                    raise _OutOfOrder()
                ep = [t, t, 0, dev, mac, mem, eid, mid, plat]
                open_[ek] = ep
                eps.append(ep)
            elif t < ep[1]:
                raise _OutOfOrder()
            ep[1] = t
            ep[2] += 1
            if ep[5] is None:
                ep[5] = mem
        elif kind == BYPASS:
            bypass_ids.append(eid)
    return eps, tal, bypass_ids


def _finish(conn: Connection, eps: list[list[Any]], tal: dict[tuple[Any, ...], list[Any]],
            bypass_ids: list[int], when: Callable[[Any], datetime]) -> Scan:
    eps.sort(key=lambda e: (e[0], e[6]))  # by first lookup (time, id), as group_episodes
    episodes = [EpisodeRow(e[7], e[3], e[4], e[5], e[8], when(e[0]), when(e[1]), e[2], e[6],
                           {e[7]} if e[7] is not None else set()) for e in eps]
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for (m, mem, dev, ka, plat), v in tal.items():  # per platform → named or not
        k = (m, mem, dev, _K.get(ka >> 2, "other"), _A.get(ka & 3, "other"), bool(plat))
        y = merged.get(k)
        if y is None:
            merged[k] = list(v)
        else:
            y[0] += v[0]
            y[1], y[2] = min(y[1], v[1]), max(y[2], v[2])
            y[3], y[4] = min(y[3], v[3]), max(y[4], v[4])
    tallies = [Tally(k[0], k[1], k[2], v[5], k[3], k[4], k[5], v[0], v[1], v[2],
                     when(v[3]), when(v[4])) for k, v in merged.items()]
    return Scan(episodes, tallies, _bypasses(conn, bypass_ids))


def _bypasses(conn: Connection, ids: list[int]) -> list[BypassRow]:
    out: list[BypassRow] = []
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ", ".join(("?" if sqlite else "%s") for _ in chunk)
        for eid, ts, action, dev, mac, mem, mid, dom, det in _fetch(
                conn, "SELECT id, ts, action, device_id, mac, member_id, meeting_id, domain, "
                      f"detail FROM events WHERE id IN ({marks})", chunk):
            t = datetime.fromisoformat(ts) if sqlite else ts
            out.append(BypassRow(eid, t.replace(tzinfo=UTC) if t.tzinfo is None
                                 else t.astimezone(UTC), action, dev, mac, mem, mid, dom, det))
    out.sort(key=lambda b: (b.ts, b.id))
    return out
