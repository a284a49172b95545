"""The ``inet chamberguard`` table as libnftables JSON, built from a few parameters.

Shape (DESIGN §5): restricted devices are a set of MACs; their DNS to any resolver is
redirected to the gate; everything they send is accepted only towards addresses that the gate
put in their per-device allowed set; the rest is rejected at once so apps fail fast. Every
packet is checked (no "established" shortcut), so connections opened before the meeting die
at its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FAMILY = "inet"


@dataclass(frozen=True, slots=True)
class TableSpec:
    table: str
    chamber_ifaces: tuple[str, ...]
    gate4: str | None
    gate6: str | None = None
    dns_port: int = 53
    redirect_port: int = 5353
    web_port: int | None = None  # registration page stays reachable for restricted devices
    doh4: tuple[str, ...] = ()  # known DoH/DoT resolver addresses, refused on 443/853
    doh6: tuple[str, ...] = ()
    refused_timeout: int = 60  # how long a refused flow is remembered (one bypass event)


def _payload(proto: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": proto, "field": field}}


def _meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


def _eq(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


class Builder:
    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.t = {"family": FAMILY, "table": spec.table}

    def _chain(self, name: str, **hook: Any) -> dict[str, Any]:
        return {
            "add": {"chain": {"family": FAMILY, "table": self.spec.table, "name": name, **hook}}
        }

    def _rule(
        self, chain: str, *expr: dict[str, Any], comment: str | None = None
    ) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "family": FAMILY,
            "table": self.spec.table,
            "chain": chain,
            "expr": list(expr),
        }
        if comment:
            rule["comment"] = comment
        return {"add": {"rule": rule}}

    def _set(self, name: str, typ: Any, flags: list[str] | None = None) -> dict[str, Any]:
        s: dict[str, Any] = {"family": FAMILY, "table": self.spec.table, "name": name, "type": typ}
        if flags:
            s["flags"] = flags
        return {"add": {"set": s}}

    def table_commands(self) -> list[dict[str, Any]]:
        """Replace the whole table atomically (add-then-delete makes delete never fail)."""
        sp = self.spec
        table = {"family": FAMILY, "name": sp.table}
        iif = (
            {"set": list(sp.chamber_ifaces)} if len(sp.chamber_ifaces) > 1 else sp.chamber_ifaces[0]
        )
        from_chamber = _eq(_meta("iifname"), iif)
        restricted = _eq(_payload("ether", "saddr"), "@restricted")
        cmds: list[dict[str, Any]] = [
            {"add": {"table": table}},
            {"delete": {"table": table}},
            {"add": {"table": table}},
            self._set("restricted", "ether_addr"),
            self._set("allowed4", ["ether_addr", "ipv4_addr"], ["timeout"]),
            self._set("allowed6", ["ether_addr", "ipv6_addr"], ["timeout"]),
            self._chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept"),
            self._chain("forward", type="filter", hook="forward", prio=0, policy="accept"),
            self._chain("restricted_fwd"),
            self._chain("refuse"),
            self._set("doh4", "ipv4_addr", ["interval"]),
            self._set("doh6", "ipv6_addr", ["interval"]),
            self._refused_set("refused4", "ipv4_addr"),
            self._refused_set("refused6", "ipv6_addr"),
        ]
        if sp.doh4:
            cmds.append(self._elements("doh4", list(sp.doh4)))
        if sp.doh6:
            cmds.append(self._elements("doh6", list(sp.doh6)))
        # DNS to any other resolver is redirected to the gate's second port, where it is
        # answered like any query but recorded as a bypass attempt.
        gates = [(fam, l3, addr) for fam, l3, addr in (("ip", "ip", sp.gate4),
                                                        ("ip6", "ip6", sp.gate6)) if addr]
        for proto in ("udp", "tcp"):
            for fam, l3, addr in gates:
                cmds.append(
                    self._rule(
                        "prerouting",
                        from_chamber,
                        restricted,
                        _eq(_payload(proto, "dport"), sp.dns_port),
                        _eq(_payload(l3, "daddr"), addr, "!="),
                        {"counter": None},
                        {"dnat": {"family": fam, "addr": addr, "port": sp.redirect_port}},
                        comment=f"foreign resolver -> gate ({fam})",
                    )
                )
        refuse = {"jump": {"target": "refuse"}}
        cmds += [
            self._rule("forward", from_chamber, restricted, {"jump": {"target": "restricted_fwd"}}),
            # Ways round the gate are refused even towards allowed addresses: QUIC and DoT
            # would hide names from us, DoH resolvers would answer without the policy.
            self._rule(
                "restricted_fwd", _eq(_payload("udp", "dport"), 443), refuse, comment="QUIC"
            ),
            self._rule(
                "restricted_fwd", _eq(_payload("tcp", "dport"), 853), refuse, comment="DNS over TLS"
            ),
            self._rule(
                "restricted_fwd",
                _eq(_payload("udp", "dport"), 853),
                refuse,
                comment="DNS over QUIC",
            ),
            self._rule(
                "restricted_fwd",
                _eq(_payload("ip", "daddr"), "@doh4"),
                refuse,
                comment="DoH resolver",
            ),
            self._rule(
                "restricted_fwd",
                _eq(_payload("ip6", "daddr"), "@doh6"),
                refuse,
                comment="DoH resolver (v6)",
            ),
            self._rule(
                "restricted_fwd",
                _eq({"concat": [_payload("ether", "saddr"), _payload("ip", "daddr")]}, "@allowed4"),
                {"accept": None},
            ),
            self._rule(
                "restricted_fwd",
                _eq(
                    {"concat": [_payload("ether", "saddr"), _payload("ip6", "daddr")]}, "@allowed6"
                ),
                {"accept": None},
            ),
            self._rule("restricted_fwd", refuse),
            # Remember each refused flow (device, address, protocol, port) for a minute; the
            # gate lists these sets every second and turns new entries into events.
            self._rule(
                "refuse",
                _eq(_meta("nfproto"), "ipv4"),
                _eq(_meta("l4proto"), {"set": ["tcp", "udp"]}),
                self._update("refused4", "ip"),
            ),
            self._rule(
                "refuse",
                _eq(_meta("nfproto"), "ipv6"),
                _eq(_meta("l4proto"), {"set": ["tcp", "udp"]}),
                self._update("refused6", "ip6"),
            ),
            self._rule(
                "refuse",
                {"counter": None},
                _eq(_meta("l4proto"), "tcp"),
                {"reject": {"type": "tcp reset"}},
            ),
            self._rule(
                "refuse",
                {"counter": None},
                {"reject": {"type": "icmpx", "expr": "admin-prohibited"}},
            ),
        ]
        return cmds

    def _refused_set(self, name: str, addr_type: str) -> dict[str, Any]:
        cmd = self._set(name, ["ether_addr", addr_type, "inet_proto", "inet_service"], ["timeout"])
        cmd["add"]["set"]["timeout"] = self.spec.refused_timeout
        cmd["add"]["set"]["size"] = 65535
        return cmd

    def _update(self, name: str, l3: str) -> dict[str, Any]:
        key = {
            "concat": [
                _payload("ether", "saddr"),
                _payload(l3, "daddr"),
                _meta("l4proto"),
                _payload("th", "dport"),
            ]
        }
        return {"set": {"op": "update", "elem": key, "set": f"@{name}"}}

    def _elements(self, name: str, items: list[Any]) -> dict[str, Any]:
        return {
            "add": {
                "element": {"family": FAMILY, "table": self.spec.table, "name": name, "elem": items}
            }
        }

    def list_refused(self) -> list[dict[str, Any]]:
        return [
            {"list": {"set": {"family": FAMILY, "table": self.spec.table, "name": n}}}
            for n in ("refused4", "refused6")
        ]

    def fail_open_commands(self, upstream4: str, upstream_port: int = 53) -> list[dict[str, Any]]:
        """Replace the table with one that only keeps DNS working while the gate is down:
        queries sent to the gate's address go straight to the upstream resolver. Nobody is
        restricted, nothing is recorded — the chamber fails open, never dark."""
        sp = self.spec
        table = {"family": FAMILY, "name": sp.table}
        cmds: list[dict[str, Any]] = [
            {"add": {"table": table}},
            {"delete": {"table": table}},
            {"add": {"table": table}},
            self._chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept"),
            self._chain("postrouting", type="nat", hook="postrouting", prio=100, policy="accept"),
        ]
        if sp.gate4:
            for proto in ("udp", "tcp"):
                cmds.append(
                    self._rule(
                        "prerouting",
                        _eq(_payload("ip", "daddr"), sp.gate4),
                        _eq(_payload(proto, "dport"), sp.dns_port),
                        {"counter": None},
                        {"dnat": {"family": "ip", "addr": upstream4, "port": upstream_port}},
                        comment="fail-open: DNS to the gate goes upstream",
                    )
                )
            cmds.append(
                self._rule(
                    "postrouting",
                    _eq(_payload("ip", "daddr"), upstream4),
                    _eq({"ct": {"key": "status"}}, "dnat", "in"),
                    {"masquerade": None},
                    comment="fail-open: answers come back through us",
                )
            )
        return cmds

    def delete_table(self) -> list[dict[str, Any]]:
        table = {"family": FAMILY, "name": self.spec.table}
        return [{"add": {"table": table}}, {"delete": {"table": table}}]

    def set_restricted(self, macs: list[str]) -> list[dict[str, Any]]:
        ref = {"family": FAMILY, "table": self.spec.table, "name": "restricted"}
        cmds: list[dict[str, Any]] = [{"flush": {"set": dict(ref)}}]
        if macs:
            cmds.append({"add": {"element": {**ref, "elem": sorted(macs)}}})
        return cmds

    def allow(
        self,
        v4: list[tuple[str, str, int]],
        v6: list[tuple[str, str, int]],
        refresh4: Sequence[tuple[str, str]] = (),
        refresh6: Sequence[tuple[str, str]] = (),
    ) -> list[dict[str, Any]]:
        """Add (mac, address, timeout) elements; ``refresh*`` are deleted first so the new
        timeout replaces the old one (libnftables 1.0.6 has no 'update element')."""
        cmds: list[dict[str, Any]] = []
        for name, items in (("allowed4", refresh4), ("allowed6", refresh6)):
            if items:
                cmds.append(
                    {
                        "delete": {
                            "element": {
                                "family": FAMILY,
                                "table": self.spec.table,
                                "name": name,
                                "elem": [{"concat": [m, a]} for m, a in items],
                            }
                        }
                    }
                )
        for name, items3 in (("allowed4", v4), ("allowed6", v6)):
            if items3:
                cmds.append(
                    {
                        "add": {
                            "element": {
                                "family": FAMILY,
                                "table": self.spec.table,
                                "name": name,
                                "elem": [
                                    {"elem": {"val": {"concat": [m, a]}, "timeout": t}}
                                    for m, a, t in items3
                                ],
                            }
                        }
                    }
                )
        return cmds
