"""Episode grouping: the edge rule (gap < N joins; exactly N starts a new one), midnight and
clock changes, several devices of one member, interleaved platforms; then the query helper
and the API route on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from allowlist.episodes import LookupRow, OpenedRule, group_episodes
from api.auth.roles import Role
from monitor.evidence.episodes import EpisodeRule, query_episodes
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import Device, Event, Meeting, Member
from tests.events.webapp import running_app, token_for

GAP = timedelta(minutes=2)
RULE = EpisodeRule(GAP, OpenedRule())
T0 = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)

# (seconds after T0 — or an explicit datetime, device, platform)
Case = list[tuple[timedelta | datetime, str, str]]


def _rows(case: Case) -> list[LookupRow]:
    out = []
    for when, dev, platform in case:
        ts = when if isinstance(when, datetime) else T0 + when
        out.append(LookupRow(ts=ts, platform=platform, mac=dev, member_id=1, meeting_id=7,
                             domain=f"www.{platform}.com"))
    return out


Summary = list[tuple[str | None, str, datetime, datetime, int]]
Expected = list[tuple[str, str, timedelta | datetime, timedelta | datetime, int]]


def _summary(case: Case, gap: timedelta = GAP) -> Summary:
    return [(e.mac, e.platform, e.first, e.last, e.lookups)
            for e in group_episodes(_rows(case), gap)]


TABLE: list[tuple[str, Case, Expected]] = [
    ("one lookup", [(0 * S, "a", "instagram")], [("a", "instagram", 0 * S, 0 * S, 1)]),
    ("gap just under N joins",
     [(0 * S, "a", "instagram"), (GAP - US, "a", "instagram")],
     [("a", "instagram", 0 * S, GAP - US, 2)]),
    ("gap of exactly N starts a new episode",
     [(0 * S, "a", "instagram"), (GAP, "a", "instagram")],
     [("a", "instagram", 0 * S, 0 * S, 1), ("a", "instagram", GAP, GAP, 1)]),
    ("gap over N starts a new episode",
     [(0 * S, "a", "instagram"), (GAP + S, "a", "instagram")],
     [("a", "instagram", 0 * S, 0 * S, 1), ("a", "instagram", GAP + S, GAP + S, 1)]),
    ("the gap is measured from the previous lookup, not the first",
     [(k * 119 * S, "a", "tiktok") for k in range(10)],
     [("a", "tiktok", 0 * S, 9 * 119 * S, 10)]),
    ("same-instant lookups are one episode",
     [(0 * S, "a", "x"), (0 * S, "a", "x"), (0 * S, "a", "x")],
     [("a", "x", 0 * S, 0 * S, 3)]),
    ("midnight is not a boundary",
     [(datetime(2026, 3, 4, 23, 59, 30, tzinfo=UTC), "a", "facebook"),
      (datetime(2026, 3, 5, 0, 0, 45, tzinfo=UTC), "a", "facebook")],
     [("a", "facebook", datetime(2026, 3, 4, 23, 59, 30, tzinfo=UTC),
       datetime(2026, 3, 5, 0, 0, 45, tzinfo=UTC), 2)]),
    # 2026-10-25 01:59 BST → 01:00 GMT: the London clock goes back, UTC does not.
    ("the autumn clock change is not a boundary (UTC is continuous)",
     [(datetime(2026, 10, 25, 0, 59, 30, tzinfo=UTC), "a", "facebook"),
      (datetime(2026, 10, 25, 1, 0, 30, tzinfo=UTC), "a", "facebook")],
     [("a", "facebook", datetime(2026, 10, 25, 0, 59, 30, tzinfo=UTC),
       datetime(2026, 10, 25, 1, 0, 30, tzinfo=UTC), 2)]),
    ("two devices of one member are two episodes",
     [(0 * S, "phone", "instagram"), (10 * S, "tablet", "instagram"),
      (20 * S, "phone", "instagram"), (30 * S, "tablet", "instagram")],
     [("phone", "instagram", 0 * S, 20 * S, 2), ("tablet", "instagram", 10 * S, 30 * S, 2)]),
    ("interleaved platforms are separate episodes, each with its own gap",
     [(0 * S, "a", "instagram"), (60 * S, "a", "facebook"), (119 * S, "a", "instagram"),
      (170 * S, "a", "facebook"), (300 * S, "a", "instagram")],
     [("a", "instagram", 0 * S, 119 * S, 2), ("a", "facebook", 60 * S, 170 * S, 2),
      ("a", "instagram", 300 * S, 300 * S, 1)]),
    ("another platform in between does not keep an episode open",
     [(0 * S, "a", "instagram"), (100 * S, "a", "facebook"), (200 * S, "a", "instagram")],
     [("a", "instagram", 0 * S, 0 * S, 1), ("a", "facebook", 100 * S, 100 * S, 1),
      ("a", "instagram", 200 * S, 200 * S, 1)]),
    ("input out of order is grouped as if sorted",
     [(90 * S, "a", "x"), (0 * S, "a", "x"), (400 * S, "a", "x"), (30 * S, "a", "x")],
     [("a", "x", 0 * S, 90 * S, 3), ("a", "x", 400 * S, 400 * S, 1)]),
]


@pytest.mark.parametrize(("case", "expected"), [(c, e) for _, c, e in TABLE],
                         ids=[name for name, _, _ in TABLE])
def test_grouping_table(case: Case, expected: Expected) -> None:
    def at(v: timedelta | datetime) -> datetime:
        return v if isinstance(v, datetime) else T0 + v

    assert _summary(case) == [(d, p, at(f), at(la), n) for d, p, f, la, n in expected]


def test_events_without_platform_are_not_lookups() -> None:
    rows = [LookupRow(T0, None, mac="a"), LookupRow(T0, "", mac="a"),
            LookupRow(T0 + S, "x", mac="a")]
    eps = group_episodes(rows, GAP)
    assert [(e.platform, e.lookups) for e in eps] == [("x", 1)]


def test_device_id_wins_over_mac_and_episode_keeps_what_it_saw() -> None:
    rows = [LookupRow(T0, "x", device_id=5, mac="02:00:00:00:00:01", member_id=3, meeting_id=9,
                      domain="a.x.com"),
            # same registered device, MAC since randomised: still one device
            LookupRow(T0 + S, "x", device_id=5, mac="02:00:00:00:00:02", member_id=3,
                      meeting_id=9, domain="b.x.com")]
    (ep,) = group_episodes(rows, GAP)
    assert (ep.device_id, ep.member_id, ep.lookups) == (5, 3, 2)
    assert ep.domains == {"a.x.com", "b.x.com"} and ep.meeting_ids == {9}


def test_ongoing_uses_the_same_edge_rule() -> None:
    (ep,) = group_episodes([LookupRow(T0, "x", mac="a")], GAP)
    assert ep.ongoing(T0 + GAP - US, GAP)
    assert not ep.ongoing(T0 + GAP, GAP)


def test_gap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        group_episodes([], timedelta(0))


# -- the query helper and the API, on both databases -------------------------------------

def _seed(db: Database) -> dict[str, int]:
    with db.session() as s:
        ada = Member(name="Cllr Ada Lovelace")
        bob = Member(name="Cllr Bob")
        s.add_all([ada, bob])
        s.flush()
        phone = Device(mac="02:00:5e:10:00:01", label="Phone", member_id=ada.id)
        tablet = Device(mac="02:00:5e:10:00:02", label="iPad", member_id=ada.id)
        bobs = Device(mac="02:00:5e:10:00:03", label="Phone", member_id=bob.id)
        mtg = Meeting(title="Full Council", start=T0, end=T0 + timedelta(hours=3), room="chamber")
        s.add_all([phone, tablet, bobs, mtg])
        s.flush()
        ids = {"ada": ada.id, "bob": bob.id, "phone": phone.id, "tablet": tablet.id,
               "bobs": bobs.id, "meeting": mtg.id}
    rows = []
    for sec, dev, member, platform in [
        (0, "phone", "ada", "instagram"), (60, "phone", "ada", "instagram"),
        (70, "tablet", "ada", "instagram"), (400, "phone", "ada", "instagram"),
        (30, "bobs", "bob", "facebook"),
    ]:
        rows.append({"ts": T0 + sec * S, "kind": "attempt", "action": "refused", "room": "chamber",
                     "device_id": ids[dev], "member_id": ids[member], "meeting_id": ids["meeting"],
                     "platform": platform, "domain": f"www.{platform}.com", "channels": "dns"})
    # not lookups of a platform: a bypass and an outage
    rows.append({"ts": T0 + 5 * S, "kind": "bypass", "action": "refused", "room": "chamber",
                 "device_id": ids["phone"], "member_id": ids["ada"], "meeting_id": ids["meeting"],
                 "domain": "dns.google", "channels": "dns"})
    rows.append({"ts": T0 + 6 * S, "kind": "outage", "action": "observed", "channels": "dns"})
    blank = {c: None for c in ("mac", "room", "device_id", "member_id", "meeting_id", "domain",
                               "platform", "category", "rule", "detail")}
    with db.engine.begin() as conn:
        conn.execute(insert(Event), [{**blank, **r} for r in rows])
    return ids


def test_query_helper_for_meeting_member_and_range(db: Database) -> None:
    ids = _seed(db)
    with db.session() as s:
        eps = query_episodes(s, rule=RULE, meeting_id=ids["meeting"])
        assert [(e.device_id, e.platform, e.lookups) for e in eps] == [
            (ids["phone"], "instagram", 2), (ids["bobs"], "facebook", 1),
            (ids["tablet"], "instagram", 1), (ids["phone"], "instagram", 1)]
        eps = query_episodes(s, rule=RULE, meeting_id=ids["meeting"], member_id=ids["bob"])
        assert [(e.member_id, e.platform) for e in eps] == [(ids["bob"], "facebook")]
        eps = query_episodes(s, rule=RULE, since=T0 + 50 * S, until=T0 + 100 * S)
        assert [(e.device_id, e.first) for e in eps] == [
            (ids["phone"], T0 + 60 * S), (ids["tablet"], T0 + 70 * S)]


def test_episodes_route(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    ids = _seed(db)
    settings = Settings(site={"data_dir": tmp_path})
    clerk = token_for(db, "clerk1", Role.CLERK)
    with running_app(settings, db) as (base, _app):
        r = httpx.get(f"{base}/api/v1/episodes", params={"meeting_id": ids["meeting"]})
        assert r.status_code == 401
        r = httpx.get(f"{base}/api/v1/episodes",
                      params={"meeting_id": ids["meeting"], "member_id": ids["ada"]},
                      headers={"Authorization": f"Bearer {clerk}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["gap_minutes"] == 2
        assert [(e["device"], e["platform_name"], e["lookups"], e["ongoing"])
                for e in body["items"]] == [("Phone", "Instagram", 2, False),
                                            ("iPad", "Instagram", 1, False),
                                            ("Phone", "Instagram", 1, False)]
        assert body["items"][0]["text"] == \
            "Cllr Ada Lovelace's device (Phone) looked up Instagram — refused: 2 lookups of 1 " \
            "name over 1 minute; background activity likely"
        assert body["items"][0]["label"] == "background"
        assert body["items"][0]["connection_attempted"] is False
        assert body["items"][0]["first"] == T0.isoformat()
    db.dispose()
