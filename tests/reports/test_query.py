"""The report's one read gives the episodes of allowlist.episodes.group_episodes (the one
rule, as the live page's query helper gets them): edge cases (exactly the gap, a microsecond
less, equal times, a device known only by its MAC, a device whose member changed
mid-meeting, empty platform names) and random data, on SQLite and PostgreSQL. Its tallies
equal a plain SQL GROUP BY; every lookup carries its episode."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from allowlist.episodes import OpenedRule, group_episodes
from api.reports import query
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.evidence.episodes import EpisodeRule, platform_lookups
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from tests.pg import pg_cluster  # noqa: F401  (session fixture)

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night the clocks go forward
GAP = timedelta(minutes=2)
RULE = EpisodeRule(GAP, OpenedRule())
US = timedelta(microseconds=1)


def lookup(ts: datetime, dev: int | None, plat: str, meeting: int = 1, member: int | None = 1,
           mac: str = "02:00:5e:00:00:01", kind: EventKind = EventKind.ATTEMPT) -> EventRecord:
    return EventRecord(ts, kind, EventAction.REFUSED, room="chamber", mac=mac, device_id=dev,
                       member_id=member, meeting_id=meeting, domain="x.example",
                       platform=plat or None if kind is EventKind.ATTEMPT else None,
                       category="platform")


def edge_cases() -> list[EventRecord]:
    t = T0
    return [
        lookup(t, 1, "instagram"), lookup(t + GAP - US, 1, "instagram"),  # joins
        lookup(t + 2 * GAP - US, 1, "instagram"),  # exactly GAP after the previous: new
        lookup(t + 2 * GAP - US, 1, "instagram"),  # equal time: joins
        lookup(t + 10 * GAP, 1, "instagram"),
        lookup(t + 30 * US, 1, "tiktok"),  # another platform, same device: its own
        lookup(t + 40 * US, None, "instagram", member=None, mac="da:a1:19:00:00:07"),
        lookup(t + GAP, None, "instagram", member=None, mac="da:a1:19:00:00:07"),  # = GAP: new
        lookup(t + 50 * US, None, "instagram", member=None, mac="da:a1:19:00:00:08"),
        # device 2 re-registered from member 9 to member 1 mid-meeting: rows of the lower
        # member id come later in time (read in member order, the scan must reorder)
        lookup(t + 5 * GAP, 2, "x", member=9), lookup(t + 5 * GAP + US, 2, "x", member=1),
        lookup(t + 5 * GAP - US, 2, "x", member=9),
        lookup(t + 3 * GAP, 3, "facebook", meeting=2),  # another meeting
        lookup(t + 3 * GAP + US, 3, "facebook", meeting=2),
        lookup(t + GAP, 1, "", kind=EventKind.ATTEMPT),  # no platform: not a lookup
        lookup(t + GAP, 1, "instagram", kind=EventKind.BYPASS),
        lookup(t + GAP, 4, "instagram", kind=EventKind.DEVICE_SEEN, member=None),
    ]


def random_events(seed: int, n: int = 600) -> list[EventRecord]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        dev = rnd.choice([1, 2, 3, None])
        at = T0 + timedelta(seconds=rnd.choice([rnd.uniform(0, 3600), 120 * rnd.randint(0, 30)]))
        out.append(lookup(at, dev, rnd.choice(["instagram", "tiktok", "x"]),
                          meeting=rnd.choice([1, 1, 2]), member=dev or None,
                          mac=rnd.choice(["aa:00:00:00:00:01", "aa:00:00:00:00:02"]),
                          kind=rnd.choice([EventKind.ATTEMPT] * 8 + [EventKind.BYPASS])))
    # written in a shuffled order: ids are not time order (spool replays)
    rnd.shuffle(out)
    return out


def compare(db: Database) -> None:
    with db.session() as s:
        conn = s.connection()
        for meeting in (1, 2):
            want = [(e.device_id, e.mac if e.device_id is None else None, e.member_id,
                     e.platform, e.first, e.last, e.lookups)
                    for e in group_episodes(platform_lookups(s, meeting_id=meeting), GAP)]
            sc = query.scan(conn, RULE, "meeting_id = ?", [meeting])
            got = [(e.device_id, e.mac if e.device_id is None else None, e.member_id,
                    e.platform, e.first, e.last, e.lookups) for e in sc.episodes]
            assert got == want, meeting
            for r in sc.lookups:
                if r.kind == "attempt":
                    assert r.id in sc.episode_of
                    assert r.id in sc.episodes[sc.episode_of[r.id]].event_ids
                else:
                    assert r.id not in sc.episode_of
        sc = query.scan(conn, RULE, "meeting_id IN (?, ?)", [1, 2])
        assert sorted((query.meeting_of(e), e.first, e.lookups) for e in sc.episodes) == sorted(
            (m, e.first, e.lookups) for m in (1, 2)
            for e in group_episodes(platform_lookups(s, meeting_id=m), GAP))
        plain = {(k, a, bool(p)): n for k, a, p, n in conn.execute(text(
            "SELECT kind, action, platform IS NOT NULL AND platform <> '', count(*) "
            "FROM events GROUP BY 1, 2, 3"))}
        got: dict[tuple[str, str, bool], int] = {}
        for t in sc.tallies:
            got[(t.kind, t.action, t.platform)] = got.get((t.kind, t.action, t.platform),
                                                          0) + t.count
        assert got == plain


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    d = Database(url)
    yield d
    d.dispose()


def test_edge_cases_sqlite(db: Database) -> None:
    store_now(db, edge_cases())
    compare(db)
    with db.session() as s:
        sc = query.scan(s.connection(), RULE, "meeting_id = ?", [1])
    assert [(e.platform, e.lookups) for e in sc.episodes if e.device_id == 1] == [
        ("instagram", 2), ("tiktok", 1), ("instagram", 2), ("instagram", 1)]
    assert [b.id for b in sc.bypasses] == [16]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_data_sqlite(db: Database, seed: int) -> None:
    store_now(db, random_events(seed))
    compare(db)


@pytest.mark.postgres
def test_edge_cases_and_random_data_postgresql(pg_cluster) -> None:  # noqa: F811
    for events in (edge_cases(), random_events(4)):
        d = Database(pg_cluster.new_database())
        try:
            with d.engine.begin() as c:  # a session time zone other than UTC
                c.execute(text("ALTER DATABASE " + d.engine.url.database
                               + " SET timezone TO 'Europe/London'"))
            d.dispose()
            store_now(d, events)
            compare(d)
        finally:
            d.dispose()
