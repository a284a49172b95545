"""The gate's chain of steps, driven directly (no namespaces): each step's verdict."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from allowlist.categories import Category
from allowlist.clock import MeetingClock
from allowlist.decision import Device, Member, Policy, Restriction
from allowlist.rules import Rule, RuleSet
from monitor import dnswire
from monitor.events import EventKind, EventRecord
from monitor.gate.chain import Chain
from monitor.gate.exchange import Exchange
from monitor.gate.stats import GateStats
from monitor.gate.steps import (
    AllowAnswers,
    ClientScope,
    Decide,
    Identify,
    ParseQuery,
    RateLimit,
    Record,
)
from monitor.gate.upstream import UpstreamPool
from tests.gate.test_dnswire import scapy_answer

MEMBER_MAC = "02:00:5e:10:00:01"
NOW = datetime.now(UTC)
RULES = RuleSet.compile(
    [
        Rule.make("democracy.example.gov.uk", Category.AGENDA),
        Rule.make("facebook.com", Category.PLATFORM, platform="facebook"),
        Rule.make("dns.google", Category.BYPASS),
    ]
)
MEETING = MeetingClock(1, "Full Council", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
POLICY = Policy(
    RULES,
    {MEMBER_MAC: Device(1, MEMBER_MAC, "iPad", Member(1, "Cllr A"))},
    (MEETING,),
    platform_names={"facebook": "Facebook"},
)


class FakeUpstream(asyncio.DatagramProtocol):
    """Answers every A query with 203.0.113.10, TTL 3600 (to see clamping)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = dnswire.parse_query(data)
        raw = bytearray(scapy_answer(q.name, "203.0.113.10", ttl=3600))
        raw[0:2] = data[0:2]
        self.transport.sendto(bytes(raw), addr)


