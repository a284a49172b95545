"""Episodes: a device's lookups of one platform, grouped by the gaps between them (DESIGN §4).

A phone's background sync makes dozens of lookups a minute; that is not the same as a member
opening an app, so reports count *episodes* and show raw lookups beside them. This module is
the one episode rule: the live page, the API and every report group through
:func:`group_episodes` and nothing else.

Edge rule (the one definition every caller relies on): a lookup joins the open episode of its
(device, platform) when it comes **strictly less than** ``gap`` after that episode's previous
lookup; a lookup exactly ``gap`` (or more) later starts a new episode. Time is UTC throughout,
so midnight and the clock changes are not boundaries of any kind.

Opened or background (:class:`OpenedRule`): an app being opened, or a site loaded, fetches
several different host names of its platform within seconds (API, images, static assets);
a background refresh or a push keep-alive touches one or two. An episode is labelled
"app or site likely opened" when, at some point, at least ``min_hosts`` distinct host names
of its platform were looked up within less than ``within`` of each other; otherwise
"background activity likely". The facts behind the label (distinct names, lookups, duration,
channels, whether a connection was attempted) travel with the episode.

Pure: no I/O, no clock — ``now`` is passed in by whoever wants to know what is still ongoing.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from allowlist.events import EventAction

# Channels on which traffic (not only a DNS lookup) was seen: a connection was attempted.
CONNECTION_CHANNELS = frozenset({"ip", "tls", "quic", "http"})


class EpisodeLabel(enum.StrEnum):
    OPENED = "opened"
    BACKGROUND = "background"


@dataclass(frozen=True, slots=True)
class OpenedRule:
    """At least ``min_hosts`` distinct host names within less than ``within``: opened."""

    min_hosts: int = 4
    within: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if self.min_hosts < 1 or self.within <= timedelta(0):
            raise ValueError("opened rule needs min_hosts >= 1 and a positive window")

    def describe(self) -> str:
        s = int(self.within.total_seconds())
        return (f"an episode is labelled \"app or site likely opened\" when at least "
                f"{self.min_hosts} different host names of the platform were looked up within "
                f"{s} second{'s' if s != 1 else ''} of each other; otherwise \"background "
                "activity likely\"")


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
    @property
    def channels(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def id(self) -> int | None: ...


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
    channels: str = "dns"
    action: str = EventAction.REFUSED
    id: int | None = None


@dataclass(slots=True)
class Episode:
    """One device and one platform: first and last lookup, how many, which names, how."""

    device_id: int | None
    mac: str | None
    member_id: int | None
    platform: str
    first: datetime
    last: datetime
    lookups: int = 1
    meeting_ids: set[int] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    connection: bool = False  # traffic beyond a DNS lookup was seen (ip, tls, quic, http)
    reached: bool = False  # some of it was not refused (monitor-only, or seen by the sensor)
    opened: bool = False
    first_id: int = 0
    event_ids: list[int] = field(default_factory=list)
    _window: deque[tuple[datetime, str]] = field(default_factory=deque, repr=False)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def ongoing(self, now: datetime, gap: timedelta) -> bool:
        """Still open at ``now``: one more lookup now would join it (same edge rule)."""
        return now - self.last < gap

    @property
    def label(self) -> EpisodeLabel:
        return EpisodeLabel.OPENED if self.opened else EpisodeLabel.BACKGROUND

    @property
    def seconds(self) -> int:
        return int((self.last - self.first).total_seconds())

    def _see(self, ts: datetime, domain: str | None, rule: OpenedRule) -> None:
        if self.opened or not domain:
            return
        win, counts = self._window, self._counts
        win.append((ts, domain))
        counts[domain] = counts.get(domain, 0) + 1
        while ts - win[0][0] >= rule.within:
            _, old = win.popleft()
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
        if len(counts) >= rule.min_hosts:
            self.opened = True
            win.clear()
            counts.clear()


def device_key(ev: Lookup) -> Hashable:
    """The registered device if known, else the MAC: an episode never mixes two devices."""
    return ("id", ev.device_id) if ev.device_id is not None else ("mac", ev.mac)


DEFAULT_RULE = OpenedRule()


class Run(Lookup, Protocol):
    """A run of ``n`` lookups of one (device, platform, meeting) in a row, all of one name,
    channel set, verdict, member and MAC, none ``gap`` or more after the one before it:
    ``ts`` is the first one's time, ``until`` the last one's, ``id`` the first one's id.
    A query can hand these over instead of every lookup (see :func:`group_episodes`)."""

    @property
    def n(self) -> int: ...
    @property
    def until(self) -> datetime: ...


def group_episodes(events: Iterable[Lookup], gap: timedelta,
                   opened: OpenedRule = DEFAULT_RULE, *,
                   per_meeting: bool = False, ordered: bool = False,
                   runs: bool = False) -> list[Episode]:
    """Group platform lookups into episodes; returned in order of their first lookup.

    Events without a platform are not lookups of a platform and are skipped. Sorted here by
    (time, id) — a stable sort of sorted data is linear, and a wrong order must never split
    an episode. ``per_meeting``: an episode never spans two meetings (a report over many
    meetings counts each meeting's own). ``ordered``: the caller's events are already in
    (time, id) order (a query's ORDER BY), so the sort is skipped.

    ``runs``: the items are :class:`Run` s (``per_meeting`` and ``ordered`` by first lookup),
    each standing for its ``n`` lookups. The result is the same as for the lookups one by
    one: inside a run nothing can start an episode, and for the opened rule a run is its
    first and last lookup — while a run goes on, no other name is added, so the count of
    distinct names within ``within`` is highest at its first lookup, and what stays in the
    window afterwards depends only on the name's latest time. ``event_ids`` then hold each
    run's first id."""
    fold = EpisodeFold(gap, opened, per_meeting=per_meeting)
    if runs:
        if not (per_meeting and ordered):
            raise ValueError("runs are grouped per meeting, in the order of their first lookup")
        add_run = fold.add
        for run in events:
            add_run(run, run.n, run.until)  # type: ignore[attr-defined]
        return fold.episodes
    for ev in (events if ordered else sorted(events, key=_order)):
        fold.add(ev)
    return fold.episodes


class EpisodeFold:
    """The rule applied one lookup at a time, for a caller that keeps a running state (the
    live page folds only new events). Lookups must come in (time, id) order *per device and
    platform* (:meth:`in_order` tells); :func:`group_episodes` is this fold over sorted
    events, so both give the same episodes by construction."""

    __slots__ = ("gap", "opened", "per_meeting", "episodes", "_open", "_last")

    def __init__(self, gap: timedelta, opened: OpenedRule = DEFAULT_RULE, *,
                 per_meeting: bool = False) -> None:
        if gap <= timedelta(0):
            raise ValueError("episode gap must be positive")
        self.gap, self.opened, self.per_meeting = gap, opened, per_meeting
        self.episodes: list[Episode] = []
        self._open: dict[tuple[Hashable, ...], Episode] = {}
        self._last: dict[tuple[Hashable, ...], tuple[datetime, int]] = {}

    def key(self, ev: Lookup) -> tuple[Hashable, ...]:
        """The (device, platform[, meeting]) an event's episode belongs to."""
        return ((device_key(ev), ev.platform, ev.meeting_id) if self.per_meeting
                else (device_key(ev), ev.platform))

    def in_order(self, ev: Lookup) -> bool:
        """Folding ``ev`` now gives what sorting first would: it is not older than the last
        lookup folded for its device and platform."""
        last = self._last.get(self.key(ev))
        return last is None or _order(ev) >= last

    def joins(self, ev: Lookup) -> Episode | None:
        """The open episode ``ev`` would join if folded now (None: it would open one)."""
        ep = self._open.get(self.key(ev))
        return None if ep is None or ev.ts - ep.last >= self.gap else ep

    def add(self, ev: Lookup, n: int = 1, until: datetime | None = None) -> Episode | None:
        """Fold one event; the episode it joined or opened (None: not a platform lookup).
        ``n`` and ``until``: ``ev`` is a :class:`Run` of ``n`` lookups, the last at
        ``until`` (see :func:`group_episodes`)."""
        plat = ev.platform
        if not plat:
            return None
        ts = ev.ts
        key = self.key(ev)
        eid = ev.id or 0
        self._last[key] = _order(ev) if until is None else (until, eid)
        ep = self._open.get(key)
        if ep is None or ts - ep.last >= self.gap:
            ep = Episode(ev.device_id, ev.mac, ev.member_id, plat, ts, ts, 0, first_id=eid)
            self._open[key] = ep
            self.episodes.append(ep)
        ep.last = ts if until is None else until
        ep.lookups += n
        ep.event_ids.append(eid)
        if ep.member_id is None:
            ep.member_id = ev.member_id
        if ev.meeting_id is not None:
            ep.meeting_ids.add(ev.meeting_id)
        dom = ev.domain
        if dom:
            ep.domains.add(dom)
        for ch in (ev.channels or "dns").split(","):
            if ch not in ep.channels:
                ep.channels.add(ch)
                if ch in CONNECTION_CHANNELS:
                    ep.connection = True
        if ev.action != EventAction.REFUSED:
            ep.reached = True
        ep._see(ts, dom, self.opened)
        if until is not None and n > 1:
            ep._see(until, dom, self.opened)
        return ep


def _order(e: Lookup) -> tuple[datetime, int]:
    return (e.ts, e.id or 0)
