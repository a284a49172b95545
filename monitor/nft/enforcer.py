"""Keeps the kernel's table in step with the gate's decisions, cheaply.

Remembers what it put into the allowed sets (and until when) so that the common case — a
phone re-resolving a name it already has — costs no libnftables call at all.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable

from monitor.nft.libnft import Nftables, NftError
from monitor.nft.ruleset import Builder, TableSpec


class Enforcer:
    """Two libnftables contexts, because a context is not thread-safe and its lock must
    never make the DNS loop wait: ``nft`` is the loop's own (per-answer ``allow``), ``bg``
    serves the ticker's slower work on a worker thread (``set_restricted``, ``refused``).
    The kernel orders their transactions."""

    def __init__(self, spec: TableSpec, nft: Nftables | None = None,
                 bg: Nftables | None = None) -> None:
        self.builder = Builder(spec)
        self.nft = nft or Nftables()
        self.bg = bg or (nft if nft is not None else Nftables())
        self._restricted: frozenset[str] = frozenset()
        self._expiry: dict[tuple[str, str], float] = {}
        self.calls = 0
        self.errors = 0

    def install(self) -> None:
        self.nft.run(self.builder.table_commands())
        self._expiry.clear()
        if self._restricted:
            self.nft.run(self.builder.set_restricted(sorted(self._restricted)))

    def fail_open(self, upstream4: str, port: int = 53) -> None:
        """Nobody restricted, DNS to the gate's address forwarded upstream by the kernel."""
        self.nft.run(self.builder.fail_open_commands(upstream4, port))
        self._expiry.clear()
        self._restricted = frozenset()

    def remove(self) -> None:
        """Fail open: no table, nobody restricted."""
        self.nft.run(self.builder.delete_table())
        self._expiry.clear()

    def set_restricted(self, macs: Iterable[str]) -> bool:
        new = frozenset(macs)
        if new == self._restricted:
            return False
        self.bg.run(self.builder.set_restricted(sorted(new)))
        self._restricted = new
        return True

    def refused(self) -> list[tuple[str, str, str, int]]:
        return refused_flows(self.bg, self.builder)

    @property
    def restricted(self) -> frozenset[str]:
        return self._restricted

    def allow(self, mac: str, addresses: Iterable[str], timeout: int) -> int:
        """Let ``mac`` reach ``addresses`` for ``timeout`` seconds; returns elements written."""
        now = time.monotonic()
        v4: list[tuple[str, str, int]] = []
        v6: list[tuple[str, str, int]] = []
        r4: list[tuple[str, str]] = []
        r6: list[tuple[str, str]] = []
        for addr in addresses:
            key = (mac, addr)
            exp = self._expiry.get(key)
            if exp is not None and exp - now > timeout / 2:
                continue  # still comfortably allowed
            v6addr = ipaddress.ip_address(addr).version == 6
            if exp is not None and exp - now > 1.0:
                (r6 if v6addr else r4).append(key)
            (v6 if v6addr else v4).append((mac, addr, timeout))
            self._expiry[key] = now + timeout
        if not (v4 or v6):
            return 0
        self.calls += 1
        try:
            self.nft.run(self.builder.allow(v4, v6, r4, r6))
        except NftError:
            # An element we thought present had just expired: add without refresh.
            self.errors += 1
            self.nft.run(self.builder.allow(v4, v6))
        if len(self._expiry) > 200_000:
            self._expiry = {k: v for k, v in self._expiry.items() if v > now}
        return len(v4) + len(v6)


def refused_flows(nft: Nftables, builder: Builder) -> list[tuple[str, str, str, int]]:
    """(mac, address, protocol, port) of every flow the table refused in the last minute."""
    out: list[tuple[str, str, str, int]] = []
    for cmd in builder.list_refused():
        try:
            res = nft.run([cmd])
        except NftError:
            continue
        for item in (res or {}).get("nftables", []):
            for elem in item.get("set", {}).get("elem", []) or []:
                val = elem.get("elem", {}).get("val", elem) if isinstance(elem, dict) else elem
                parts = val.get("concat") if isinstance(val, dict) else None
                if parts and len(parts) == 4:
                    out.append((str(parts[0]), str(parts[1]), str(parts[2]), int(parts[3])))
    return out