class Harness:
    def __init__(self) -> None:
        self.stats = GateStats()
        self.events: list[EventRecord] = []
        self.allowed: list[tuple[str, list[str], int]] = []
        self.replies: list[Exchange] = []
        self.unlisted: list[tuple[int, str]] = []  # IT's troubleshooting list
        self.restrictions = {MEMBER_MAC: POLICY.restriction(MEMBER_MAC, NOW)}
        self.macs = {"198.51.100.11": MEMBER_MAC, "198.51.100.12": "02:00:5e:20:00:02"}

    def allow(self, mac: str, addrs: list[str], ttl: int) -> int:
        assert not self.replies or self.replies[-1].response is None, "allowed after replying"
        self.allowed.append((mac, addrs, ttl))
        return len(addrs)

    async def start(self, qps: int = 1000, burst: int = 1000) -> None:
        loop = asyncio.get_running_loop()
        self.up_transport, _ = await loop.create_datagram_endpoint(
            FakeUpstream, local_addr=("127.0.0.1", 0)
        )
        port = self.up_transport.get_extra_info("sockname")[1]
        self.upstream = UpstreamPool(("127.0.0.1", port), sockets=2, timeout=1.0)
        await self.upstream.start()
        st = self.stats
        self.chain = Chain(
            [
                ClientScope(["198.51.100.0/24"], st),
                ParseQuery(st),
                RateLimit(qps, burst, st),
                Identify(self.macs.get, lambda: self.restrictions),
                Record(lambda e: self.events.append(e) or True, "chamber", st,
                       lambda dev, name, _ts: self.unlisted.append((dev, name))),
                Decide(lambda: POLICY, st, max_ttl=60),
                AllowAnswers(self.allow, st, 60, 30),
            ],
            self.upstream,
            st,
        )

    async def ask(
        self, raw: bytes, ip: str = "198.51.100.11", redirected: bool = False, wait: float = 2.0
    ) -> Exchange | None:
        done: asyncio.Future[Exchange] = asyncio.get_running_loop().create_future()
        ex = Exchange(raw, ip, 5353, redirected, NOW.timestamp())
        self.chain.handle(ex, lambda e: done.set_result(e) if not done.done() else None)
        try:
            return await asyncio.wait_for(done, wait)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.upstream.close()
        self.up_transport.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_chain_verdicts() -> None:
    async def scenario() -> None:
        h = Harness()
        await h.start()
        try:
            # Outside the chamber subnets: dropped, never answered (not an open resolver).
            assert (
                await h.ask(dnswire.make_query("democracy.example.gov.uk"), "203.0.113.9") is None
            )
            assert h.stats.out_of_scope == 1
            # Garbage with a header: FORMERR; too short: dropped.
            ex = await h.ask(b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03")
            assert ex is not None and ex.response is not None and ex.response[3] & 0xF == 1
            assert await h.ask(b"\x00") is None and h.stats.malformed == 2
            # Allowed for the restricted member: forwarded, addresses allowed first, TTL clamped.
            ex = await h.ask(dnswire.make_query("assets.democracy.example.gov.uk", qid=7))
            assert ex is not None and ex.response is not None
            msg = dnswire.parse_message(ex.response)
            assert msg.qid == 7 and [r.ttl for r in msg.answers] == [60]
            assert h.allowed == [(MEMBER_MAC, ["203.0.113.10"], 90)]
            # Facebook: NXDOMAIN without asking upstream, and an attempt event.
            before = h.stats.forwarded
            ex = await h.ask(dnswire.make_query("www.facebook.com"))
            assert ex is not None and ex.response is not None and ex.response[3] & 0xF == 3
            assert h.stats.forwarded == before
            assert [(e.kind, e.platform, e.member_id) for e in h.events] == [
                (EventKind.ATTEMPT, "facebook", 1)
            ]
            # A DoH resolver's name: a bypass event.
            await h.ask(dnswire.make_query("dns.google"))
            assert h.events[-1].kind is EventKind.BYPASS
            # Unlisted: refused, counted, never stored (privacy).
            n = len(h.events)
            ex = await h.ask(dnswire.make_query("www.bank.example"))
            assert ex is not None and ex.response is not None and ex.response[3] & 0xF == 3
            assert len(h.events) == n and h.stats.unlisted_refused == 1
            # ... and the name goes to IT's brief troubleshooting list for that device.
            assert h.unlisted == [(POLICY.devices[MEMBER_MAC].device_id, "www.bank.example")]
            # Redirected from another resolver: answered, plus a bypass event.
            await h.ask(dnswire.make_query("democracy.example.gov.uk"), redirected=True)
            assert h.events[-1].detail == "DNS sent to another resolver"
            # The guest: forwarded unchanged (TTL untouched), nothing recorded or allowed.
            n, a = len(h.events), len(h.allowed)
            ex = await h.ask(dnswire.make_query("www.facebook.com"), "198.51.100.12")
            assert ex is not None and ex.response is not None
            assert dnswire.parse_message(ex.response).answers[0].ttl == 3600
            assert (len(h.events), len(h.allowed)) == (n, a)
        finally:
            h.close()

    run(scenario())


def test_rate_limit_per_client() -> None:
    async def scenario() -> None:
        h = Harness()
        await h.start(qps=1, burst=3)
        try:
            answers = [
                await h.ask(dnswire.make_query("www.facebook.com"), wait=0.05) for _ in range(5)
            ]
            assert sum(a is not None for a in answers) == 3 and h.stats.rate_limited == 2
            # Another client is not affected.
            assert await h.ask(dnswire.make_query("www.facebook.com"), "198.51.100.12") is not None
        finally:
            h.close()

    run(scenario())


def test_unknown_mac_is_a_guest() -> None:
    h = Harness()
    h.macs.pop("198.51.100.11")
    ex = Exchange(dnswire.make_query("www.facebook.com"), "198.51.100.11", 1, False, 0.0)
    ParseQuery(h.stats).before(ex)
    Identify(h.macs.get, lambda: h.restrictions).before(ex)
    assert ex.mac is None and isinstance(ex.restriction, Restriction)
    assert not ex.restriction.restricted
