"""Refused flows (from nftables' ``refused`` sets) → attempt and bypass events.

nftables remembers each refused (device, address, protocol, port) for a minute; every tick the
gate lists those sets and records entries it has not seen yet. A DNS-level refusal already
produced its own event; these catch what never asked the gate: DoT, DoH by address, and apps
connecting to platform addresses they had cached (over TCP or QUIC alike).

Words matter here (the evidence is about people): an app's connection to a cached platform
address is a *platform attempt*, never a bypass — QUIC is how current apps talk, not a way
round anything. A bypass is another DNS service (DoH, DoT). One try is one event: a device
whose DoH/DoT lookup by name was just recorded (:class:`RecentBypass`) is not recorded
again when it then connects to that service's address. A QUIC or TCP flow to an address
that is neither a platform's nor a DNS service's is counted nowhere (like an unlisted name).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from allowlist.categories import BypassKind, Category
from allowlist.decision import Restriction
from monitor.events import EventAction, EventKind, EventRecord

Flow = tuple[str, str, str, int]


class AddressNames:
    """Recently resolved platform addresses → (domain, platform), bounded LRU.

    Filled from the gate's own answers for platform names (anyone's lookups), so a device that
    connects to a cached Instagram address is still recognised as contacting Instagram.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self._map: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.capacity = capacity

    def remember(self, addresses: Iterable[str], domain: str, platform: str) -> None:
        for a in addresses:
            self._map[a] = (domain, platform)
            self._map.move_to_end(a)
        while len(self._map) > self.capacity:
            self._map.popitem(last=False)

    def get(self, address: str) -> tuple[str, str] | None:
        return self._map.get(address)


def classify(flow: Flow, doh_addresses: frozenset[str]) -> BypassKind | None:
    """DoT (port 853) or DoH (a known encrypted-DNS address, any port); else not a bypass."""
    _, addr, _, port = flow
    if port == 853:
        return BypassKind.DOT
    if addr in doh_addresses:
        return BypassKind.DOH
    return None


_WORDS = {
    BypassKind.DOT: "DNS over TLS/QUIC (port 853) refused",
    BypassKind.DOH: "DNS over HTTPS resolver by address refused",
}
ENCRYPTED_DNS = frozenset({BypassKind.DOH.value, BypassKind.DOT.value})


class RecentBypass:
    """Devices whose encrypted-DNS try was recorded in the last ``window`` (by MAC and kind:
    a DoT try after a DoH try is a try of its own).

    :meth:`tap` wraps the event submitter, so every path that records a DoH/DoT lookup by
    name (the Python chain, the native fast path) is seen; the refusal recorder then skips
    the same try's connection by address. Bounded: old entries go when it grows."""

    def __init__(self, window: timedelta = timedelta(seconds=120), cap: int = 10_000) -> None:
        self.window = window
        self.cap = cap
        self._seen: dict[tuple[str, str], datetime] = {}

    def note(self, rec: EventRecord) -> None:
        kind = (rec.detail or "").split(":", 1)[0]
        if rec.kind is EventKind.BYPASS and rec.mac and kind in ENCRYPTED_DNS:
            self._seen[(rec.mac, kind)] = rec.ts
            if len(self._seen) > self.cap:
                cut = rec.ts - self.window
                self._seen = {m: t for m, t in self._seen.items() if t >= cut}

    def tap(self, submit: Callable[[EventRecord], bool]) -> Callable[[EventRecord], bool]:
        def submit_and_note(rec: EventRecord) -> bool:
            self.note(rec)
            return submit(rec)
        return submit_and_note

    def recent(self, mac: str, kind: BypassKind, now: datetime) -> bool:
        t = self._seen.get((mac, kind.value))
        return t is not None and timedelta(0) <= now - t < self.window


class RefusalRecorder:
    def __init__(
        self,
        submit: Callable[[EventRecord], bool],
        room: str,
        doh_addresses: Iterable[str],
        names: AddressNames,
        recent: RecentBypass | None = None,
    ) -> None:
        self.submit = submit
        self.room = room
        self.doh = frozenset(str(ipaddress.ip_address(a)) for a in doh_addresses)
        self.names = names
        self.recent = recent or RecentBypass()
        self._seen: set[Flow] = set()

    def update(
        self, flows: list[Flow], restrictions: dict[str, Restriction], now: datetime | None = None
    ) -> int:
        """Record flows not seen in the previous listing; returns how many events."""
        now = now or datetime.now(UTC)
        current = set(flows)
        new = current - self._seen
        self._seen = current
        n = 0
        for flow in sorted(new):
            mac, addr, proto, port = flow
            r = restrictions.get(mac)
            dev = r.device if r else None
            base = EventRecord(
                kind=EventKind.ATTEMPT,
                action=EventAction.REFUSED,
                ts=now,
                room=self.room,
                mac=mac,
                device_id=dev.device_id if dev else None,
                member_id=dev.member.member_id if dev and dev.member else None,
                meeting_id=r.meeting.meeting_id if r and r.meeting else None,
                channels="quic" if (proto, port) == ("udp", 443) else "ip",
            )
            kind = classify(flow, self.doh)
            known = self.names.get(addr)
            if kind is not None:
                if self.recent.recent(mac, kind, now):
                    continue  # the same try, already recorded by name: one try, one event
                self.recent.note(replace(base, kind=EventKind.BYPASS, detail=kind.value))
                self.submit(
                    replace(
                        base,
                        kind=EventKind.BYPASS,
                        domain=known[0] if known else None,
                        category=Category.BYPASS.value,
                        detail=f"{kind.value}: {_WORDS[kind]} ({addr})",
                    )
                )
                n += 1
            elif known is not None:
                self.submit(
                    replace(
                        base,
                        domain=known[0],
                        platform=known[1],
                        category=Category.PLATFORM.value,
                        detail=f"connection to a cached address ({proto}/{port})",
                    )
                )
                n += 1
        return n
