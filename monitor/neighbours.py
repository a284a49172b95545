"""Address → MAC, from the kernel's neighbour table (and bindings the Wi-Fi reports).

A client that sends the gate a DNS query has ARPed (or solicited) for it first, so its entry
is there. An address we cannot map is re-looked-up at once (a netlink dump costs
microseconds); the throttle is per address, so one device arriving never blinds the gate to
the next. An unmapped client is treated as a guest — it cannot be a registered device as far
as we can tell — and counted.
"""

from __future__ import annotations

import time

from monitor.netlink import dump_neighbours

PER_ADDRESS_RETRY = 0.5  # seconds before the same unknown address may trigger another dump
MAX_PENDING = 4096


class NeighbourTable:
    def __init__(self) -> None:
        self._map: dict[str, str] = {}
        self._learned: dict[str, str] = {}
        self._tried: dict[str, float] = {}
        self.refreshes = 0
        self.unmapped = 0

    def learn(self, ip: str, mac: str) -> None:
        """A binding reported from outside the kernel's table (RADIUS accounting)."""
        self._learned[ip] = mac

    def refresh(self) -> None:
        self.refreshes += 1
        try:
            self._map = dump_neighbours()
        except OSError:
            pass

    def lookup(self, ip: str) -> str | None:
        mac = self._map.get(ip) or self._learned.get(ip)
        if mac is not None:
            return mac
        now = time.monotonic()
        if now - self._tried.get(ip, 0.0) >= PER_ADDRESS_RETRY:
            if len(self._tried) > MAX_PENDING:
                self._tried.clear()
            self._tried[ip] = now
            self.refresh()
            mac = self._map.get(ip)
        if mac is None:
            self.unmapped += 1
        return mac
