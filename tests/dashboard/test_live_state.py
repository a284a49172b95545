"""The live page's running state (dashboard/live_state.py) equals a full regroup.

Pure part: for any sequence of events — several devices, platforms and members, lookups with
and without a member, equal times, late writers (a lookup older than one already folded),
bypasses and outages — folded in any chunks, the tallies, episodes and newest feed items are
what grouping everything at once (allowlist.episodes.group_episodes) gives.

Database part: the hub's view equals dashboard.queries.activity() for the golden meeting,
after new events (folded without a rebuild), after a restart (rebuilt once), after End then
Start and an extension, and an episode that ended is not "ongoing".
"""

from __future__ import annotations

import gc
import re
import weakref
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from allowlist.clock import ClerkAction
from allowlist.episodes import OpenedRule, group_episodes
from api.meetings.overrun import extend_meeting
from api.meetings.service import clerk_action
from dashboard import live, queries
from dashboard.live_state import LiveHub, LiveRow, MeetingLive, activity_of
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.evidence.episodes import EpisodeRule, rule_of
from monitor.store.models import Event, Meeting, MeetingPrivacy
from tests.dashboard.conftest import Site
from tests.dashboard.seed import ADA_MAC, attempt
from tests.dashboard.test_pages import post
from tests.reports.seed import END, GRACE_MIN, NOW, Golden, at, seed_golden

T0 = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
MID = 7
RULE = EpisodeRule(timedelta(minutes=2), OpenedRule(3, timedelta(seconds=30)))
PLATFORMS = ("instagram", "tiktok", "facebook")
HOSTS = ("a.example", "b.example", "c.example", "d.example")


@st.composite
def event_rows(draw: Any) -> list[LiveRow]:
    n = draw(st.integers(0, 60))
    rows = []
    for i in range(1, n + 1):
        kind = draw(st.sampled_from((EventKind.ATTEMPT, EventKind.ATTEMPT, EventKind.ATTEMPT,
                                     EventKind.BYPASS, EventKind.OUTAGE)))
        dev = draw(st.sampled_from((1, 2, None)))
        rows.append(LiveRow(
            id=i, ts=T0 + timedelta(seconds=draw(st.integers(-4000, 3000))), kind=kind.value,
            action=draw(st.sampled_from(("refused", "observed"))),
            platform=draw(st.sampled_from(PLATFORMS + (None,))),
            domain=draw(st.sampled_from(HOSTS + (None,))), device_id=dev,
            mac=None if dev else draw(st.sampled_from(("02:00:5e:10:00:09", None))),
            member_id=draw(st.sampled_from((10, 11, None))),
            meeting_id=draw(st.sampled_from((MID, MID, MID, 8, None))),
            channels=draw(st.sampled_from(("dns", "dns,tls", "quic"))), detail=None))
    return rows


def _reference(rows: list[LiveRow]) -> dict[str, Any]:
    """What a full regroup gives, computed the way dashboard.queries.activity does."""
    mine = [r for r in rows if r.meeting_id == MID and r.kind != EventKind.OUTAGE]
    eps = group_episodes([r for r in mine if r.kind == EventKind.ATTEMPT], RULE.gap,
                         RULE.opened)
    totals: Counter[tuple[str, str]] = Counter()
    per_member: Counter[tuple[int, str, str]] = Counter()
    for ep in eps:
        for what, n in (("episodes", 1), ("lookups", ep.lookups), ("opened", int(ep.opened))):
            totals[ep.platform, what] += n
            if ep.member_id is not None:
                per_member[ep.member_id, ep.platform, what] += n
    last: dict[int, datetime] = {}
    for r in mine:
        if r.member_id is not None and r.kind in (EventKind.ATTEMPT, EventKind.BYPASS):
            last[r.member_id] = max(last.get(r.member_id, r.ts), r.ts)
    return {
        "episodes": sorted(((e.device_id, e.mac, e.platform, e.first, e.last, e.lookups,
                            e.opened, e.member_id) for e in eps), key=str),
        "totals": +totals, "per_member": +per_member, "last": last,
        "bypasses": +Counter(r.member_id for r in mine
                             if r.kind == EventKind.BYPASS and r.member_id is not None),
        "feed": [r.id for r in sorted(rows, key=lambda r: r.id)
                 if r.kind != EventKind.ATTEMPT and (r.kind == EventKind.BYPASS or
                                                     r.ts >= T0 - timedelta(hours=1))
                 and (r.kind == EventKind.OUTAGE or r.meeting_id == MID)],
        "newest_opened": sorted(((e.last, e.first, e.first_id) for e in eps if e.opened),
                                reverse=True)[:5],
    }


