"""The native UDP fast path against the Python chain it accelerates.

Differential: for random and mutated packets the C parsers agree with monitor/dnswire.py and
AllowAnswers byte for byte; for random policy states and query sequences a gate with the
fast path gives the same answers, events, set updates, learn notes and counters as the
Python-only gate. Fuzz: 100k+ hostile packets through the C parsers, no crash, no growth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
import socket
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allowlist.categories import Category, Mode
from allowlist.clock import MeetingClock
from allowlist.decision import Device, Member, Policy, Restriction
from allowlist.names import is_plain
from allowlist.rules import Rule, RuleSet
from monitor import dnswire
from monitor.events import EventRecord
from monitor.gate import fast
from monitor.gate.exchange import Exchange
from monitor.gate.server import listen_udp
from monitor.gate.stats import GateStats
from monitor.gate.steps import (
    AllowAnswers,
)
from monitor.gate.upstream import UpstreamPool
from monitor.nft.enforcer import Enforcer
from monitor.nft.ruleset import TableSpec
from tests import factories

_fastgate = pytest.importorskip("monitor.gate._fastgate", reason="extension not built")

MEMBER, GUEST = "02:00:5e:10:00:01", "02:00:5e:20:00:02"
MEMBER_IP, GUEST_IP = "127.0.0.1", "127.0.0.2"
NOW = datetime.now(UTC)
RULES = RuleSet.compile([
    Rule.make("democracy.example.gov.uk", Category.AGENDA),
    Rule.make("facebook.com", Category.PLATFORM, platform="facebook"),
    Rule.make("dns.google", Category.BYPASS),
])
MEETING = MeetingClock(1, "Full Council", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
NAMES = [
    "democracy.example.gov.uk", "Democracy.EXAMPLE.gov.UK", "cdn.democracy.example.gov.uk",
    "www.facebook.com", "dns.google", "www.bank.example", "v6.democracy.example.gov.uk",
    "rr.democracy.example.gov.uk",  # round robin: a new address each time (C writes sets)
]


# -- packets -------------------------------------------------------------------------------
def rr(rtype: int, ttl: int, rdata: bytes, owner: bytes = b"\xc0\x0c") -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def upstream_answer(query: bytes, turn: int = 0) -> bytes:
    """The fake upstream: answers echo the question bytes (as real resolvers do)."""
    q = dnswire.parse_query(query)
    head, question = query[:2], query[12 : q.question_end]
    recs: list[bytes] = []
    auth: list[bytes] = []
    rcode = 0
    if q.name == "cdn.democracy.example.gov.uk":  # CDN alias: CNAME chain, long TTLs
        target = dnswire.encode_name("d1.cdn.example.net")
        recs.append(rr(dnswire.TYPE_CNAME, 7200, target))
        own = struct.pack("!H", 0xC000 | (12 + len(question) + 12))
        recs.append(rr(dnswire.TYPE_A, 3600, bytes([203, 0, 113, 11]), own))
        recs.append(rr(dnswire.TYPE_AAAA, 30, ipaddress.ip_address("2001:db8::11").packed, own))
    elif q.name == "rr.democracy.example.gov.uk":
        recs.append(rr(dnswire.TYPE_A, 20, bytes([203, 0, 113, 100 + turn % 50])))
    elif q.name.endswith("democracy.example.gov.uk") or q.name.endswith("facebook.com"):
        if q.qtype in (dnswire.TYPE_A, dnswire.TYPE_AAAA) or q.name.startswith("v6"):
            recs.append(rr(dnswire.TYPE_A, 3600, bytes([203, 0, 113, 10 + len(q.name) % 7])))
            recs.append(rr(dnswire.TYPE_AAAA, 45, ipaddress.ip_address("2001:db8::a").packed))
    else:
        rcode = 3
        auth.append(rr(dnswire.TYPE_SOA, 900, b"\x00\x00" + bytes(20)))
    flags = 0x8180 | rcode
    hdr = head + struct.pack("!HHHHH", flags, 1, len(recs), len(auth), 0)
    return hdr + question + b"".join(recs) + b"".join(auth)


def query(name: str, qtype: int, qid: int, edns: bool = False) -> bytes:
    raw = dnswire.make_query(name, qtype, qid)
    if edns:  # an OPT record in the additional section: forwarded as it is
        raw = raw[:10] + b"\x00\x01" + raw[12:] + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return raw


def mutate(raw: bytes, rnd: random.Random) -> bytes:
    b = bytearray(raw)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.random()
        if op < 0.4 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op < 0.55 and b:
            del b[rnd.randrange(len(b)) :]
        elif op < 0.7:
            b.insert(rnd.randrange(len(b) + 1), rnd.randrange(256))
        elif op < 0.85 and len(b) > 13:
            i = rnd.randrange(12, len(b) - 1)
            b[i : i + 2] = bytes([0xC0 | rnd.randrange(4), rnd.randrange(256)])
        elif len(b) >= 12:
            i = rnd.choice((4, 6, 8, 10))
            b[i : i + 2] = struct.pack("!H", rnd.choice((0, 1, 2, 17, 600, 0xFFFF)))
    return bytes(b)


def py_query(raw: bytes) -> tuple[object, ...] | None:
    try:
        q = dnswire.parse_query(raw)
    except dnswire.DnsError:
        return None
    if not is_plain(q.name):
        return None  # escaped names are Python's alone: C defers them to the chain
    return (q.name, q.qid, q.qtype, q.qclass, q.question_end)


def py_allow(raw: bytes, answer: bytes, max_ttl: int, margin: int) -> tuple[bytes, list[Any]]:
    """What AllowAnswers does with an upstream answer for a restricted device."""
    pol = Policy(RULES, {MEMBER: Device(1, MEMBER, "iPad", Member(1, "Cllr A"))}, (MEETING,))
    ex = Exchange(raw, MEMBER_IP, 1, False, 0.0)
    ex.query, ex.mac = dnswire.parse_query(raw), MEMBER
    ex.decision = pol.decide_for("democracy.example.gov.uk", pol.restriction(MEMBER, NOW))
    ex.response = answer
    calls: list[Any] = []
    AllowAnswers(lambda m, a, t: calls.append((a, t)) or len(a), GateStats(), max_ttl,
                 margin).after(ex)
    assert ex.response is not None
    return ex.response, calls


def c_allow(raw: bytes, answer: bytes, max_ttl: int, margin: int) -> tuple[bytes, list[Any]]:
    q = dnswire.parse_query(raw)
    resp, addrs, timeout = _fastgate.allow_answer(raw, q.question_end, answer, max_ttl, margin)
    return resp, ([([a for a, _ in addrs], timeout)] if addrs else [])


def sample_answers(rnd: random.Random) -> tuple[bytes, bytes]:
    name = rnd.choice(NAMES + ["x" * 63 + ".democracy.example.gov.uk"])
    raw = query(name, rnd.choice((1, 28, 65)), rnd.randrange(65536), rnd.random() < 0.3)
    ans = bytearray(upstream_answer(raw))
    ans[0:2] = raw[0:2]
    return raw, bytes(ans)


# -- parsers: differential and fuzz -----------------------------------------------------------
names = st.lists(
    st.text(st.characters(min_codepoint=0, max_codepoint=127), min_size=1, max_size=20),
    min_size=0, max_size=6,
)


@settings(max_examples=1500, deadline=None)
@given(names, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
       st.integers(0, 2**32 - 1))
def test_parse_query_matches_python(labels: list[str], qtype: int, qid: int, flags: int,
                                    seed: int) -> None:
    raw = bytearray(struct.pack("!HHHHHH", qid, flags & 0x7FFF, 1, 0, 0, 0))
    for lab in labels:
        b = lab.encode("ascii")[:63]
        raw += bytes([len(b)]) + b
    raw += b"\x00" + struct.pack("!HH", qtype, 1)
    for pkt in (bytes(raw), mutate(bytes(raw), random.Random(seed))):
        assert _fastgate.parse_query(pkt) == py_query(pkt)
        if py_query(pkt) is not None:
            qend = dnswire.parse_query(pkt).question_end
            if qend - 12 <= 300:
                assert _fastgate.nxdomain(pkt) == dnswire.make_error(pkt, 3, qend)


@settings(max_examples=800, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 30, 60, 300]), st.integers(0, 120))
def test_allowed_answers_match_python(seed: int, max_ttl: int, margin: int) -> None:
    rnd = random.Random(seed)
    raw, ans = sample_answers(rnd)
    for answer in (ans, mutate(ans, rnd), mutate(mutate(ans, rnd), rnd)):
        assert c_allow(raw, answer, max_ttl, margin) == py_allow(raw, answer, max_ttl, margin)


@given(st.binary(min_size=16, max_size=16) | st.binary(min_size=4, max_size=4),
       st.lists(st.integers(0, 7), max_size=8))
def test_addresses_print_as_python_does(packed: bytes, zeros: list[int]) -> None:
    if len(packed) == 16:
        b = bytearray(packed)
        for z in zeros:
            b[2 * z : 2 * z + 2] = b"\x00\x00"
        packed = bytes(b)
    assert _fastgate.format_addr(packed) == str(ipaddress.ip_address(packed))


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_fuzz_parsers_no_crash_no_growth() -> None:
    """100k hostile packets through every C parser, each checked against Python; then
    200k calls more with the process size watched."""
    rnd = random.Random(4)
    seeds = [sample_answers(rnd) for _ in range(64)]

    def round_(n: int) -> None:
        for i in range(n):
            raw, ans = seeds[i % len(seeds)]
            kind = i % 3
            if kind == 0:
                pkt = rnd.randbytes(rnd.randrange(0, 80))
            else:
                pkt = mutate(raw if kind == 1 else ans, rnd)
            assert _fastgate.parse_query(pkt) == py_query(pkt)
            _fastgate.nxdomain(pkt)
            assert c_allow(raw, pkt, 60, 30) == py_allow(raw, pkt, 60, 30)

    round_(100_000)
    # Leak check on the C functions alone (the Python reference allocates and frees far
    # more than they do): 200k more calls must not grow the process.
    pkts = [mutate(seeds[i % 64][i % 2], rnd) for i in range(2000)]
    raw = seeds[0][0]

    def c_only() -> None:
        for _ in range(100):
            for p in pkts:
                _fastgate.parse_query(p)
                _fastgate.nxdomain(p)
                _fastgate.allow_answer(raw, 17, p, 60, 30)

    c_only()
    before = rss_kib()
    c_only()
    assert rss_kib() - before < 1024, "the C parsers leak"


# -- the whole gate, both ways ---------------------------------------------------------------
class FakeNft:
    """Enforcer's libnftables stand-in: keeps the (mac, address, timeout) it was asked to add."""

    def __init__(self) -> None:
        self.added: list[tuple[str, str, int]] = []

    def run(self, commands: list[dict[str, Any]]) -> None:
        for c in commands:
            el = c.get("add", {}).get("element")
            if el and el["name"].startswith("allowed"):
                for e in el["elem"]:
                    m, a = e["elem"]["val"]["concat"]
                    self.added.append((m, a, e["elem"]["timeout"]))


