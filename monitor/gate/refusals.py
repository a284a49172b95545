"""Refused flows (from nftables' ``refused`` sets) → attempt and bypass events.

nftables remembers each refused (device, address, protocol, port) for a minute; every tick the
gate lists those sets and records entries it has not seen yet. A DNS-level refusal already
produced its own event; these catch what never asked the gate: QUIC, DoT, DoH by address, and
apps connecting to cached or hard-coded addresses.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from allowlist.categories import BypassKind
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
    _, addr, proto, port = flow
    if proto == "udp" and port == 443:
        return BypassKind.QUIC
    if port == 853:
        return BypassKind.DOT
    if addr in doh_addresses:
        return BypassKind.DOH
    return None


_WORDS = {
    BypassKind.QUIC: "QUIC (UDP 443) refused",
    BypassKind.DOT: "DNS over TLS/QUIC (port 853) refused",
    BypassKind.DOH: "DNS over HTTPS resolver by address refused",
}


class RefusalRecorder:
    def __init__(
        self,
        submit: Callable[[EventRecord], bool],
        room: str,
        doh_addresses: Iterable[str],
        names: AddressNames,
    ) -> None:
        self.submit = submit
        self.room = room
        self.doh = frozenset(str(ipaddress.ip_address(a)) for a in doh_addresses)
        self.names = names
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
                channels="ip",
            )
            kind = classify(flow, self.doh)
            known = self.names.get(addr)
            if kind is not None:
                self.submit(
                    replace(
                        base,
                        kind=EventKind.BYPASS,
                        domain=known[0] if known else None,
                        category="bypass",
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
                        category="platform",
                        detail=f"connection to a cached address ({proto}/{port})",
                    )
                )
                n += 1
        return n
