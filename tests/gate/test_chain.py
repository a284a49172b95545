"""The gate's chain of steps, driven directly (no namespaces): each step's verdict.

The chain is production's (:func:`monitor.gate.build.build_gate`), the policy the one the real
loader reads from a migrated database (tests/factories.py): only the upstream resolver, the
event writer and nftables are replaced by recorders.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from allowlist.decision import Restriction
from monitor import dnswire
from monitor.daemon import GateDaemon
from monitor.events import EventKind
from monitor.gate import build as gate_build
from monitor.gate import chain as gate_chain
from monitor.gate.exchange import Exchange
from monitor.gate.stats import GateStats
from monitor.gate.steps import Identify, ParseQuery
from monitor.gate.upstream import UpstreamPool
from tests import factories
from tests.gate.conftest import MEMBER_MAC, NOW, World
from tests.gate.test_dnswire import scapy_answer

PRODUCTION_ORDER = [
    "ClientScope", "ParseQuery", "RateLimit", "Identify", "Presence", "Record", "LearnNames",
    "Decide", "LearnPlatformAddresses", "AllowAnswers",
]


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
    def __init__(self, world: World) -> None:
        self.world = world
        self.stats = GateStats()
        self.replies: list[Exchange] = []
        self.restrictions = {MEMBER_MAC: world.policy.restriction(MEMBER_MAC, NOW)}
        self.macs = {"198.51.100.11": MEMBER_MAC, "198.51.100.12": "02:00:5e:20:00:02"}

    def allow(self, mac: str, addrs: list[str], ttl: int) -> int:
        assert not self.replies or self.replies[-1].response is None, "allowed after replying"
        self.rec.allowed.append((mac, addrs, ttl))
        return len(addrs)

    async def start(self, qps: int = 1000, burst: int = 1000) -> None:
        loop = asyncio.get_running_loop()
        self.up_transport, _ = await loop.create_datagram_endpoint(
            FakeUpstream, local_addr=("127.0.0.1", 0)
        )
        port = self.up_transport.get_extra_info("sockname")[1]
        self.upstream = UpstreamPool(("127.0.0.1", port), sockets=2, timeout=1.0)
        await self.upstream.start()
        cfg = self.world.settings.model_copy(deep=True)
        cfg.dns.rate_limit_qps, cfg.dns.rate_limit_burst = qps, burst
        self.rec = factories.Recorders()
        self.chain, _ = factories.gate(
            cfg, self.upstream, snapshot=lambda: self.world.policy,
            restrictions=lambda: self.restrictions, lookup_mac=self.macs.get,
            rec=self.rec, stats=self.stats, allow=self.allow)
        self.events, self.allowed, self.unlisted = (
            self.rec.events, self.rec.allowed, self.rec.unlisted)

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


def test_chain_verdicts(world: World) -> None:
    async def scenario() -> None:
        h = Harness(world)
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
            assert h.unlisted == [(world.policy.devices[MEMBER_MAC].device_id, "www.bank.example")]
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


def test_rate_limit_per_client(world: World) -> None:
    async def scenario() -> None:
        h = Harness(world)
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


def test_unknown_mac_is_a_guest(world: World) -> None:
    h = Harness(world)
    h.macs.pop("198.51.100.11")
    ex = Exchange(dnswire.make_query("www.facebook.com"), "198.51.100.11", 1, False, 0.0)
    ParseQuery(h.stats).before(ex)
    Identify(h.macs.get, lambda: h.restrictions).before(ex)
    assert ex.mac is None and isinstance(ex.restriction, Restriction)
    assert not ex.restriction.restricted


def step_names(chain: gate_chain.Chain) -> list[str]:
    return [type(s).__name__ for s in chain.steps]


def test_the_daemon_runs_production_order(world: World) -> None:
    """The daemon's chain is build_gate's, in the order its comments justify: a step added,
    dropped or moved in either place fails here."""
    daemon = GateDaemon(world.settings, world.db)
    try:
        chain = daemon.build_chain()
        assert step_names(chain) == PRODUCTION_ORDER
        assert step_names(gate_build.build_gate(world.settings, daemon.gate_deps())) \
            == PRODUCTION_ORDER
    finally:
        daemon.writer.stop()
        daemon.upstream.close()


def test_the_tests_run_production_order(world: World) -> None:
    """The harness above drives production's steps (build_gate), nothing wired by hand."""
    async def scenario() -> None:
        h = Harness(world)
        await h.start()
        try:
            assert step_names(h.chain) == PRODUCTION_ORDER
            await h.ask(dnswire.make_query("democracy.example.gov.uk"))
            assert [n.mac for n in h.rec.present] == [MEMBER_MAC]  # presence ran too
        finally:
            h.close()

    run(scenario())


def test_every_step_has_its_reason() -> None:
    """build_steps says why each step sits where it does: one comment line before each."""
    src = Path(gate_build.__file__).read_text(encoding="utf-8")
    body = src[src.index("def build_steps"):src.index("def build_gate")]
    lines = [ln.strip() for ln in body.splitlines()]
    for i, ln in enumerate(lines):
        if re.match(r"(ClientScope|ParseQuery|rate_limit|Identify|deps\.presence|Record|"
                    r"LearnNames|Decide|LearnPlatformAddresses|AllowAnswers)\(?", ln):
            assert lines[i - 1].startswith("#"), f"no reason given for {ln!r}"