def _incremental(state: MeetingLive) -> dict[str, Any]:
    totals: Counter[tuple[str, str]] = Counter()
    per_member: Counter[tuple[int, str, str]] = Counter()
    for p in state.totals.values():
        for what in ("episodes", "lookups", "opened"):
            totals[p.key, what] += getattr(p, what)
    for mid, plats in state.per_member.items():
        for p in plats.values():
            for what in ("episodes", "lookups", "opened"):
                per_member[mid, p.key, what] += getattr(p, what)
    return {
        "episodes": sorted(((e.device_id, e.mac, e.platform, e.first, e.last, e.lookups,
                            e.opened, e.member_id) for e in state.fold.episodes), key=str),
        "totals": +totals, "per_member": +per_member, "last": state.last_attempt,
        "bypasses": +Counter(state.bypasses), "feed": [r.id for r in state.events_feed],
        "newest_opened": sorted(((e.last, e.first, e.first_id)
                                 for e in state.newest(True, 5)), reverse=True),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows(), cuts=st.lists(st.integers(0, 60), max_size=6))
def test_incremental_fold_equals_full_regroup(rows: list[LiveRow], cuts: list[int]) -> None:
    state = MeetingLive(MID, T0, RULE)
    start = 0
    for cut in sorted(cuts) + [len(rows)]:
        state.apply(rows[start:max(start, cut)])
        start = max(start, cut)
    assert state.cursor == (rows[-1].id if rows else 0)
    assert _incremental(state) == _reference(rows)


def test_a_late_lookup_refolds_in_time_order() -> None:
    """Folded in id order a late writer's older lookup would split an episode; the state
    refolds and gives the regroup's one episode of three lookups."""
    def look(i: int, minute: float) -> LiveRow:
        return LiveRow(i, T0 + timedelta(minutes=minute), "attempt", "refused", "tiktok",
                       "a.example", 1, None, 10, MID, "dns", None)
    state = MeetingLive(MID, T0, RULE)
    state.apply([look(1, 0), look(2, 3)])
    assert [e.lookups for e in state.fold.episodes] == [1, 1]
    state.apply([look(3, 1.5)])
    assert [e.lookups for e in state.fold.episodes] == [3]
    assert state.totals["tiktok"].episodes == 1 and state.per_member[10]["tiktok"].lookups == 3


# ---------------------------------------------------------------------------- with the database


def _numbers(act: queries.Activity) -> dict[str, Any]:
    return {
        "totals": (act.episodes, act.opened, act.background, act.lookups, act.bypasses),
        "platforms": [(p.key, p.episodes, p.lookups, p.opened) for p in act.platforms],
        "members": [(r.id, r.name, r.bypasses, r.last_attempt, r.present,
                     [(p.key, p.episodes, p.lookups, p.opened) for p in r.platforms])
                    for r in act.members],
        "feed": [(f.kind, f.at, f.first, f.text, f.ongoing, f.lookups, f.label)
                 for f in act.feed],
        "background": [(f.kind, f.at, f.first, f.text, f.ongoing, f.lookups)
                       for f in act.background_feed],
    }


def _agree(g: Golden, hub: LiveHub, now: datetime, *, live: bool) -> queries.Activity:
    with g.db.session() as s:
        m = s.get(Meeting, g.ids["meeting"])
        assert m is not None
        mine = activity_of(hub.state(s, m), s, now=now, live=live)
        full = queries.activity(s, g.settings, now=now, meeting_id=m.id, live=live)
    assert _numbers(mine) == _numbers(full)
    return mine


def _attempts(g: Golden, first: datetime, hosts: list[str]) -> list[EventRecord]:
    return [EventRecord(first + timedelta(seconds=i), EventKind.ATTEMPT, EventAction.REFUSED,
                        room="chamber", mac="02:00:5e:10:00:01", device_id=g.ids["ipad"],
                        member_id=g.ids["ada"], meeting_id=g.ids["meeting"], domain=h,
                        platform="instagram", category="platform", channels="dns")
            for i, h in enumerate(hosts)]


