"""The bypass list: canary names, public encrypted-DNS endpoints and their addresses.

Restricted devices must not be able to step round the DNS gate (DESIGN §4). Names are
refused by the matcher like any other rule (category BYPASS, with a :class:`BypassKind` so a
bypass attempt is its own kind of event); addresses go to nftables, because a phone with a
resolver typed in as an IP address never asks the gate anything. Kept as data, with
sources, in ``allowlist/data/bypass.toml``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from allowlist.categories import BypassKind, Category, Origin
from allowlist.datafile import load_schema_1
from allowlist.names import DomainError, normalise_domain
from allowlist.rules import Rule

DATA_FILE = "bypass.toml"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_ENDPOINT_KINDS = {BypassKind.DOH, BypassKind.DOT}
_NAME_FIELDS = frozenset({"domain", "kind", "provider", "note", "source", "exact"})
_RESOLVER_FIELDS = frozenset({"provider", "addresses", "source"})


class BypassListError(ValueError):
    """The bypass data is unusable; the message names the entry."""


@dataclass(frozen=True, slots=True)
class ResolverAddress:
    address: IPAddress
    provider: str
    source: str


@dataclass(frozen=True)
class BypassList:
    """Rules for the matcher plus the resolver addresses and ports for nftables."""

    rules: tuple[Rule, ...]
    resolvers: tuple[ResolverAddress, ...]
    tcp_ports: tuple[int, ...]
    udp_ports: tuple[int, ...]

    def addresses(self, version: int | None = None) -> tuple[IPAddress, ...]:
        """All resolver addresses, or only IPv4 (``4``) / IPv6 (``6``) for one nft set."""
        return tuple(
            r.address for r in self.resolvers if version is None or r.address.version == version
        )


def _text(table: Mapping[str, object], name: str, where: str, *, required: bool = True) -> str:
    value = table.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BypassListError(f"{where}: {name!r} must be non-empty text")
    return value.strip()


def _name_rules(tables: object, section: str, origin: str, seen: set[str]) -> list[Rule]:
    if not isinstance(tables, list):
        raise BypassListError(f"{origin}: [[{section}]] entries missing")
    out = []
    for i, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise BypassListError(f"{origin}: {section} #{i} is not a table")
        raw = table.get("domain")
        where = f"{origin}: {section} {raw!r}" if isinstance(raw, str) else f"{origin}: #{i}"
        unknown = set(table) - _NAME_FIELDS
        if unknown:
            raise BypassListError(f"{where}: unknown field(s) {sorted(unknown)}")
        if not isinstance(raw, str):
            raise BypassListError(f"{where}: 'domain' must be text")
        try:
            domain = normalise_domain(raw)
        except DomainError as exc:
            raise BypassListError(f"{where}: {exc}") from None
        if domain in seen:
            raise BypassListError(f"{where}: listed twice")
        seen.add(domain)
        if section == "canary":
            if "kind" in table:
                raise BypassListError(f"{where}: canaries have no 'kind'")
            kind = BypassKind.CANARY
        else:
            raw_kind = table.get("kind")
            if not isinstance(raw_kind, str) or raw_kind not in _ENDPOINT_KINDS:
                raise BypassListError(f"{where}: 'kind' must be \"doh\" or \"dot\"")
            kind = BypassKind(str(raw_kind))
        exact = table.get("exact", False)
        if not isinstance(exact, bool):
            raise BypassListError(f"{where}: 'exact' must be true or false")
        _text(table, "source", where)
        out.append(
            Rule(
                domain,
                Category.BYPASS,
                exact=exact,
                note=_text(table, "note", where, required=False),
                origin=Origin.BYPASS_LIST,
                source=_text(table, "provider", where),
                bypass=kind,
            )
        )
    return out


def _ports(table: Mapping[str, object], proto: str, origin: str) -> tuple[int, ...]:
    ports = table.get(proto)
    ok = isinstance(ports, list) and all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
    )
    if not ok:
        raise BypassListError(f"{origin}: [resolver_ports] {proto} must list port numbers")
    assert isinstance(ports, list)
    return tuple(ports)


def parse_bypass(data: str | Mapping[str, object], *, origin: str = DATA_FILE) -> BypassList:
    """Build a :class:`BypassList` from TOML text (or its parsed form); raise on any defect."""
    data = load_schema_1(data, origin=origin, error=BypassListError)
    seen: set[str] = set()
    rules = _name_rules(data.get("canary"), "canary", origin, seen)
    rules += _name_rules(data.get("endpoint"), "endpoint", origin, seen)
    port_table = data.get("resolver_ports")
    if not isinstance(port_table, Mapping):
        raise BypassListError(f"{origin}: [resolver_ports] missing")
    tcp, udp = _ports(port_table, "tcp", origin), _ports(port_table, "udp", origin)
    tables = data.get("resolver")
    if not isinstance(tables, list) or not tables:
        raise BypassListError(f"{origin}: no [[resolver]] entries")
    resolvers: list[ResolverAddress] = []
    known: set[IPAddress] = set()
    for i, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise BypassListError(f"{origin}: resolver #{i} is not a table")
        where = f"{origin}: resolver {table.get('provider', f'#{i}')!r}"
        unknown = set(table) - _RESOLVER_FIELDS
        if unknown:
            raise BypassListError(f"{where}: unknown field(s) {sorted(unknown)}")
        provider, source = _text(table, "provider", where), _text(table, "source", where)
        addresses = table.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            raise BypassListError(f"{where}: 'addresses' must list IP addresses")
        for raw in addresses:
            try:
                address = ipaddress.ip_address(str(raw))
            except ValueError:
                raise BypassListError(f"{where}: {raw!r} is not an IP address") from None
            if not address.is_global:
                raise BypassListError(f"{where}: {raw!r} is not a public address")
            if address in known:
                raise BypassListError(f"{where}: {raw!r} listed twice")
            known.add(address)
            resolvers.append(ResolverAddress(address, provider, source))
    return BypassList(tuple(rules), tuple(resolvers), tcp, udp)


@lru_cache(maxsize=1)
def load_bypass() -> BypassList:
    """The shipped bypass list, parsed once per process (it is immutable)."""
    text = resources.files("allowlist").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return parse_bypass(text)


def bypass_rules() -> list[Rule]:
    """Matcher rules: category BYPASS, origin BYPASS_LIST, ``bypass`` = canary/doh/dot."""
    return list(load_bypass().rules)


def resolver_addresses(version: int | None = None) -> tuple[IPAddress, ...]:
    """Public resolver addresses for nftables to refuse on the bypass ports."""
    return load_bypass().addresses(version)
