"""One episode rule: the live page, the report and the API give identical numbers for the
same meeting (episodes, likely opened, background, lookups, other DNS services), per member
and platform — because all three group through allowlist.episodes.group_episodes."""

from __future__ import annotations

from datetime import timedelta

from api.events.episodes import list_episodes
from api.reports import builder
from dashboard import queries
from dashboard.live_state import LiveHub, activity_of
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.evidence.episodes import rule_of
from monitor.store.models import Meeting
from tests.reports.seed import NOW, Golden, at


def _app_open(g: Golden) -> list[EventRecord]:
    hosts = ["i.instagram.com", "graph.instagram.com", "scontent-lhr8-1.cdninstagram.com",
             "static.cdninstagram.com", "scontent-lhr8-2.cdninstagram.com"]
    return [EventRecord(at(19, 50) + timedelta(seconds=i), EventKind.ATTEMPT,
                        EventAction.REFUSED, room="chamber", mac="02:00:5e:10:00:01",
                        device_id=g.ids["ipad"], member_id=g.ids["ada"],
                        meeting_id=g.ids["meeting"], domain=h, platform="instagram",
                        category="platform", channels="dns")
            for i, h in enumerate(hosts)]


def test_live_page_report_and_api_agree(golden: Golden) -> None:
    g = golden
    store_now(g.db, _app_open(g))
    mid = g.ids["meeting"]
    with g.db.session() as s:
        act = queries.activity(s, g.settings, now=NOW, meeting_id=mid, feed_limit=1000)
        doc = builder.meeting_report(s, g.settings, mid, now=NOW)
        api = list_episodes(s, rule=rule_of(g.settings), now=NOW, meeting_id=mid,
                            member_id=None, since=None, until=None)
        # what the live page shows: the meeting's running state (new events only)
        meeting = s.get(Meeting, mid)
        assert meeting is not None
        running = activity_of(LiveHub(rule_of(g.settings)).state(s, meeting), s, now=NOW,
                              live=True, feed_limit=1000)
    t = doc["totals"]
    assert (act.episodes, act.opened, act.background, act.lookups, act.bypasses) == (
        t["episodes"], t["opened"], t["background"], t["lookups"], t["bypass_attempts"])
    assert t["opened"] == 1 and t["episodes"] == 7  # the app opening, six background
    assert len(api) == t["episodes"]
    assert sum(1 for e in api if e["label"] == "opened") == t["opened"]
    assert sum(int(str(e["lookups"])) for e in api) == t["lookups"]
    assert (running.episodes, running.opened, running.background, running.lookups,
            running.bypasses) == (act.episodes, act.opened, act.background, act.lookups,
                                  act.bypasses)
    live = {(r.name, p.name): (p.episodes, p.opened, p.lookups)
            for r in act.members for p in r.platforms}
    assert live == {(r.name, p.name): (p.episodes, p.opened, p.lookups)
                    for r in running.members for p in r.platforms}
    report = {(m["name"], p["name"]): (p["episodes"], p["opened"], p["lookups"])
              for m in doc["members"] for p in m["platforms"]}
    assert live == report
    assert {r.name: r.bypasses for r in act.members if r.bypasses} == {
        m["name"]: m["bypass_attempts"] for m in doc["members"] if m["bypass_attempts"]}
    # the sentences are the same words too
    feed = {f.text for f in act.feed + act.background_feed if f.kind == "episode"}
    assert feed == {f.text for f in running.feed + running.background_feed
                    if f.kind == "episode"}
    assert feed == {str(e["text"]) for e in api}
    assert feed == {e["text"] for m in doc["members"] for e in m["episode_list"]}