def test_hub_equals_regroup_new_events_restart_and_clerk(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    try:
        hub = LiveHub(rule_of(g.settings))
        act = _agree(g, hub, NOW, live=False)
        assert act.episodes > 0 and hub.builds == 1
        # new events: folded into the same state, no rebuild
        store_now(g.db, _attempts(g, at(20, 50), ["i.instagram.com", "graph.instagram.com",
                                                  "static.cdninstagram.com",
                                                  "scontent.cdninstagram.com"]))
        after = _agree(g, hub, at(20, 51), live=True)
        assert hub.builds == 1 and after.lookups == act.lookups + 4
        assert after.opened == act.opened + 1
        assert after.feed[0].ongoing  # 1 min after the app opened: ongoing
        # the episode ends: no longer "ongoing", from the same state
        ended = _agree(g, hub, at(20, 50) + timedelta(minutes=5), live=True)
        assert not any(f.ongoing for f in ended.feed + ended.background_feed)
        # a late writer's older lookup, then a restart: rebuilt once, same numbers
        store_now(g.db, _attempts(g, at(19, 41), ["i.instagram.com"]))
        _agree(g, hub, NOW, live=False)
        restarted = LiveHub(rule_of(g.settings))
        _agree(g, restarted, NOW, live=False)
        assert restarted.builds == 1
        # End was at END; Start again, extend: same meeting, same state, still equal
        with g.db.session() as s:
            clerk_action(s, meeting_id=g.ids["meeting"], action=ClerkAction.START,
                         actor="clerk", grace=GRACE_MIN, settings=g.settings, at=NOW)
        with g.db.session() as s:
            extend_meeting(s, meeting_id=g.ids["meeting"], minutes=30, actor="clerk",
                           grace=GRACE_MIN, at=NOW + timedelta(minutes=1))
        store_now(g.db, _attempts(g, NOW + timedelta(minutes=2), ["i.instagram.com"]))
        _agree(g, restarted, NOW + timedelta(minutes=3), live=True)
        assert restarted.builds == 1 and END < NOW
        # a retention purge of the oldest events: rebuilt, still equal
        with g.db.session() as s:
            first = min(s.execute(select(Event.id).where(
                Event.meeting_id == g.ids["meeting"])).scalars())
            s.execute(delete(Event).where(Event.id <= first + 2))
        _agree(g, restarted, NOW + timedelta(minutes=3), live=True)
        assert restarted.builds == 2
        # the "counts" privacy level collapsed the meeting's events into totals: rebuilt
        with g.db.session() as s:
            s.execute(delete(Event).where(Event.meeting_id == g.ids["meeting"]))
            s.merge(MeetingPrivacy(meeting_id=g.ids["meeting"], level="counts",
                                   collapsed_at=NOW + timedelta(minutes=4)))
        gone = _agree(g, restarted, NOW + timedelta(minutes=5), live=True)
        assert restarted.builds == 3 and gone.lookups == 0
    finally:
        g.db.dispose()


def test_between_meetings_the_recent_window_is_regrouped_only_when_it_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Screens refreshing between meetings share the last 12 hours' episodes: grouped again
    only when a lookup came or went or the window moved a minute — and always what a fresh
    regroup gives."""
    g = seed_golden(tmp_path)
    try:
        import dashboard.live_state as ls

        grouped: list[datetime] = []
        real = ls.query_episodes

        def counting(s: Any, **kw: Any) -> Any:
            grouped.append(kw["since"])
            return real(s, **kw)

        monkeypatch.setattr(ls, "query_episodes", counting)
        hub = LiveHub(rule_of(g.settings))
        now = NOW + timedelta(hours=1)
        since = queries.recent_since(now)

        def agree(at_: datetime) -> None:
            with g.db.session() as s:
                mine = queries.activity(s, g.settings, now=at_, meeting_id=None, live=False,
                                        episodes=hub.recent_episodes(
                                            s, queries.recent_since(at_)))
                fresh = queries.activity(s, g.settings, now=at_, meeting_id=None, live=False)
            assert fresh.episodes > 0 and (mine.episodes, mine.lookups, mine.opened) == (
                fresh.episodes, fresh.lookups, fresh.opened)
            assert [f.text for f in mine.feed] == [f.text for f in fresh.feed]

        agree(now)
        agree(now + timedelta(seconds=20))  # the same minute, nothing new: not regrouped
        assert grouped == [since]
        store_now(g.db, _attempts(g, now, ["i.instagram.com"]))  # a new lookup
        agree(now + timedelta(seconds=30))
        assert len(grouped) == 2
        with g.db.session() as s:  # a lookup deleted (a purge, a collapse)
            s.execute(delete(Event).where(Event.id == min(s.execute(
                select(Event.id).where(Event.ts >= since)).scalars())))
        agree(now + timedelta(seconds=40))
        assert len(grouped) == 3
        agree(now + timedelta(minutes=1))  # the window moved
        assert grouped[-1] == since + timedelta(minutes=1) and len(grouped) == 4
    finally:
        g.db.dispose()


def test_a_built_state_is_skipped_by_full_collections_and_still_freed(tmp_path: Path) -> None:
    """Once built, a meeting's state is frozen out of the cycle collector's walk (an update
    that triggered a full collection took ~90 ms instead of ~4 at 20,000 lookups); dropping
    the state still frees it, by reference counting."""
    g = seed_golden(tmp_path)
    try:
        class Cyclic:  # what a request holds while a state is built (its session)
            def __init__(self) -> None:
                self.me = self

        held = Cyclic()
        hub = LiveHub(rule_of(g.settings))
        _agree(g, hub, NOW, live=False)
        with g.db.session() as s:
            m = s.get(Meeting, g.ids["meeting"])
            assert m is not None
            st = hub.state(s, m)
        ep = st.fold.episodes[0]
        assert gc.get_freeze_count() > 0
        assert not any(o is ep for o in gc.get_objects())  # a full collection skips it
        gone = weakref.ref(st)
        del st, ep
        hub._meetings.clear()
        assert gone() is None  # freed although frozen: no cycles hold it
        # Frozen at that build, cyclic garbage since: collected at the next build.
        cyclic = weakref.ref(held)
        del held
        gc.collect()
        assert cyclic() is not None  # frozen: the collector does not see it
        _agree(g, hub, NOW, live=False)  # the next build
        assert cyclic() is None
    finally:
        g.db.dispose()


# ---------------------------------------------------------------------------- the page


def test_open_screens_share_one_state_and_view(site: Site) -> None:
    """Two signed-in screens: one build from the database, then only new events; a view made
    for one is reused by the other while it shows what they were told of, and never after a
    clerk's change. Each screen keeps its own buttons."""
    db, ids = site.seeded.db, site.ids
    clerk, viewer = site.login("clerk"), site.login("viewer")
    post(clerk, f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
    with db.session() as s:  # overrunning soon: the clerk (only) may extend it
        m = s.get(Meeting, ids["meeting"])
        assert m is not None
        m.end = datetime.now(UTC) + timedelta(minutes=3)
    attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    first = clerk.get("/live/fragment").text
    last = int(re.search(r'data-last="([0-9]+)"', first).group(1))  # type: ignore[union-attr]
    hub = clerk.app.state.live_hub  # type: ignore[attr-defined]
    assert hub.builds == 1
    other = viewer.get(f"/live/fragment?after={last}").text
    assert f'data-last="{last}"' in other and "1 background (1 lookup)" in other
    extend = f'/meetings/{ids["meeting"]}/extend"'
    assert extend in first and extend not in other  # the same view, each their own buttons
    attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"], domain="graph.instagram.com")
    newer = viewer.get(f"/live/fragment?after={last + 1}").text  # told of the new event
    assert "1 background (2 lookups)" in newer and hub.builds == 1
    post(clerk, f"/meetings/{ids['meeting']}/end", {"confirmed": "1"})
    assert 'data-meeting=""' in viewer.get(f"/live/fragment?after={last + 1}").text


def test_a_view_read_across_a_clerk_change_is_never_shared(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fragment read that was under way when the clerk started the meeting holds the state
    before it; a screen asking straight after (the page the Start redirects to) must get a new
    view, not that one — else it sees 'no meeting', takes it for a change made elsewhere and
    reloads itself."""
    ids = site.ids
    clerk = site.login("clerk")
    real = live._shared_context

    def read_then_the_clerk_starts(request: Any, now: datetime, sort: str) -> dict[str, Any]:
        ctx = real(request, now, sort)  # read before the start was committed
        if not hasattr(read_then_the_clerk_starts, "done"):
            read_then_the_clerk_starts.done = True  # type: ignore[attr-defined]
            post(clerk, f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
        return ctx

    monkeypatch.setattr(live, "_shared_context", read_then_the_clerk_starts)
    during = clerk.get("/live/fragment").text
    assert 'data-meeting=""' in during  # what was read before the start
    after = clerk.get("/live/fragment").text
    assert f'data-meeting="{ids["meeting"]}"' in after
