"""group_episodes over runs (consecutive lookups of one device, platform and meeting with
the same name, channels, verdict, member and MAC, cut where the gap is reached) gives exactly
the episodes of the lookups one by one: property test over random lookup patterns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from allowlist.episodes import LookupRow, OpenedRule, group_episodes

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
GAP = timedelta(minutes=2)


@dataclass(slots=True)
class RunRow:
    ts: datetime
    until: datetime
    n: int
    id: int
    platform: str | None
    device_id: int | None
    mac: str | None
    member_id: int | None
    meeting_id: int | None
    domain: str | None
    channels: str
    action: str


def runs_of(rows: list[LookupRow], cut: timedelta) -> list[RunRow]:
    """Runs as a query would make them: ``cut`` ≤ the gap (a run may be cut early)."""
    out: list[RunRow] = []
    open_: dict[tuple[object, ...], RunRow] = {}
    for r in rows:
        key = (r.platform, r.meeting_id, r.device_id, r.mac if r.device_id is None else None)
        run = open_.get(key)
        same = run is not None and (run.domain, run.channels, run.action, run.member_id,
                                    run.mac) == (r.domain, r.channels, r.action, r.member_id,
                                                 r.mac)
        if run is not None and same and r.ts - run.until < cut:
            run.until, run.n = r.ts, run.n + 1
            continue
        run = open_[key] = RunRow(r.ts, r.ts, 1, r.id or 0, r.platform, r.device_id, r.mac,
                                  r.member_id, r.meeting_id, r.domain, r.channels, r.action)
        out.append(run)
    return out


step = st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(seconds=3),
                        timedelta(seconds=29), GAP - timedelta(microseconds=1), GAP,
                        timedelta(seconds=200)])
lookup = st.tuples(step, st.sampled_from([1, 2, None]), st.sampled_from(["instagram", "x"]),
                   st.sampled_from([1, 2]), st.sampled_from(["a.example", "b.example",
                                                             "c.example", "d.example", None]),
                   st.sampled_from(["dns", "dns,quic"]), st.sampled_from(["refused",
                                                                          "observed"]),
                   st.sampled_from([7, 8]))


def facts(eps: list) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
    return [(e.device_id, e.mac, e.member_id, e.platform, e.first, e.last, e.lookups,
             e.first_id, sorted(e.meeting_ids), sorted(e.domains), sorted(e.channels),
             e.connection, e.reached, e.opened) for e in eps]


@settings(max_examples=300, deadline=None)
@given(st.lists(lookup, max_size=80), st.sampled_from([GAP, GAP - timedelta(seconds=1),
                                                       timedelta(seconds=10)]),
       st.sampled_from([OpenedRule(), OpenedRule(2, timedelta(seconds=30)),
                        OpenedRule(3, timedelta(seconds=5))]))
def test_runs_give_the_episodes_of_single_lookups(spec, cut, rule) -> None:  # type: ignore[no-untyped-def]
    at, rows = T0, []
    for i, (dt, dev, plat, meeting, dom, ch, act, member) in enumerate(spec, 1):
        at += dt
        rows.append(LookupRow(at, plat, dev, f"aa:00:00:00:00:0{i % 2}", member if dev
                              else None, meeting, dom, ch, act, i))
    plain = group_episodes(rows, GAP, rule, per_meeting=True, ordered=True)
    runs = group_episodes(runs_of(rows, cut), GAP, rule, per_meeting=True, ordered=True,
                          runs=True)
    assert facts(runs) == facts(plain)
    assert sum(e.lookups for e in runs) == len([r for r in rows if r.platform])
