"""Report queries: one read of the events a report covers.

A heavy meeting holds tens of thousands of lookups (background sync). The report reads them
once, through the driver's cursor, as plain tuples; :func:`scan_runs` cuts them into *runs*
(consecutive lookups of one device and platform with the same name, channels and verdict —
a few hundred where there were tens of thousands of events) and from those builds:

* **episodes** — by :func:`allowlist.episodes.group_episodes`, the one episode rule the live
  page and the API use too (gap and opened rule from the settings; it takes runs as well as
  single lookups, with the same result), so the report and the live page cannot count
  differently;
* **tallies** per (meeting, member, device, kind, action, platform named?) — count, first
  and last time and id: presence, bypass counts, refused vs observed, events covered;
* the **lookups** themselves (platform attempts and bypass events, each with its episode),
  only when asked for: the report's appendix and its per-lookup CSV.

:func:`scan` is the same one event at a time (the reference the tests compare runs with).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from allowlist.episodes import Episode, group_episodes
from allowlist.events import EventKind
from monitor.evidence.episodes import EpisodeRule
from monitor.evidence.sink import ts_text


@dataclass(slots=True)
class EventRow:
    """One event as a report needs it (also fits :class:`allowlist.episodes.Lookup`)."""

    id: int
    ts: datetime
    kind: str
    action: str
    device_id: int | None
    member_id: int | None
    mac: str | None
    meeting_id: int | None
    domain: str | None
    platform: str | None
    channels: str
    detail: str | None
    n: int = 1  # a run (see :func:`scan_runs`): how many lookups it stands for
    until: datetime | None = None  # … and the last one's time (None: ``ts``)


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
class Scan:
    episodes: list[Episode]
    tallies: list[Tally]
    bypasses: list[EventRow]
    lookups: list[EventRow]  # attempts and bypasses, in (time, id) order
    episode_of: dict[int, int]  # event id → index of its episode in ``episodes``
    # (runs: a run's first id; its lookups are ``n`` events, ``bypasses`` are single events)
    # every single lookup, when asked for (:func:`scan_runs` ``singles``): the appendix
    lines: list[Line] | None = None


Line = tuple[int, datetime, str, str, int | None, int | None, str | None, str | None,
             str | None, str, int | None]
"""One lookup for the appendix and the per-lookup CSV: id, time (aware UTC), kind, action,
device id, member id, MAC, name, platform, channels, index of its episode (None: another
DNS service)."""


def meeting_of(ep: Episode) -> int | None:
    """The meeting of an episode grouped ``per_meeting`` (it has at most one)."""
    return min(ep.meeting_ids) if ep.meeting_ids else None


_COLS = ("id, ts, kind, action, device_id, member_id, mac, meeting_id, domain, platform, "
         "channels, detail")


def _sql(conn: Connection, where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """``where`` uses ``?`` placeholders; datetimes become the dialect's form."""
    if conn.dialect.name == "sqlite":
        return where, [ts_text(p) if isinstance(p, datetime) else p for p in params]
    return where.replace("?", "%s"), list(params)