class UpstreamProto(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.turn = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.turn += 1
        self.transport.sendto(upstream_answer(data, self.turn), addr)


@dataclasses.dataclass
class World:
    responses: list[bytes | None]
    events: list[EventRecord]
    writes: list[tuple[str, str, int]]
    notes: list[tuple[str | None, str]]
    stats: dict[str, int]
    counters: dict[str, int]


async def run_world(
    use_fast: bool, script: list[tuple[str, bytes]], *, mode: Mode, in_meeting: bool,
    sets: bool, block: str, burst: int, learning: bool,
) -> World:
    loop = asyncio.get_running_loop()
    up, _ = await loop.create_datagram_endpoint(UpstreamProto, local_addr=("127.0.0.1", 0))
    up_port = up.get_extra_info("sockname")[1]
    pol = Policy(RULES, {MEMBER: Device(1, MEMBER, "iPad", Member(1, "Cllr A"))}, (MEETING,),
                 mode=mode, platform_names={"facebook": "Facebook"})
    at = NOW if in_meeting else NOW + timedelta(days=1)
    restrictions: dict[str, Restriction] = {MEMBER: pol.restriction(MEMBER, at)}
    macs = {MEMBER_IP: MEMBER, GUEST_IP: GUEST}
    stats = GateStats()
    events: list[EventRecord] = []
    notes: list[tuple[str | None, str]] = []
    nft = FakeNft()
    enforcer = Enforcer(TableSpec("chamberguard", ("chamber0",), "198.51.100.1"), nft=nft)  # type: ignore[arg-type]
    in_set = {MEMBER} if sets else set()
    pool = UpstreamPool(("127.0.0.1", up_port), sockets=2, timeout=1.0)
    await pool.start()
    fp: fast.FastPath | None = None
    if use_fast:
        fp = fast.FastPath(
            [fast.bind_udp("127.0.0.1", 0)], ("127.0.0.1", up_port), stats=stats,
            submit=lambda e: events.append(e) or True, room="chamber", max_ttl=60, margin=30,
            rate_qps=1, rate_burst=burst, timeout=1.0, block_address=block,
            learning=lambda mac: learning and mac == MEMBER,
            sets_for=lambda mac: mac in in_set, record_allow=True,
        )

    def allow(mac: str, addrs: list[str], ttl: int) -> int:
        if mac not in in_set:
            return 0
        return fp.allow(mac, addrs, ttl) if fp is not None else enforcer.allow(mac, addrs, ttl)

    # Production's chain (build_gate), its settings read by the real loader.
    cfg = factories.settings(extra=(
        f'[chamber]\nsubnets = ["127.0.0.0/8"]\n[dns]\nrate_limit_qps = 1\n'
        f'rate_limit_burst = {burst}\nblock_address = "{block}"\nmax_ttl = 60\n'
        '[policy]\nset_timeout_margin = 30\n'))
    chain, _ = factories.gate(
        cfg, pool, snapshot=lambda: pol, restrictions=lambda: restrictions,
        lookup_mac=macs.get, stats=stats, submit=lambda e: events.append(e) or True,
        note_learn=lambda mac, name, ts: notes.append((mac, name))
        if learning and mac == MEMBER else None,
        allow=allow, take_token=fp.gate.take_token if fp is not None else None)
    if fp is not None:
        fp.start(chain, loop)
        port = fp.sockets[0].getsockname()[1]
        transport = None
    else:
        transport = await listen_udp(chain, "127.0.0.1", 0)
        port = transport.get_extra_info("sockname")[1]
    clients = {}
    for ip in (MEMBER_IP, GUEST_IP):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 0))
        s.setblocking(False)
        clients[ip] = s
    responses: list[bytes | None] = []
    try:
        for ip, raw in script:
            s = clients[ip]
            s.sendto(raw, ("127.0.0.1", port))
            try:
                responses.append(await asyncio.wait_for(loop.sock_recv(s, 65535), 0.3))
            except TimeoutError:
                responses.append(None)
        counters: dict[str, int] = {}
        if fp is not None:
            await asyncio.sleep(0.05)
            fp.drain()
            counters = fp.counters
    finally:
        if fp is not None:
            fp.stop()
        if transport is not None:
            transport.close()
        for s in clients.values():
            s.close()
        pool.close()
        up.close()
    writes = ([(m, a, t) for m, a, t in fp.gate.take_allowed()] if fp is not None
              else nft.added)
    return World(responses, events, writes, notes, stats.as_dict(), counters)


