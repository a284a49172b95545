"""The live page's running state: each meeting's events folded in once, as they arrive.

The clerk's page used to regroup the whole meeting for every browser on every update (a
cost that grew with the meeting and with every open screen). Here each meeting has one
:class:`MeetingLive` — tallies per platform and member, the episodes (through
:class:`allowlist.episodes.EpisodeFold`, the one episode rule) and the newest bypasses and
outages — built from the database once (on first use, so also after a restart) and then fed
only the events newer than its cursor. :class:`LiveHub` holds them for the web process, so
every browser watching a meeting shares one state.

The numbers equal :func:`dashboard.queries.activity` for the same meeting (the reports and
the API group the same way); tests/dashboard/test_live_state.py checks that for any event
sequence, and tests/reports/test_one_rule.py for the live page, the report and the API.

A lookup older than the last one folded for its device and platform (a late writer) would be
grouped differently by a fresh regroup, so the state refolds its events in (time, id) order
then: rare, and exact. Events are only ever removed by a retention purge (the oldest) or the
"counts" privacy level's collapse of a meeting's events into totals; either makes the state
rebuild from the database.
"""

from __future__ import annotations

import bisect
import gc
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from allowlist.episodes import Episode, EpisodeFold
from api.events.episodes import episode_text
from api.events.service import describe, platform_names
from dashboard.queries import (
    PRESENT_MINUTES,
    Activity,
    DeviceView,
    FeedItem,
    MemberRow,
    PlatformCount,
    aware,
)
from monitor.events import EventKind
from monitor.evidence.episodes import EpisodeRule, query_episodes
from monitor.store.models import Device, Event, Meeting, MeetingPrivacy, Member

FEED_CAP = 200  # bypasses and outages kept for the feed (the page shows 60)
TAIL_BATCH = 5000
OUTAGES_BEFORE = timedelta(hours=1)  # outages shown from an hour before the meeting's start


@dataclass(frozen=True, slots=True)
class LiveRow:
    """The columns of an event the live page uses (never URLs or payloads: none are stored)."""

    id: int
    ts: datetime
    kind: str
    action: str
    platform: str | None
    domain: str | None
    device_id: int | None
    mac: str | None
    member_id: int | None
    meeting_id: int | None
    channels: str
    detail: str | None


