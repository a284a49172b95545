"""Privacy levels: what the gate and sensor store about members' devices.

Pi-hole-style levels, applied at the evidence sink *before* a row is written (and hashed),
so a level changes what exists in the database, not just what a page shows:

==========  ================================================================================
full        every recorded event as seen: device, member, platform, host name, rule, time
platform    platform, device, member and time; the host name and the matching rule (which
            names a host) are never written
counts      as ``platform`` while the meeting's report is still to be made; once it is
            signed, the meeting's events become per member totals and the events are removed
            (:mod:`monitor.evidence.collapse`)
==========  ================================================================================

The site's level (``site.privacy_level``) is synced from the config file at start-up, each
change audited (:mod:`monitor.evidence.levels`). A meeting's level is fixed, in
``meeting_privacy``, when its first event is stored — or when the site level changes while
it has begun — so a change applies from the next meeting. Rows outside any meeting (outage
notes, unregistered guests' devices) follow the site's level at the time.

This module does no locking of its own: :func:`apply` runs inside the sink's insert, under
the event insert lock, so fixing a meeting's level cannot race a level change (which takes
the same lock).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, text

from monitor.evidence import chain


class PrivacyLevel(enum.StrEnum):
    FULL = "full"
    PLATFORM = "platform"
    COUNTS = "counts"

    @property
    def keeps_host_names(self) -> bool:
        return self is PrivacyLevel.FULL

    @property
    def keeps_events(self) -> bool:
        """False: the events are removed once the meeting's report is signed."""
        return self is not PrivacyLevel.COUNTS


# Plain-English summaries, shared by the dashboard, the reports, the DPIA and the notice.
LEVEL_TEXT: dict[PrivacyLevel, str] = {
    PrivacyLevel.FULL: "each recorded attempt is kept: which device (and so which member), "
                       "which platform, the name looked up, the rule that matched, and when",
    PrivacyLevel.PLATFORM: "each recorded attempt is kept with its device, member, platform "
                           "and time; the name looked up is not stored",
    PrivacyLevel.COUNTS: "attempts are kept without the name looked up until the meeting's "
                         "report is signed; then only totals per member and meeting remain "
                         "and the individual attempts are deleted",
}

# Positions in monitor.evidence.sink.COLUMNS (= chain.CONTENT), checked below.
_MEETING = chain.CONTENT.index("meeting_id")
_DOMAIN = chain.CONTENT.index("domain")
_RULE = chain.CONTENT.index("rule")
assert (_MEETING, _DOMAIN, _RULE) == (8, 9, 13)
# What "platform" and "counts" never write: the columns that can hold a host name.
DROPPED_BELOW_FULL = ("domain", "rule")


def parse(value: object) -> PrivacyLevel:
    """A stored or configured level; anything unknown (a NULL site row) is ``full``."""
    try:
        return PrivacyLevel(str(value))
    except ValueError:
        return PrivacyLevel.FULL


def site_level(conn: Connection) -> PrivacyLevel:
    """The site's level in force now (``full`` before the first start-up sync)."""
    return parse(conn.execute(text("SELECT privacy_level FROM site WHERE id = 1")).scalar())


def privacy_level_for_meeting(conn: Connection, meeting_id: int | None) -> PrivacyLevel:
    """The level a meeting's events were (or will be) stored under: its fixed level, else
    the site's level now (a meeting not yet begun takes the level in force when it does).
    For readers — reports, appendices, exports — deciding what they may show."""
    if meeting_id is None:
        return site_level(conn)
    fixed = conn.execute(text("SELECT level FROM meeting_privacy WHERE meeting_id = :m"),
                         {"m": meeting_id}).scalar()
    return parse(fixed) if fixed is not None else site_level(conn)


def meeting_levels(conn: Connection, meeting_ids: Iterable[int]) -> dict[int, PrivacyLevel]:
    """Fixed levels of these meetings (meetings without one are absent)."""
    ids = sorted(set(meeting_ids))
    out: dict[int, PrivacyLevel] = {}
    for i in range(0, len(ids), 500):
        q = text("SELECT meeting_id, level FROM meeting_privacy WHERE meeting_id IN :m"
                 ).bindparams(bindparam("m", ids[i:i + 500], expanding=True))
        out.update((int(m), parse(lv)) for m, lv in conn.execute(q))
    return out


def fix_meetings(conn: Connection, meeting_ids: Iterable[int], level: PrivacyLevel,
                 now: datetime | None = None) -> None:
    """Record ``level`` for meetings that have none yet (a fixed level never changes)."""
    now = now or datetime.now(UTC)
    at: object = now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds") \
        if conn.dialect.name == "sqlite" else now
    rows = [{"m": int(m), "l": level.value, "t": at} for m in sorted(set(meeting_ids))]
    if rows:
        conn.execute(text("INSERT INTO meeting_privacy (meeting_id, level, fixed_at, "
                          "collapsed_events) VALUES (:m, :l, :t, 0) "
                          "ON CONFLICT (meeting_id) DO NOTHING"), rows)


def levels_for(conn: Connection, rows: Sequence[Sequence[object]]
               ) -> dict[int | None, PrivacyLevel]:
    """The level of every meeting id in ``rows`` (None: rows outside meetings), fixing the
    site's level on meetings seen for the first time. At most three small statements a
    batch, and one when every meeting in it is known."""
    ids = {r[_MEETING] for r in rows}
    meetings = {int(m) for m in ids if m is not None}  # type: ignore[call-overload]
    levels: dict[int | None, PrivacyLevel] = {
        m: lv for m, lv in meeting_levels(conn, meetings).items()}
    missing = meetings - levels.keys()
    if missing or None in ids:
        site = site_level(conn)
        if missing:
            fix_meetings(conn, missing, site)
            levels.update(dict.fromkeys(missing, site))
        levels[None] = site
    return levels


def reduce_row(row: Sequence[object]) -> tuple[object, ...]:
    """The row as "platform" and "counts" store it: no host name, no rule naming one."""
    r = list(row)
    r[_DOMAIN] = None
    r[_RULE] = None
    return tuple(r)


def apply(conn: Connection, rows: Sequence[Sequence[object]], bodies: Sequence[str] | None
          ) -> tuple[Sequence[Sequence[object]], Sequence[str] | None]:
    """Rows (sink order) as the privacy level of each one's meeting allows them to be
    stored, and their canonical bodies for the hash chain (recomputed for changed rows
    only; ``None`` stays ``None``). Called by the sink under the event insert lock."""
    levels = levels_for(conn, rows)
    if all(lv is PrivacyLevel.FULL for lv in levels.values()):
        return rows, bodies
    out: list[Sequence[object]] = []
    new_bodies: list[str] | None = None if bodies is None else []
    for i, r in enumerate(rows):
        m = r[_MEETING]
        lv = levels[None if m is None else int(m)]  # type: ignore[call-overload]
        if lv.keeps_host_names or (r[_DOMAIN] is None and r[_RULE] is None):
            out.append(r)
            if new_bodies is not None:
                new_bodies.append(bodies[i])  # type: ignore[index]
            continue
        reduced = reduce_row(r)
        out.append(reduced)
        if new_bodies is not None:
            new_bodies.append(chain.canonical(reduced))
    return out, new_bodies