def without_ts(events: list[EventRecord]) -> list[EventRecord]:
    return [dataclasses.replace(e, ts=NOW) for e in events]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from([MEMBER_IP, MEMBER_IP, GUEST_IP]), st.sampled_from(NAMES),
                       st.sampled_from([1, 28, 65]), st.booleans()), min_size=1, max_size=8),
    st.integers(1, 3),
    st.sampled_from([Mode.ENFORCE, Mode.ENFORCE, Mode.MONITOR_ONLY]),
    st.booleans(), st.booleans(), st.sampled_from(["", "198.51.100.250"]),
    st.sampled_from([1000, 1000, 4]), st.booleans(), st.integers(0, 2**32 - 1),
)
def test_fast_path_gives_what_the_python_chain_gives(
    picks: list[tuple[str, str, int, bool]], repeat: int, mode: Mode, in_meeting: bool,
    sets: bool, block: str, burst: int, learning: bool, seed: int,
) -> None:
    rnd = random.Random(seed)
    script = []
    for _ in range(repeat + 1):  # the first time teaches the C side, repeats run there
        for ip, name, qtype, edns in picks:
            raw = query(name, qtype, rnd.randrange(65536), edns)
            script.append((ip, mutate(raw, rnd) if rnd.random() < 0.1 else raw))
    kw = dict(mode=mode, in_meeting=in_meeting, sets=sets, block=block, burst=burst,
              learning=learning)
    py = asyncio.run(run_world(False, script, **kw))  # type: ignore[arg-type]
    c = asyncio.run(run_world(True, script, **kw))  # type: ignore[arg-type]
    assert c.responses == py.responses
    assert without_ts(c.events) == without_ts(py.events)
    assert c.writes == py.writes
    assert c.notes == py.notes
    assert c.stats == py.stats
    assert c.counters["slow_dropped"] == 0


