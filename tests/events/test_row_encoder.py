"""The writer's RowEncoder must give exactly what ``wire`` + ``chain.encode_rows`` give — the
spool's bytes and the chain's hashes depend on it — whatever the records hold, and however
its cache of repeated tails is filled, hit or cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.events import EventAction, EventKind, EventRecord, RowEncoder
from monitor.evidence import chain

T0 = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)

texts = st.none() | st.sampled_from(["i.instagram.com", "chamber", "dns,tls"]) | st.text(
    max_size=12)  # quotes, backslashes, control and non-ASCII characters included
# 1/True and 0/False are equal dict keys but encode differently: drawn often on purpose.
ids = st.none() | st.sampled_from([True, False, 1, 0]) | st.integers(-(2**40), 2**40)
times = st.sampled_from([
    T0, T0 + timedelta(microseconds=1), T0.replace(tzinfo=timezone(timedelta(hours=1))),
    T0.replace(tzinfo=None),  # naive: stored as NULL, reported by the writer
])
records = st.builds(
    EventRecord, ts=times, kind=st.sampled_from(list(EventKind)),
    action=st.sampled_from(list(EventAction)), room=texts, mac=texts, device_id=ids,
    member_id=ids, meeting_id=ids, domain=texts, platform=texts, category=texts,
    channels=st.sampled_from(["dns", "tls", "dns,quic"]), rule=texts, detail=texts)


def reference(recs: list[EventRecord], uids: list[str]
              ) -> tuple[list[tuple[object, ...]], list[str], list[str]]:
    rows = [r.wire(u) for u, r in zip(uids, recs, strict=True)]
    raw, bodies = chain.encode_rows(rows)
    return rows, raw, bodies


def _with_lookalikes(rs: list[EventRecord]) -> list[EventRecord]:
    """Repeat records whose ids are 0/1/True/False, so equal-but-not-same tails meet."""
    return rs + [r for r in rs if r.device_id in (0, 1)]


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=12).map(_with_lookalikes), st.integers(1, 4),
       st.integers(1, 3))
def test_same_rows_json_and_bodies_as_the_reference(recs: list[EventRecord], size: int,
                                                    repeat: int) -> None:
    enc = RowEncoder(size=size)  # a tiny cache: filled, hit and cleared within one example
    batch = recs * repeat
    uids = [f"0123abcd-{i}" for i in range(1, len(batch) + 1)]
    rows, raw, bodies = enc.encode(batch, uids)
    want = reference(batch, uids)
    assert rows == want[0]
    assert [type(v) for r in rows for v in r] == [type(v) for r in want[0] for v in r]
    assert raw == want[1] and bodies == want[2]


def test_a_bool_id_never_takes_an_int_ids_cached_json() -> None:
    enc = RowEncoder()
    one = EventRecord(T0, EventKind.ATTEMPT, EventAction.REFUSED, device_id=1)
    true = EventRecord(T0, EventKind.ATTEMPT, EventAction.REFUSED, device_id=True)
    _, raw, bodies = enc.encode([one, true], ["a-1", "a-2"])
    assert ',1,' in raw[0] and ',true,' in raw[1]
    assert bodies[1] == chain.canonical(true.wire("a-2")) and ',1,' in bodies[1]


def test_the_cache_stays_bounded() -> None:
    enc = RowEncoder(size=8)
    recs = [EventRecord(T0, EventKind.ATTEMPT, EventAction.REFUSED, domain=f"d{i}.example")
            for i in range(100)]
    enc.encode(recs, [f"b-{i}" for i in range(100)])
    assert len(enc._tails) <= 8
