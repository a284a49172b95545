"""Refused flows become the right events: an app's connection to a cached platform address
(TCP or QUIC) is a platform attempt, not a bypass; DoH/DoT by address is another DNS
service; one DoH try (the name looked up, then the address connected to) is one event; a
QUIC flow to an address that is neither a platform's nor a DNS service's is not recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.events import EventAction, EventKind, EventRecord
from monitor.gate.refusals import AddressNames, RecentBypass, RefusalRecorder

MAC = "02:00:5e:10:00:01"
DOH = "203.0.113.53"
IG = "203.0.113.10"
T0 = datetime(2026, 11, 26, 19, 30, tzinfo=UTC)


def recorder() -> tuple[RefusalRecorder, list[EventRecord], RecentBypass]:
    got: list[EventRecord] = []
    names = AddressNames()
    names.remember([IG], "i.instagram.com", "instagram")
    recent = RecentBypass()

    def submit(e: EventRecord) -> bool:
        got.append(e)
        return True

    return RefusalRecorder(recent.tap(submit), "chamber", [DOH], names, recent), got, recent


def test_quic_to_a_cached_platform_address_is_a_platform_attempt() -> None:
    rec, got, _ = recorder()
    assert rec.update([(MAC, IG, "udp", 443), (MAC, IG, "tcp", 443)], {}, T0) == 2
    assert [(e.kind, e.platform, e.channels) for e in got] == [
        (EventKind.ATTEMPT, "instagram", "ip"), (EventKind.ATTEMPT, "instagram", "quic")]
    assert all(e.action is EventAction.REFUSED and e.category == "platform" for e in got)
    assert all((e.detail or "").startswith("connection to a cached address") for e in got)


def test_quic_to_an_unknown_address_is_not_an_event() -> None:
    rec, got, _ = recorder()
    assert rec.update([(MAC, "198.51.100.77", "udp", 443)], {}, T0) == 0
    assert got == []


def test_one_doh_try_is_one_event() -> None:
    rec, got, recent = recorder()
    by_name = EventRecord(T0, EventKind.BYPASS, EventAction.REFUSED, mac=MAC,
                          domain="dns.google", detail="doh")
    recent.tap(lambda e: got.append(e) or True)(by_name)  # the gate's DNS step records it
    assert rec.update([(MAC, DOH, "tcp", 443)], {}, T0 + timedelta(seconds=2)) == 0
    assert len(got) == 1
    # another device's connection, or the same device much later, is a try of its own
    assert rec.update([("02:00:5e:10:00:02", DOH, "tcp", 443)], {},
                      T0 + timedelta(seconds=3)) == 1
    assert rec.update([(MAC, DOH, "udp", 443)], {}, T0 + timedelta(minutes=5)) == 1
    assert [e.detail.split(":")[0] for e in got[1:]] == ["doh", "doh"]  # type: ignore[union-attr]


def test_doh_by_address_alone_counts_once_per_try() -> None:
    rec, got, _ = recorder()
    assert rec.update([(MAC, DOH, "tcp", 443)], {}, T0) == 1
    # the flow drops out of the set and comes back a second later: the same try
    assert rec.update([], {}, T0 + timedelta(seconds=1)) == 0
    assert rec.update([(MAC, DOH, "tcp", 443)], {}, T0 + timedelta(seconds=2)) == 0
    assert len(got) == 1 and got[0].kind is EventKind.BYPASS
    # DoT after DoH is another try (another kind), recorded once too
    assert rec.update([(MAC, DOH, "tcp", 853)], {}, T0 + timedelta(seconds=3)) == 1
    assert rec.update([], {}, T0 + timedelta(seconds=4)) == 0
    assert rec.update([(MAC, DOH, "tcp", 853)], {}, T0 + timedelta(seconds=5)) == 0
    assert [str(e.detail).split(":")[0] for e in got] == ["doh", "dot"]
