"""Who a frame belongs to: the capture's address book (IP → MAC) and the chamber test.

Bindings come from DHCP ACKs, ARP and IPv6 neighbour discovery (*strong*) and from the source
MAC of frames from chamber-side addresses (*weak*: behind a router every frame carries the
router's MAC, so a weak binding never overrides a strong one, only fills in where there is
none). Observations of routed traffic still name the device this way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

# One end of a frame, classified: (address, MAC, eligible). ``eligible``: the MAC is unicast
# and the address a chamber one, so the MAC may name the device and is learned (weakly).
End = tuple[str, str, bool]

CACHE_LIMIT = 16384  # entries in each small per-pipeline cache (then cleared)
_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


@dataclass(slots=True)
class Book:
    """IP → MAC, bounded (oldest binding dropped first); see the module docstring."""

    limit: int
    entries: dict[str, str] = field(default_factory=dict)
    strong: set[str] = field(default_factory=set)

    def learn(self, ip: str, mac: str, strong: bool) -> bool:
        entries = self.entries
        if entries.get(ip) == mac:
            if strong:
                self.strong.add(ip)
            return False
        if not strong and ip in self.strong:
            return False
        if ip in entries:
            del entries[ip]
        elif len(entries) >= self.limit:
            old = next(iter(entries))
            del entries[old]
            self.strong.discard(old)
        entries[ip] = mac
        if strong:
            self.strong.add(ip)
        else:
            self.strong.discard(ip)
        return True


class Addresses:
    """The book plus the chamber test, and the per-raw-bytes cache that lets the lean path
    classify a frame's end without formatting its address every time."""

    def __init__(self, networks: tuple[str, ...], size: int,
                 on_change: Callable[[], None]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.book = Book(size)
        self._on_change = on_change  # counts address-book changes
        self._chamber: dict[str, bool] = {}
        # raw (MAC, address) of a frame's end → its End; see classify().
        self.ends: dict[tuple[bytes, bytes], End] = {}

    def is_chamber(self, ip: str) -> bool:
        cache = self._chamber
        hit = cache.get(ip)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
            res = False  # DHCP's 0.0.0.0, broadcasts and multicast are nobody's address
        elif self.networks:
            res = any(addr in n for n in self.networks)
        else:
            res = (addr.is_private or addr.is_link_local) and not addr.is_reserved
        if len(cache) >= 4096:
            cache.clear()
        cache[ip] = res
        return res

    def in_scope(self, ip: str) -> bool:
        """Whether a binding announced for ``ip`` (DHCP, ARP, NDP) is ours to learn."""
        return not self.networks or self.is_chamber(ip)

    def learn(self, ip: str, mac: str, strong: bool = True) -> None:
        if self.book.learn(ip, mac, strong):
            self._on_change()

    def client_mac(self, ip: str, frame_mac: str) -> str | None:
        """The device behind ``ip``: its binding, else the frame's MAC if it may name it."""
        mac = self.book.entries.get(ip)
        if mac is not None:
            return mac
        if frame_mac and self.is_chamber(ip) and not int(frame_mac[:2], 16) & 1:
            return frame_mac
        return None

    def classify(self, who: tuple[bytes, bytes]) -> End:
        """A frame's raw (MAC, address) as an End, cached on the raw bytes."""
        raw_mac, raw_ip = who
        ip = _ntop(_AF_INET6 if len(raw_ip) == 16 else _AF_INET, raw_ip)
        mac = raw_mac.hex(":")
        res = (ip, mac, not raw_mac[0] & 1 and self.is_chamber(ip))
        if len(self.ends) >= CACHE_LIMIT:
            self.ends.clear()
        self.ends[who] = res
        return res

    def attribute(self, end: End) -> str | None:
        """:meth:`client_mac` for a classified End."""
        mac = self.book.entries.get(end[0])
        if mac is not None:
            return mac
        return end[1] if end[2] else None
