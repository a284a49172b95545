"""The gate's steps. Each looks at the exchange before the upstream call (``before``) and/or
after the answer is known (``after``); a step that sets ``response`` or ``drop`` ends the
``before`` pass. Steps hold no I/O of their own beyond what they are handed."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from allowlist.categories import BypassKind, Category
from allowlist.decision import Kind, Policy, Restriction
from monitor import dnswire
from monitor.events import (
    RECORDED_KINDS,
    EventAction,
    EventKind,
    EventRecord,
    decision_event,
)
from monitor.gate.exchange import Exchange
from monitor.gate.stats import GateStats

UNRESTRICTED = Restriction(False, "unknown device")


class Step:
    def before(self, ex: Exchange) -> None:  # noqa: B027 - optional hook
        pass

    def after(self, ex: Exchange) -> None:  # noqa: B027 - optional hook
        pass


class ClientScope(Step):
    """Answer only chamber clients: never an open resolver (no reflection, no amplification)."""

    def __init__(self, subnets: list[str], stats: GateStats) -> None:
        self.nets = [ipaddress.ip_network(s, strict=False) for s in subnets]
        self.stats = stats
        self._cache: dict[str, bool] = {}

    def before(self, ex: Exchange) -> None:
        ok = self._cache.get(ex.client_ip)
        if ok is None:
            addr = ipaddress.ip_address(ex.client_ip)
            ok = any(addr in n for n in self.nets)
            if len(self._cache) < 65536:
                self._cache[ex.client_ip] = ok
        if not ok:
            self.stats.out_of_scope += 1
            ex.drop = True


class ParseQuery(Step):
    """Garbage gets FORMERR when it has a header to answer, otherwise it is dropped; counted."""

    def __init__(self, stats: GateStats) -> None:
        self.stats = stats

    def before(self, ex: Exchange) -> None:
        try:
            # The codec already gives the name in canonical form (allowlist.names.wire_name:
            # lower case, any other byte escaped as \DDD, no trailing dot) — nothing more to
            # normalise on this path, and nothing unprintable can reach the evidence.
            q = dnswire.parse_query(ex.raw)
        except dnswire.DnsError:
            self.stats.malformed += 1
            if len(ex.raw) >= 12 and not ex.raw[2] & 0x80:
                ex.response = dnswire.make_error(ex.raw, dnswire.RCODE_FORMERR)
            else:
                ex.drop = True
            return
        ex.query = q


class RateLimit(Step):
    """Token bucket per client address; a flood from one phone must not starve the room."""

    def __init__(self, qps: int, burst: int, stats: GateStats) -> None:
        self.qps, self.burst, self.stats = float(qps), float(burst), stats
        self._buckets: dict[str, tuple[float, float]] = {}

    def before(self, ex: Exchange) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(ex.client_ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.qps)
        if tokens < 1.0:
            self.stats.rate_limited += 1
            ex.drop = True
            self._buckets[ex.client_ip] = (tokens, now)
            return
        self._buckets[ex.client_ip] = (tokens - 1.0, now)


class Identify(Step):
    """Client address → MAC → the restriction computed for it this tick."""

    def __init__(
        self,
        lookup_mac: Callable[[str], str | None],
        restrictions: Callable[[], Mapping[str, Restriction]],
    ) -> None:
        self.lookup_mac = lookup_mac
        self.restrictions = restrictions

    def before(self, ex: Exchange) -> None:
        ex.mac = self.lookup_mac(ex.client_ip)
        r = self.restrictions().get(ex.mac) if ex.mac else None
        ex.restriction = r or UNRESTRICTED


class Decide(Step):
    """The pure policy decides; refused names get NXDOMAIN (or the block-page address)."""

    def __init__(
        self,
        policy: Callable[[], Policy],
        stats: GateStats,
        block_address: str = "",
        max_ttl: int = 60,
    ) -> None:
        self.policy = policy
        self.stats = stats
        self.block_address = block_address
        self.max_ttl = max_ttl

    def before(self, ex: Exchange) -> None:
        assert ex.query is not None and ex.restriction is not None
        d = self.policy().decide_for(ex.query.name, ex.restriction)
        ex.decision = d
        if d.refused:
            self.stats.refused += 1
            q = ex.query
            if self.block_address and d.kind is not Kind.BYPASS:
                ex.response = dnswire.make_address_answer(
                    q, ex.raw, self.block_address, self.max_ttl
                )
            else:
                ex.response = dnswire.make_error(ex.raw, dnswire.RCODE_NXDOMAIN, q.question_end)


class AllowAnswers(Step):
    """Addresses in an allowed answer for a restricted device go into its nftables set
    *before* the answer is sent, so the device's first connection already passes."""

    def __init__(
        self,
        allow: Callable[[str, list[str], int], int],
        stats: GateStats,
        max_ttl: int,
        margin: int,
    ) -> None:
        self.allow = allow
        self.stats = stats
        self.max_ttl = max_ttl
        self.margin = margin

    def after(self, ex: Exchange) -> None:
        d = ex.decision
        if d is None or not d.restricted or d.refused or ex.mac is None or ex.response is None:
            return
        try:
            msg = dnswire.parse_message(ex.response)
        except dnswire.DnsError:
            ex.response = dnswire.make_error(ex.raw, dnswire.RCODE_SERVFAIL)
            return
        addrs = [(r.address, r.ttl) for r in msg.answers if r.address is not None]
        ex.addresses = addrs
        if addrs:
            ttl = min(self.max_ttl, max(t for _, t in addrs)) + self.margin
            self.stats.set_updates += self.allow(ex.mac, [a for a, _ in addrs], ttl)
        # Clamp TTLs so the end (or start) of a meeting reaches the phone within max_ttl.
        ex.response = dnswire.clamp_ttls(ex.response, msg.answers + msg.authority, self.max_ttl)


