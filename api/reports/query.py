"""Report queries: one read of the events a report covers.

A heavy meeting holds tens of thousands of lookups (background sync). The report reads them
once, through the driver's cursor, in (time, id) order, and from that one list builds:

* **episodes** — by :func:`allowlist.episodes.group_episodes`, the one episode rule the live
  page and the API use too (gap and opened rule from the settings), so the report and the
  live page cannot count differently;
* **tallies** per (meeting, member, device, kind, action, platform named?) — count, first
  and last time and id: presence, bypass counts, refused vs observed, events covered;
* the **lookups** themselves (platform attempts and bypass events, each with its episode):
  the report's appendix and its per-lookup CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from allowlist.episodes import Episode, group_episodes
from monitor.evidence.episodes import EpisodeRule
from monitor.evidence.sink import ts_text

CONTACT = ("attempt", "bypass")


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
    events = read_events(conn, where, params)
    tal: dict[tuple[Any, ...], Tally] = {}
    lookups: list[EventRow] = []
    bypasses: list[EventRow] = []
    attempts: list[EventRow] = []
    get = tal.get
    for e in events:
        key = (e.meeting_id, e.member_id, e.device_id, e.kind, e.action, e.platform is not None)
        t = get(key)
        if t is None:
            tal[key] = Tally(e.meeting_id, e.member_id, e.device_id,
                             e.mac, e.kind, e.action,
                             e.platform is not None, 1, e.id, e.id, e.ts, e.ts)
        else:
            t.count += 1
            t.last = e.ts
            if e.id > t.last_id:
                t.last_id = e.id
            elif e.id < t.first_id:
                t.first_id = e.id
        kind = e.kind
        if kind == "attempt":
            if e.platform:
                lookups.append(e)
                attempts.append(e)
        elif kind == "bypass":
            lookups.append(e)
            bypasses.append(e)
    # Already in (time, id) order from the query: the one rule need not sort again.
    eps = group_episodes(attempts, rule.gap, rule.opened, per_meeting=per_meeting,
                         ordered=True)
    episode_of = {eid: i for i, ep in enumerate(eps) for eid in ep.event_ids}
    return Scan(eps, list(tal.values()), bypasses, lookups, episode_of)


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        yield cur
    finally:
        cur.close()