def read_events(conn: Connection, where: str, params: list[Any]) -> list[EventRow]:
    """The events matching ``where`` (``?`` placeholders), in (time, id) order.

    A heavy meeting is tens of thousands of rows, so per row the work is one ``fromisoformat``
    and one object: SQLite's text times get their zone in the query (``+00:00``, so the
    parse gives an aware UTC time at once), PostgreSQL's come as UTC wall time, and a
    missing channel is ``dns`` in SQL."""
    cond, args = _sql(conn, where, params)
    sqlite = conn.dialect.name == "sqlite"
    # PostgreSQL: the UTC wall time (a plain timestamp, no per-row zone conversion).
    ts = "ts || '+00:00'" if sqlite else "ts AT TIME ZONE 'UTC'"
    sql = (f"SELECT id, {ts}, kind, action, device_id, member_id, mac, meeting_id, domain, "
           f"platform, coalesce(channels, 'dns'), detail FROM events WHERE {cond} "
           "ORDER BY ts, id")
    with _cursor(conn) as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
    row = EventRow
    if sqlite:
        parse = datetime.fromisoformat
        return [row(r[0], parse(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                    r[11]) for r in rows]
    return [row(r[0], r[1].replace(tzinfo=UTC), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                r[10], r[11]) for r in rows]


def scan(conn: Connection, rule: EpisodeRule, where: str, params: list[Any], *,
         per_meeting: bool = True) -> Scan:
    """Read the events matching ``where`` once and derive episodes, tallies and lookups."""
    return _derive(read_events(conn, where, params), rule, per_meeting=per_meeting, runs=False)


def _derive(events: list[EventRow], rule: EpisodeRule, *, per_meeting: bool,
            runs: bool, bounds: list[tuple[int, int]] | None = None) -> Scan:
    tal: dict[tuple[Any, ...], Tally] = {}
    lookups: list[EventRow] = []
    bypasses: list[EventRow] = []
    attempts: list[EventRow] = []
    get = tal.get
    for i, e in enumerate(events):
        key = (e.meeting_id, e.member_id, e.device_id, e.kind, e.action, e.platform is not None)
        t = get(key)
        last = e.ts if e.until is None else e.until
        if t is None:
            tal[key] = t = Tally(e.meeting_id, e.member_id, e.device_id,
                                 e.mac, e.kind, e.action,
                                 e.platform is not None, e.n, e.id, e.id, e.ts, last)
        else:
            t.count += e.n
            if last > t.last:
                t.last = last
            if e.id > t.last_id:
                t.last_id = e.id
            elif e.id < t.first_id:
                t.first_id = e.id
        if bounds is not None:  # a run's lowest and highest ids (not always its first)
            lo, hi = bounds[i]
            if lo < t.first_id:
                t.first_id = lo
            if hi > t.last_id:
                t.last_id = hi
        kind = e.kind
        if kind == EventKind.ATTEMPT:
            if e.platform:
                lookups.append(e)
                attempts.append(e)
        elif kind == EventKind.BYPASS:
            lookups.append(e)
            bypasses.append(e)
    # Already in (time, id) order from the query: the one rule need not sort again.
    eps = group_episodes(attempts, rule.gap, rule.opened, per_meeting=per_meeting,
                         ordered=True, runs=runs)
    episode_of = {eid: i for i, ep in enumerate(eps) for eid in ep.event_ids}
    return Scan(eps, list(tal.values()), bypasses, lookups, episode_of)


def scan_runs(conn: Connection, rule: EpisodeRule, where: str, params: list[Any], *,
              singles: bool = False) -> Scan:
    """As :func:`scan` (per meeting), but from *runs* (:class:`allowlist.episodes.Run`)
    instead of every event: consecutive events of one (kind, platform, meeting, device) with
    the same name, channels, verdict, member and MAC and no gap of ``rule.gap`` or more. A
    busy meeting's background sync repeats one name, so tens of thousands of events become a
    few hundred runs, and the episodes, tallies and per-name counts are the same
    (tests/reports/test_query.py compares both paths). Other DNS services' events stay
    single (the report lists each). The runs' ``lookups`` do not list single lookups: the
    appendix and the per-lookup CSV get them as ``lines`` (``singles``), each with the
    episode of its run — from the same one read.

    The rows come unsorted (no sort in the database) as plain tuples, sorted here by
    (time, id) and cut into runs in one pass: with 20,000 events of a meeting this is cheaper
    than letting the database find the runs (``LAG`` and a running ``SUM`` over a window cost
    twice the read on PostgreSQL and three times on SQLite, measured with
    tests/bench/bench_report.py). The gap test here may only cut more than needed (a second
    of slack against float seconds): where it cuts, the one rule in :func:`group_episodes`
    decides, exactly, whether the next run joins."""
    cond, args = _sql(conn, where, params)
    sqlite = conn.dialect.name == "sqlite"
    # seconds as a float for the gap test; the time itself as stored (text or UTC wall time)
    secs = "julianday(ts) * 86400.0" if sqlite else "extract(epoch FROM ts)::float8"
    ts = "ts" if sqlite else "ts AT TIME ZONE 'UTC'"
    sql = (f"SELECT id, {ts}, kind, action, device_id, member_id, mac, meeting_id, domain, "
           f"platform, coalesce(channels, 'dns'), detail, {secs} FROM events WHERE {cond}")
    with _cursor(conn) as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
    rows.sort(key=_KEY)
    slack_gap = rule.gap.total_seconds() - 1.0
    # per run: [first row, last seconds, last row, n, lowest id, highest id]
    runs: list[list[Any]] = []
    open_: dict[tuple[Any, ...], list[Any]] = {}
    get = open_.get
    single: list[tuple[tuple[Any, ...], list[Any]]] = []  # (lookup, its run)
    keep = single.append if singles else None
    bypass, attempt = EventKind.BYPASS.value, EventKind.ATTEMPT.value  # plain str: per row
    for r in rows:
        rid = r[0]
        kind = r[2]
        if kind != bypass:
            dev = r[4]
            key = (kind, r[9], r[7], dev, r[6] if dev is None else None)
            run = get(key)
            # Same run: no gap, and the same name, channels, verdict, member and MAC as the
            # run's last lookup (compared field by field: no tuple per row).
            if run is not None and r[12] - run[1] < slack_gap and (
                    (z := run[2])[8] == r[8] and z[10] == r[10] and z[3] == r[3]
                    and z[5] == r[5] and z[6] == r[6]):
                run[1], run[2] = r[12], r
                run[3] += 1
                if rid < run[4]:
                    run[4] = rid
                elif rid > run[5]:
                    run[5] = rid
            else:
                run = open_[key] = [r, r[12], r, 1, rid, rid]
                runs.append(run)
            if keep is not None and kind == attempt and r[9]:
                keep((r, run))
        else:
            run = [r, r[12], r, 1, rid, rid]
            runs.append(run)
            if keep is not None:
                keep((r, run))
    if sqlite:
        parse = datetime.fromisoformat

        def utc(t: Any) -> datetime:
            return parse(t + "+00:00")
    else:
        def utc(t: Any) -> datetime:
            return t.replace(tzinfo=UTC)
    events = []
    for r, _, z, n, _, _ in runs:
        first = utc(r[1])
        events.append(EventRow(r[0], first, r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                               r[10], r[11], n, first if z is r else utc(z[1])))
    sc = _derive(events, rule, per_meeting=True, runs=True,
                 bounds=[(run[4], run[5]) for run in runs])
    if singles:
        of = sc.episode_of
        sc.lines = [(r[0], utc(r[1]), r[2], r[3], r[4], r[5], r[6], r[8], r[9], r[10],
                     of.get(run[0][0]) if r[2] == EventKind.ATTEMPT else None)
                    for r, run in single]
    return sc


_KEY = itemgetter(1, 0)  # (time, id): the ORDER BY ts, id of :func:`read_events`


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        yield cur
    finally:
        cur.close()