class LearnPlatformAddresses(Step):
    """Remember which addresses platform names resolve to (anyone's lookups), so a later
    connection to such an address by a restricted device can be named."""

    def __init__(self, remember: Callable[[list[str], str, str], None]) -> None:
        self.remember = remember

    def after(self, ex: Exchange) -> None:
        d = ex.decision
        if d is None or d.platform is None or d.refused or ex.response is None:
            return
        if ex.addresses:
            self.remember([a for a, _ in ex.addresses], d.domain, d.platform)
            return
        try:
            msg = dnswire.parse_message(ex.response)
        except dnswire.DnsError:
            return
        addrs = [r.address for r in msg.answers if r.address is not None]
        if addrs:
            self.remember(addrs, d.domain, d.platform)


class LearnNames(Step):
    """Devices in learn mode: every name they ask for is counted (allowed or not)."""

    def __init__(self, note: Callable[[str | None, str, float], None]) -> None:
        self.note = note

    def after(self, ex: Exchange) -> None:
        if ex.query is not None and ex.decision is not None:
            self.note(ex.mac, ex.decision.domain, ex.received)


_BYPASS_DETAIL = {BypassKind.RESOLVER: "DNS sent to another resolver"}


class Record(Step):
    """Restricted devices' refusals (and redirected DNS) become events; guests never do."""

    def __init__(self, submit: Callable[[EventRecord], bool], room: str, stats: GateStats,
                 note_unlisted: Callable[[int, str, float], None] | None = None) -> None:
        self.submit = submit
        self.room = room
        self.stats = stats
        self.note_unlisted = note_unlisted  # IT troubleshooting (monitor.refused_names)

    def after(self, ex: Exchange) -> None:
        d = ex.decision
        if d is None or not d.restricted:
            return
        if ex.redirected:
            self.stats.events += 1
            self.submit(EventRecord(
                ts=datetime.fromtimestamp(ex.received, UTC), kind=EventKind.BYPASS,
                action=EventAction.OBSERVED, room=self.room, mac=ex.mac,
                device_id=d.device_id, member_id=d.member_id, meeting_id=d.meeting_id,
                domain=d.domain, category=Category.BYPASS.value, channels="dns",
                detail=_BYPASS_DETAIL[BypassKind.RESOLVER]))
        if d.kind not in RECORDED_KINDS:
            if d.kind is Kind.UNLISTED:
                self.stats.unlisted_refused += 1  # no event: kept briefly for IT only
                if self.note_unlisted is not None and d.device_id is not None:
                    self.note_unlisted(d.device_id, d.domain, ex.received)
            return
        action = EventAction.REFUSED if d.refused else EventAction.OBSERVED
        self.stats.events += 1
        self.submit(decision_event(d, ts=ex.received, room=self.room, mac=ex.mac,
                                   channels="dns", action=action))
