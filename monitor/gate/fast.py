"""The native UDP fast path (``_fastgate.c``) seen from Python.

Python stays the authority. Every client's first query, and every name the C side has no
verdict for, runs through the ordinary chain (:mod:`monitor.gate.chain`); when it finishes,
:meth:`FastPath.learn` tells the C side what the chain did for that (device, name), if it is
something the C side can repeat exactly:

* unrestricted client, name that is not a platform → forward, answer unchanged;
* restricted client, allowed name → forward, allow A/AAAA in nftables, clamp TTLs;
* restricted client, refused name (NXDOMAIN, not the block-page address) → NXDOMAIN;

plus whether ``Record`` would make an event (built here, from the same ``Decision``, through
``decision_event``) or count an unlisted refusal. Everything else — platform answers that
``LearnPlatformAddresses`` must see, learn-mode devices, the redirect port, TCP, malformed or
unknown packets, a presence note falling due — keeps going through Python.

The C side forgets clients every tick (neighbour and learn-mode changes reach it within a
second) and verdicts whenever the policy or anyone's restriction changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from allowlist.decision import Decision, Kind
from monitor.events import RECORDED_KINDS, EventAction, EventRecord, decision_event
from monitor.gate.chain import Chain
from monitor.gate.exchange import Exchange
from monitor.gate.stats import GateStats
from monitor.gate.steps import Step

try:
    from monitor.gate import _fastgate  # type: ignore[attr-defined]
except ImportError:  # not built: the Python chain does everything, as before
    _fastgate = None

# GateStats fields the C side counts for the queries it handles itself.
_SHARED = ("queries", "answered", "refused", "forwarded", "rate_limited", "upstream_timeouts",
           "set_updates", "events", "unlisted_refused")


# Events are built once per taught verdict through decision_event; each later event differs
# only in its time, so it is that record with ``ts`` replaced (positional: 2x cheaper).
_EVENT_FIELDS = [f.name for f in dataclasses.fields(EventRecord)]
_TS_FIRST = _EVENT_FIELDS[0] == "ts"


def unavailable_reason(enabled: bool = True) -> str | None:
    """Why the fast path will not run (None when it will). Off with ``[dns] fast_path =
    false`` or ``CHAMBERGUARD_DNS__FAST_PATH=false``."""
    if not enabled:
        return "switched off ([dns] fast_path = false)"
    if _fastgate is None:
        return "extension monitor.gate._fastgate not built"
    return None


def verdict_action(d: Decision, block_address: str) -> int | None:
    """The C action for a finished decision, or None when only Python may handle the name."""
    assert _fastgate is not None
    if d.platform is not None and not d.refused:
        return None  # LearnPlatformAddresses must see the answer
    if d.refused and block_address and d.kind is not Kind.BYPASS:
        return None  # block-page answers stay in Python
    if not d.restricted:
        return int(_fastgate.V_FORWARD)
    action = int(_fastgate.V_NXDOMAIN if d.refused else _fastgate.V_ALLOW)
    if d.kind in RECORDED_KINDS:
        action |= int(_fastgate.VF_EVENT)
    elif d.kind is Kind.UNLISTED:
        action |= int(_fastgate.VF_UNLISTED)
    return action


class SharedRateLimit(Step):
    """RateLimit with its token buckets in C: one bucket per client whichever path (C, UDP
    through Python, TCP, redirect port) a query takes."""

    def __init__(self, take: Callable[[str], bool], stats: GateStats) -> None:
        self.take = take
        self.stats = stats

    def before(self, ex: Exchange) -> None:
        if not self.take(ex.client_ip):
            self.stats.rate_limited += 1
            ex.drop = True


class FastPath:
    """Owns the C gate: its sockets, the wake-up reader, and the verdicts it was taught."""

    def __init__(
        self,
        sockets: list[socket.socket],
        upstream: tuple[str, int],
        *,
        stats: GateStats,
        submit: Callable[[EventRecord], bool],
        room: str | None,
        max_ttl: int,
        margin: int,
        rate_qps: int,
        rate_burst: int,
        timeout: float,
        nft_table: str = "",
        block_address: str = "",
        learning: Callable[[str], bool] = lambda mac: False,
        sets_for: Callable[[str], bool] = lambda mac: False,
        presence_due: Callable[[str], float] = lambda mac: float("inf"),
        record_allow: bool = False,
    ) -> None:
        assert _fastgate is not None, "extension not built"
        self.sockets = sockets
        self.gate: Any = _fastgate.FastGate(
            [s.fileno() for s in sockets], upstream[0], upstream[1],
            timeout=timeout, max_ttl=max_ttl, margin=margin, rate_qps=float(rate_qps),
            rate_burst=float(rate_burst), nft_table=nft_table, record_allow=record_allow,
        )
        self.stats = stats
        self.submit = submit
        self.room = room
        self.block_address = block_address
        self.learning = learning
        self.sets_for = sets_for
        self.presence_due = presence_due
        self.chain: Chain | None = None
        self.counters: dict[str, int] = {}
        self._gen = 0
        self._classes: dict[str, int] = {}
        self._taught: set[tuple[int, str]] = set()
        self._tokens: dict[int, tuple[Any, ...]] = {}  # token → EventRecord fields after ts
        self._old_tokens: dict[int, tuple[Any, ...]] = {}
        self._next_token = 1
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, chain: Chain, loop: asyncio.AbstractEventLoop) -> None:
        self.chain = chain
        self._loop = loop
        loop.add_reader(self.gate.wake_fd, self.drain)
        self.gate.start()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.gate.wake_fd)
            self._loop = None
        self.gate.stop()
        self.drain()  # events and stats the thread produced last
        for s in self.sockets:
            s.close()

    # -- the tick ------------------------------------------------------------------------
    def forget(self, verdicts: bool) -> None:
        """Clients always (neighbours, learn mode, presence); verdicts when the policy or a
        restriction changed. Answers still in flight in Python are not taught afterwards."""
        self._gen += 1
        self.gate.clear(True, verdicts)
        if verdicts:  # class numbers name verdicts in C: renumber only with them gone
            self._classes.clear()
            self._taught.clear()
            self._old_tokens = self._tokens  # events already queued in C still name these
            self._tokens = {}

    # -- Python side of the handoff ------------------------------------------------------
    def drain(self) -> None:
        """Events recorded by C (same decision_event as Record), then packets for Python."""
        tokens, old, submit, when = self._tokens, self._old_tokens, self.submit, _when
        for token, ts in self.gate.take_events():
            rest = tokens.get(token) or old.get(token)
            if rest is not None:
                submit(EventRecord(when(ts, UTC), *rest))
        chain = self.chain
        for _ in range(8):  # at most 2,048 packets a turn: the tick must keep its turn
            if chain is None:
                break
            items = self.gate.take_slow()
            if not items:
                break
            for data, ip, port, li, ts in items:
                ex = Exchange(data, ip, port, False, ts)
                try:
                    chain.handle(ex, self._replier(li, self._gen))
                except Exception as exc:  # never let one packet take the listener down
                    chain.failed("fast path hand-over", exc)
        else:
            if self._loop is not None:  # more waiting: continue after the loop's other work
                self._loop.call_soon(self.drain)
        self.fold_stats()

    def fold_stats(self) -> None:
        for k, v in self.gate.take_stats().items():
            self.counters[k] = self.counters.get(k, 0) + v
            if k in _SHARED and v:
                setattr(self.stats, k, getattr(self.stats, k) + v)

    def _replier(self, li: int, gen: int) -> Callable[[Exchange], None]:
        sock = self.sockets[li]

        def reply(ex: Exchange) -> None:
            if gen == self._gen:
                self.learn(ex)
            if ex.response is not None:
                try:
                    sock.sendto(ex.response, (ex.client_ip, ex.client_port))
                except OSError:
                    pass  # as asyncio's sendto: a full buffer or a vanished client

        return reply

    def learn(self, ex: Exchange) -> None:
        """Teach C what the chain just did for this client and name (when C can repeat it)."""
        d, q, mac = ex.decision, ex.query, ex.mac
        if d is None or q is None or mac is None or ex.redirected or ex.transport != "udp":
            return
        if self.learning(mac):
            return  # every name of a learn-mode device must reach LearnNames
        cls = self._classes.get(mac)
        if cls is None:
            cls = self._classes[mac] = len(self._classes) + 1
        flags = int(_fastgate.CF_SETS) if self.sets_for(mac) else 0
        self.gate.set_client(ex.client_ip, cls, mac, flags, self.presence_due(mac))
        key = (cls, q.name)
        if key in self._taught:
            return
        action = verdict_action(d, self.block_address)
        if action is None:
            return
        token = self._next_token
        self._next_token = (token + 1) & 0xFFFFFFFF or 1
        if action & int(_fastgate.VF_EVENT):
            if not _TS_FIRST:
                return  # EventRecord changed shape: leave these to Python
            tmpl = decision_event(
                d, ts=ex.received, room=self.room, mac=mac, channels="dns",
                action=EventAction.REFUSED if d.refused else EventAction.OBSERVED,
            )
            self._tokens[token] = tuple(getattr(tmpl, f) for f in _EVENT_FIELDS[1:])
        stored = self.gate.set_verdict(cls, q.name, action, token)
        if stored == 2:  # C emptied its full table: only this verdict is known there now
            self._taught.clear()
            keep = self._tokens.pop(token, None)
            self._old_tokens, self._tokens = self._tokens, {}
            if keep is not None:
                self._tokens[token] = keep
        if stored:
            self._taught.add(key)

    def allow(self, mac: str, addresses: list[str], timeout: int) -> int:
        """Enforcer.allow through the C set writer (one memory of what the sets hold)."""
        return int(self.gate.allow(mac, addresses, timeout))


_when = datetime.fromtimestamp


def bind_udp(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket on (host, port) for the C thread to own."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((host, port))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s
