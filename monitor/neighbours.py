"""Address → MAC, from the kernel's neighbour table (and whatever the capture learns).

A client that sends the gate a DNS query has ARPed for it first, so its entry is there; we
re-read the table on a miss, at most a few times a second, never per query.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from allowlist.macs import MacError, normalise_mac

ARP_PATH = Path("/proc/net/arp")


def read_ipv4_neighbours(path: Path = ARP_PATH) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] != "0x0":  # flags 0x0: incomplete
            try:
                out[parts[0]] = normalise_mac(parts[3])
            except MacError:
                continue
    return out


def read_ipv6_neighbours() -> dict[str, str]:
    try:
        proc = subprocess.run(["ip", "-j", "-6", "neigh", "show"], capture_output=True,
                              text=True, timeout=2, check=False)
        entries = json.loads(proc.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    out: dict[str, str] = {}
    for e in entries:
        mac = e.get("lladdr")
        if mac and e.get("dst"):
            try:
                out[e["dst"]] = normalise_mac(mac)
            except MacError:
                continue
    return out


class NeighbourTable:
    def __init__(self, min_refresh: float = 0.25) -> None:
        self._map: dict[str, str] = {}
        self._learned: dict[str, str] = {}
        self._last = 0.0
        self._min = min_refresh
        self.refreshes = 0

    def learn(self, ip: str, mac: str) -> None:
        """Bindings seen on the wire (DHCP, ARP, NDP) by the passive monitor."""
        self._learned[ip] = mac

    def refresh(self) -> None:
        self._last = time.monotonic()
        self.refreshes += 1
        fresh = read_ipv4_neighbours()
        fresh.update(read_ipv6_neighbours())
        self._map = fresh

    def lookup(self, ip: str) -> str | None:
        mac = self._map.get(ip) or self._learned.get(ip)
        if mac is None and time.monotonic() - self._last >= self._min:
            self.refresh()
            mac = self._map.get(ip)
        return mac

    def snapshot(self) -> dict[str, str]:
        return {**self._learned, **self._map}