EpKey = tuple[datetime, timedelta, int, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ep_key(ep: Episode) -> EpKey:
    """Ascending by last lookup, so the newest are at the end; read backwards, ties come in
    order of first lookup, as activity()'s stable sort leaves them."""
    return (ep.last, _EPOCH - ep.first, -ep.first_id, id(ep))


class MeetingLive:
    """One meeting's running tallies, episodes and feed rows. Pure: rows in, numbers out."""

    def __init__(self, meeting_id: int, start: datetime, rule: EpisodeRule) -> None:
        self.meeting_id = meeting_id
        self.outages_from = aware(start) - OUTAGES_BEFORE
        self.rule = rule
        self.cursor = 0
        self.collapsed_at: datetime | None = None  # "counts" privacy: events became totals
        self.rows: list[LiveRow] = []  # everything folded, for an exact refold
        self._names = platform_names()
        self._reset()

    def _reset(self) -> None:
        self.fold = EpisodeFold(self.rule.gap, self.rule.opened)
        self.totals: dict[str, PlatformCount] = {}
        self.per_member: dict[int, dict[str, PlatformCount]] = {}
        self.last_attempt: dict[int, datetime] = {}
        self.bypasses: dict[int, int] = {}
        self.events_feed: deque[LiveRow] = deque(maxlen=FEED_CAP)  # id order
        self._counted: dict[int, tuple[int | None, int, bool]] = {}  # id(ep) -> as counted
        self._order: dict[int, EpKey] = {}
        self.opened_by_last: list[EpKey] = []
        self.background_by_last: list[EpKey] = []
        self._eps: dict[int, Episode] = {}
        # Feed sentences by (episode, lookups, member, device): made once per change.
        self.sentences: dict[tuple[int, int, str | None, str | None], str] = {}

    def wants(self, r: LiveRow) -> bool:
        if r.kind == EventKind.OUTAGE:
            return aware(r.ts) >= self.outages_from
        return r.meeting_id == self.meeting_id and r.kind in (EventKind.ATTEMPT,
                                                               EventKind.BYPASS)

    def apply(self, rows: Iterable[LiveRow]) -> int:
        """Fold new rows (ascending id, all above the cursor); returns how many were kept."""
        kept = 0
        refold = False
        for r in rows:
            self.cursor = max(self.cursor, r.id)
            if not self.wants(r):
                continue
            kept += 1
            self.rows.append(r)
            if refold:
                continue
            if r.kind == EventKind.ATTEMPT and r.platform and not self.fold.in_order(r):
                refold = True
                continue
            self._fold(r)
        if refold:
            self.refold()
        return kept

    def refold(self) -> None:
        """Everything again in (time, id) order: what a fresh regroup sees."""
        self._reset()
        by_id = sorted(self.rows, key=lambda r: r.id)
        for r in sorted(by_id, key=lambda r: (r.ts, r.id)):
            self._fold(r, feed=False)
        self.events_feed.extend(r for r in by_id if r.kind != EventKind.ATTEMPT)

    def _fold(self, r: LiveRow, *, feed: bool = True) -> None:
        if r.kind != EventKind.OUTAGE and r.member_id is not None:
            prev = self.last_attempt.get(r.member_id)
            ts = aware(r.ts)
            if prev is None or ts > prev:
                self.last_attempt[r.member_id] = ts
        if r.kind == EventKind.ATTEMPT:
            if r.platform:
                self._episode(r)
            return
        if r.kind == EventKind.BYPASS and r.member_id is not None:
            self.bypasses[r.member_id] = self.bypasses.get(r.member_id, 0) + 1
        if feed:
            self.events_feed.append(r)

    def _episode(self, r: LiveRow) -> None:
        joined = self.fold.joins(r)
        if joined is not None:  # take its old share back; added again below as it is now
            self._count(joined, self._counted[id(joined)], -1)
            self._unorder(joined)
        ep = self.fold.add(r)
        if ep is None:
            return
        counted = (ep.member_id, ep.lookups, ep.opened)
        self._counted[id(ep)] = counted
        self._eps[id(ep)] = ep
        self._count(ep, counted, +1)
        key = _ep_key(ep)
        self._order[id(ep)] = key
        bisect.insort(self.opened_by_last if ep.opened else self.background_by_last, key)

    def _unorder(self, ep: Episode) -> None:
        key = self._order.pop(id(ep))
        for lst in (self.opened_by_last, self.background_by_last):
            i = bisect.bisect_left(lst, key)
            if i < len(lst) and lst[i] == key:
                del lst[i]
                return

    def _count(self, ep: Episode, counted: tuple[int | None, int, bool], sign: int) -> None:
        """Add (``sign`` +1) or take back (-1) one episode's share of the tallies."""
        member, lookups, opened = counted
        plat = ep.platform
        total = self.totals.get(plat)
        if total is None:
            total = self.totals[plat] = PlatformCount(plat, self._names.get(plat, plat))
        tallies = [total]
        if member is not None:
            mine = self.per_member.setdefault(member, {})
            pc = mine.get(plat)
            if pc is None:
                pc = mine[plat] = PlatformCount(plat, total.name)
            tallies.append(pc)
        for t in tallies:
            t.episodes += sign
            t.lookups += sign * lookups
            t.opened += sign * int(opened)

    # ------------------------------------------------------------------ what the page shows

    def newest(self, opened: bool, limit: int) -> list[Episode]:
        """The ``limit`` episodes that ended last (ties: as activity() orders them)."""
        keys = self.opened_by_last if opened else self.background_by_last
        return [self._eps[k[3]] for k in reversed(keys[-limit:])] if limit else []



def _out_of_the_collectors_way() -> None:
    """A meeting's state is tens of thousands of small long-lived objects. Left to the cycle
    collector, every full collection walks all of them, and the update that happens to
    trigger one takes ~90 ms instead of ~4 (bench_live, 20,000 lookups). So once built, what
    is alive is collected once and then frozen (``gc.freeze``): later full collections skip
    it. The state holds no reference cycles, so when a meeting's state is dropped reference
    counting still frees it. Objects that were alive at one build and became cyclic garbage
    since (a request's session) are unfrozen and collected at the next build: nothing stays
    frozen longer than from one build to the next."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


# ---------------------------------------------------------------------------- the page's view


def _copy(p: PlatformCount) -> PlatformCount:
    return PlatformCount(p.key, p.name, p.episodes, p.lookups, p.opened)


def _members(s: Session, now: datetime) -> tuple[dict[int, MemberRow], dict[int, str],
                                                dict[int, str | None]]:
    """Active members with a registered device, their devices and who is in the room, every
    member's name and every member device's label: one plain query (no ORM objects: this
    runs on every update)."""
    present_after = now - timedelta(minutes=PRESENT_MINUTES)
    names: dict[int, str] = {}
    rows: dict[int, MemberRow] = {}
    device_labels: dict[int, str | None] = {}
    q = (select(Member.id, Member.name, Member.active, Device.id, Device.label, Device.mac,
                Device.randomised, Device.last_seen)
         .outerjoin(Device, Device.member_id == Member.id).order_by(Member.id, Device.id))
    for mid, name, active, did, label, mac, randomised, last_seen in s.execute(q):
        names[mid] = name
        if did is None:
            continue
        device_labels[did] = label
        if not active:
            continue
        row = rows.get(mid)
        if row is None:
            row = rows[mid] = MemberRow(mid, name)
        seen = aware(last_seen) if last_seen else None
        row.devices.append(DeviceView(did, label or mac, mac, randomised, seen,
                                      seen is not None and seen >= present_after))
    return rows, names, device_labels


def activity_of(state: MeetingLive, s: Session, *, now: datetime, live: bool,
                feed_limit: int = 60, last_event_id: int | None = None) -> Activity:
    """What :func:`dashboard.queries.activity` gives for this meeting, from the running state:
    only the members (for who is in the room) and the names are read, never the events."""
    gap = state.rule.gap
    rows, member_names, device_labels = _members(s, now)
    unowned = {ep.device_id for ep in state.newest(True, feed_limit) +
               state.newest(False, feed_limit)
               if ep.device_id is not None and ep.device_id not in device_labels}
    if unowned:  # devices no member owns (rare in a feed): their labels too
        device_labels.update(s.execute(select(Device.id, Device.label)
                                       .where(Device.id.in_(unowned))).tuples())
    for mid, plats in state.per_member.items():
        if mid not in rows and any(p.episodes for p in plats.values()):
            rows[mid] = MemberRow(mid, member_names.get(mid, "Unknown member"))
    for mid, row in rows.items():
        row.platforms = sorted((_copy(p) for p in state.per_member.get(mid, {}).values()
                                if p.episodes), key=lambda p: (-p.episodes, p.name))
        row.bypasses = state.bypasses.get(mid, 0)
        row.last_attempt = state.last_attempt.get(mid)

    def item(ep: Episode) -> FeedItem:
        member = member_names.get(ep.member_id) if ep.member_id else None
        device = device_labels.get(ep.device_id) if ep.device_id else None
        key = (id(ep), ep.lookups, member, device)
        text = state.sentences.get(key)
        if text is None:  # the episode changed (or a name did) since last shown
            text = episode_text(ep, member=member, device=device)
            state.sentences[key] = text
        return FeedItem("episode", aware(ep.last), aware(ep.first), text,
                        live and ep.ongoing(now, gap), ep.lookups, ep.platform,
                        ep.label.value)

    if len(state.sentences) > 8 * FEED_CAP:  # only the shown ones are worth keeping
        state.sentences.clear()
    feed = [item(ep) for ep in state.newest(True, feed_limit)]
    background = [item(ep) for ep in state.newest(False, feed_limit)]
    recent = list(state.events_feed)[-feed_limit:] if feed_limit else []
    for e in reversed(recent):
        text = describe(e.kind, e.action, e.platform, e.domain,
                        device_labels.get(e.device_id) if e.device_id else None,
                        member_names.get(e.member_id) if e.member_id else None, e.detail,
                        e.channels)
        kind: Literal["bypass", "outage"] = ("bypass" if e.kind == EventKind.BYPASS
                                             else "outage")
        feed.append(FeedItem(kind, aware(e.ts), aware(e.ts), text, platform=e.platform))
    feed.sort(key=lambda f: f.at, reverse=True)
    platforms = sorted((_copy(p) for p in state.totals.values() if p.episodes),
                       key=lambda p: (-p.opened, -p.episodes, -p.lookups, p.name))
    ordered = sorted(rows.values(), key=lambda r: r.name.casefold())
    return Activity(ordered, platforms, feed[:feed_limit], sum(p.episodes for p in platforms),
                    sum(p.lookups for p in platforms), sum(state.bypasses.values()),
                    state.cursor if last_event_id is None else last_event_id,
                    sum(p.opened for p in platforms), background[:feed_limit])


# ---------------------------------------------------------------------------- the database edge


_COLUMNS = (Event.id, Event.ts, Event.kind, Event.action, Event.platform, Event.domain,
            Event.device_id, Event.mac, Event.member_id, Event.meeting_id, Event.channels,
            Event.detail)


def _rows(result: Iterable[Sequence[object]]) -> list[LiveRow]:
    out = []
    for (eid, ts, kind, action, plat, dom, dev, mac, mem, mtg, ch, detail) in result:
        out.append(LiveRow(int(eid), aware(ts), str(kind), str(action), plat, dom, dev, mac,  # type: ignore[arg-type,call-overload]
                           mem, mtg, ch or "dns", detail))  # type: ignore[arg-type]
    return out


class LiveHub:
    """The web process's running states, one per meeting followed, shared by every browser.

    Thread-safe: the page's requests run in a thread pool and catch up under one lock (the
    catching up is short: only the events since the last request of any browser)."""

    KEEP = 4  # meetings whose state is kept (the one in session, and a few just before)

    def __init__(self, rule: EpisodeRule) -> None:
        self.rule = rule
        self._lock = threading.RLock()
        self._meetings: dict[int, MeetingLive] = {}
        self.builds = 0  # full builds from the database (tests: once, then only new events)
        self.last_id = 0
        # The fragment's shared views by sort order: (made at, monotonic; context; the
        # generation of clerk changes it was made in).
        self.views: dict[str, tuple[float, dict[str, Any], int]] = {}
        self.generation = 0  # clerk changes so far: a view made across one is never reused
        # Between meetings: the recent window's episodes, and what they were grouped from.
        self._recent: tuple[tuple[datetime, int, int], list[Episode]] | None = None
        self._view_locks: dict[str, threading.Lock] = {}

    def view_lock(self, key: str) -> threading.Lock:
        """Held while a shared view is looked up or made: browsers asking together wait for
        the one being made instead of each making their own."""
        with self._lock:
            return self._view_locks.setdefault(key, threading.Lock())

    def changed(self) -> None:
        """A clerk changed the meeting (start, end, extension, exception): views made before
        are not shown again."""
        with self._lock:
            self.generation += 1
            self.views.clear()

    def activity(self, s: Session, meeting: Meeting, *, now: datetime, live: bool,
                 feed_limit: int = 60) -> Activity:
        """The page's view of the meeting, caught up with every event committed so far."""
        with self._lock:
            st = self._state(s, meeting)
            return activity_of(st, s, now=now, live=live, feed_limit=feed_limit,
                               last_event_id=self.last_id)

    def recent_episodes(self, s: Session, since: datetime) -> list[Episode]:
        """Between meetings the page shows the episodes since ``since`` (the last 12 hours,
        to the minute). Regrouping them on every screen's refresh cost ~300 ms after a busy
        evening, so they are grouped again only when the window moved or its lookups changed
        (a new event, or events deleted: the count since ``since`` and the newest id tell);
        who is in the room and the names are read fresh by the caller every time."""
        newest, count = s.execute(select(
            select(func.max(Event.id)).scalar_subquery(),
            select(func.count()).select_from(Event).where(Event.ts >= since)
            .scalar_subquery())).one()
        key = (since, int(newest or 0), int(count or 0))
        with self._lock:
            if self._recent is not None and self._recent[0] == key:
                return self._recent[1]
        eps = query_episodes(s, rule=self.rule, meeting_id=None, since=since)
        with self._lock:
            self._recent = (key, eps)
        return eps

    def state(self, s: Session, meeting: Meeting) -> MeetingLive:
        """The meeting's state, caught up with every event committed so far (tests; the page
        uses :meth:`activity`, which reads the state under the same lock)."""
        with self._lock:
            return self._state(s, meeting)

    def _state(self, s: Session, meeting: Meeting) -> MeetingLive:
        # One round trip; min and max apart, so each is an index lookup, not a scan.
        oldest, newest, collapsed = s.execute(select(
            select(func.min(Event.id)).scalar_subquery(),
            select(func.max(Event.id)).scalar_subquery(),
            select(MeetingPrivacy.collapsed_at).where(MeetingPrivacy.meeting_id == meeting.id)
            .scalar_subquery())).one()
        oldest, newest = int(oldest or 0), int(newest or 0)
        st = self._meetings.get(meeting.id)
        if (st is None or st.outages_from != aware(meeting.start) - OUTAGES_BEFORE
                or newest < st.cursor  # the database was reset
                or (st.rows and oldest > st.rows[0].id)  # a retention purge took some
                or collapsed != st.collapsed_at):  # its events became totals
            st = self._build(s, meeting, newest)
            st.collapsed_at = collapsed
        else:
            self._tail(s, st, newest)
        self.last_id = newest
        return st

    def _build(self, s: Session, meeting: Meeting, newest: int) -> MeetingLive:
        st = MeetingLive(meeting.id, meeting.start, self.rule)
        q = (select(*_COLUMNS).where(
            or_(Event.meeting_id == meeting.id,
                (Event.kind == EventKind.OUTAGE.value) & (Event.ts >= st.outages_from)),
            Event.id <= newest).order_by(Event.id))
        st.apply(_rows(s.execute(q)))
        st.cursor = newest
        self.builds += 1
        _out_of_the_collectors_way()
        self._meetings.pop(meeting.id, None)
        self._meetings[meeting.id] = st
        while len(self._meetings) > self.KEEP:
            self._meetings.pop(next(iter(self._meetings)))
        return st

    @staticmethod
    def _tail(s: Session, st: MeetingLive, newest: int) -> None:
        while st.cursor < newest:
            batch = _rows(s.execute(select(*_COLUMNS).where(
                Event.id > st.cursor, Event.id <= newest).order_by(Event.id)
                .limit(TAIL_BATCH)))
            if not batch:
                st.cursor = newest
                break
            st.apply(batch)