def test_fast_path_really_answers_repeats() -> None:
    """Repeated allowed and refused names are handled in C (not only handed to Python)."""
    script = [(MEMBER_IP, query(n, 1, i)) for i in range(3)
              for n in ("cdn.democracy.example.gov.uk", "www.facebook.com", "www.bank.example")]
    c = asyncio.run(run_world(True, script, mode=Mode.ENFORCE, in_meeting=True, sets=True,
                              block="", burst=1000, learning=False))
    assert c.counters["fast"] == 6 and c.counters["slow"] == 3
    assert [e.platform for e in c.events] == ["facebook"] * 3
    assert c.writes == [(MEMBER, "203.0.113.11", 90), (MEMBER, "2001:db8::11", 90)]
    last = dnswire.parse_message(c.responses[6] or b"")
    assert [r.ttl for r in last.answers] == [60, 60, 30]  # clamped, the short one kept


def test_round_robin_answers_are_written_to_the_sets_by_c() -> None:
    script = [(MEMBER_IP, query("rr.democracy.example.gov.uk", 1, i)) for i in range(4)]
    c = asyncio.run(run_world(True, script, mode=Mode.ENFORCE, in_meeting=True, sets=True,
                              block="", burst=1000, learning=False))
    assert c.counters["fast"] == 3 and c.counters["set_updates"] == 3
    assert c.writes == [(MEMBER, f"203.0.113.{101 + i}", 50) for i in range(4)]


def test_a_full_verdict_table_is_emptied_and_python_hears_of_it() -> None:
    s = fast.bind_udp("127.0.0.1", 0)
    try:
        g = _fastgate.FastGate([s.fileno()], "127.0.0.1", 9)
        got = [g.set_verdict(1, f"n{i}.example", _fastgate.V_FORWARD, 0) for i in range(32769)]
        assert got[:32768] == [1] * 32768 and got[32768] == 2
        with pytest.raises(ValueError):
            g.set_verdict(1, "x" * 300, _fastgate.V_FORWARD, 0)
        with pytest.raises(ValueError):
            g.set_client("not an address", 1, MEMBER, 0, 0.0)
    finally:
        s.close()


def test_learn_mode_and_switch_keep_python_in_charge() -> None:
    script = [(MEMBER_IP, query("democracy.example.gov.uk", 1, i)) for i in range(4)]
    c = asyncio.run(run_world(True, script, mode=Mode.ENFORCE, in_meeting=True, sets=True,
                              block="", burst=1000, learning=True))
    assert c.counters["fast"] == 0 and len(c.notes) == 4
    assert fast.unavailable_reason(False) is not None
    assert fast.unavailable_reason(True) is None
