"""Episodes: a device's lookups of one platform, grouped by the gaps between them (DESIGN §4).

A phone's background sync makes dozens of lookups a minute; that is not the same as a member
opening an app, so reports count *episodes* and show raw lookups beside them.

Edge rule (the one definition every caller relies on): a lookup joins the open episode of its
(device, platform) when it comes **strictly less than** ``gap`` after that episode's previous
lookup; a lookup exactly ``gap`` (or more) later starts a new episode. Time is UTC throughout,
so midnight and the clock changes are not boundaries of any kind.

Pure: no I/O, no clock — ``now`` is passed in by whoever wants to know what is still ongoing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


class Lookup(Protocol):
    """What grouping needs of an event (the ORM row and :class:`LookupRow` both fit)."""

    @property
    def ts(self) -> datetime: ...
    @property
    def device_id(self) -> int | None: ...
    @property
    def mac(self) -> str | None: ...
    @property
    def member_id(self) -> int | None: ...
    @property
    def meeting_id(self) -> int | None: ...
    @property
    def platform(self) -> str | None: ...
    @property
    def domain(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LookupRow:
    """A plain lookup, for callers (and tests) that have no ORM row at hand."""

    ts: datetime
    platform: str | None
    device_id: int | None = None
    mac: str | None = None
    member_id: int | None = None
    meeting_id: int | None = None
    domain: str | None = None


@dataclass(slots=True)
class Episode:
    """One device contacting one platform: first and last lookup, how many, which names."""

    device_id: int | None
    mac: str | None
    member_id: int | None
    platform: str
    first: datetime
    last: datetime
    lookups: int = 1
    meeting_ids: set[int] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)

    def ongoing(self, now: datetime, gap: timedelta) -> bool:
        """Still open at ``now``: one more lookup now would join it (same edge rule)."""
        return now - self.last < gap


def device_key(ev: Lookup) -> Hashable:
    """The registered device if known, else the MAC: an episode never mixes two devices."""
    return ("id", ev.device_id) if ev.device_id is not None else ("mac", ev.mac)


def group_episodes(events: Iterable[Lookup], gap: timedelta) -> list[Episode]:
    """Group platform lookups into episodes; returned in order of their first lookup.

    Events without a platform are not lookups of a platform and are skipped. The input is
    expected in time order (as the query helper returns it); it is sorted here anyway — a
    stable sort of sorted data is linear, and a wrong order must never split an episode.
    """
    if gap <= timedelta(0):
        raise ValueError("episode gap must be positive")
    open_: dict[tuple[Hashable, str], Episode] = {}
    out: list[Episode] = []
    for ev in sorted(events, key=lambda e: e.ts):
        if not ev.platform:
            continue
        key = (device_key(ev), ev.platform)
        ep = open_.get(key)
        if ep is None or ev.ts - ep.last >= gap:
            ep = Episode(ev.device_id, ev.mac, ev.member_id, ev.platform, ev.ts, ev.ts, 0)
            open_[key] = ep
            out.append(ep)
        ep.last = ev.ts
        ep.lookups += 1
        if ep.member_id is None:
            ep.member_id = ev.member_id
        if ev.meeting_id is not None:
            ep.meeting_ids.add(ev.meeting_id)
        if ev.domain:
            ep.domains.add(ev.domain)
    return out
