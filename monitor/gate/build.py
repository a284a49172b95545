"""The gate's chain, wired in one place (blocky's ``createQueryResolver`` style).

:func:`build_gate` is the only code that decides which steps run and in which order; the
daemon and the tests both call it, so a test of the chain is a test of production's chain.
What a step needs from the rest of the process arrives in :class:`GateDeps` — callables and
counters, never the daemon itself — so a test hands in recorders where production hands in
the event writer, nftables and the neighbour table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from allowlist.decision import Policy, Restriction
from monitor.events import EventRecord
from monitor.gate.chain import Chain
from monitor.gate.fast import SharedRateLimit
from monitor.gate.stats import GateStats
from monitor.gate.steps import (
    AllowAnswers,
    ClientScope,
    Decide,
    Identify,
    LearnNames,
    LearnPlatformAddresses,
    ParseQuery,
    RateLimit,
    Record,
    Step,
)
from monitor.gate.upstream import UpstreamPool
from monitor.incidents import IncidentLog
from monitor.settings import Settings


def _no_unlisted(device_id: int, name: str, ts: float) -> None:
    """Default for ``note_unlisted``: IT's troubleshooting list is not kept."""


def _no_learning(mac: str | None, name: str, ts: float) -> None:
    """Default for ``note_learn``: no device is in learn mode."""


def _no_addresses(addrs: list[str], domain: str, platform: str) -> None:
    """Default for ``remember``: platform addresses are not kept for naming connections."""


@dataclass(frozen=True)
class GateDeps:
    """What the steps are handed. Every field is a narrow callable or a shared counter, so
    the chain never reaches into the process that runs it."""

    stats: GateStats
    upstream: UpstreamPool
    lookup_mac: Callable[[str], str | None]  # client address → MAC (neighbour table)
    restrictions: Callable[[], Mapping[str, Restriction]]  # MAC → restriction this tick
    policy: Callable[[], Policy]  # the snapshot in force
    submit: Callable[[EventRecord], bool]  # the event writer
    allow: Callable[[str, list[str], int], int]  # MAC, addresses, ttl → nftables set
    presence: Step | None = None  # devices.last_seen from DNS (monitor.evidence.presence)
    note_unlisted: Callable[[int, str, float], None] = _no_unlisted
    note_learn: Callable[[str | None, str, float], None] = _no_learning
    remember: Callable[[list[str], str, str], None] = _no_addresses
    take_token: Callable[[str], bool] | None = None  # the fast path's shared buckets
    incidents: IncidentLog | None = None


def rate_limit(settings: Settings, deps: GateDeps) -> Step:
    """One bucket per client: the fast path's (shared with its C listener) when it runs."""
    if deps.take_token is not None:
        return SharedRateLimit(deps.take_token, deps.stats)
    return RateLimit(settings.dns.rate_limit_qps, settings.dns.rate_limit_burst, deps.stats)


def build_steps(settings: Settings, deps: GateDeps) -> list[Step]:
    """The steps in order. ``before`` runs top to bottom until one answers or drops;
    ``after`` runs bottom to top over the steps whose ``before`` ran."""
    st, dns = deps.stats, settings.dns
    steps: list[Step | None] = [
        # First: anything not from a chamber subnet is dropped before we spend work on it
        # (the gate is never an open resolver).
        ClientScope(settings.chamber.subnets, st),
        # Then parse: every later step may assume one well-formed question.
        ParseQuery(st),
        # After parsing, so a garbage flood is counted as malformed, not rate-limited.
        rate_limit(settings, deps),
        # Address → MAC → restriction; needs a valid query to be worth the lookup.
        Identify(deps.lookup_mac, deps.restrictions),
        # Needs the MAC Identify found; notes the device present, never answers.
        deps.presence,
        # Its ``after`` must see the final decision and the redirect flag, so it is listed
        # before Decide: ``after`` runs in reverse, this one after the answer is settled.
        Record(deps.submit, settings.site.room, st, deps.note_unlisted),
        # Learn mode counts every name asked for; ``after`` so the decision is known.
        LearnNames(deps.note_learn),
        # The pure policy; refusals are answered here and never reach upstream.
        Decide(deps.policy, st, dns.block_address, dns.max_ttl),
        # Its ``after`` reuses the addresses AllowAnswers parsed (which runs just before it).
        LearnPlatformAddresses(deps.remember),
        # Last: its ``after`` runs first, putting allowed addresses into nftables before the
        # answer leaves, and clamping TTLs for restricted clients.
        AllowAnswers(deps.allow, st, dns.max_ttl, settings.policy.set_timeout_margin),
        # (upstream) only for queries no step answered: see Chain.handle.
    ]
    return [s for s in steps if s is not None]


def build_gate(settings: Settings, deps: GateDeps) -> Chain:
    """The gate's chain for these settings: production's and the tests' alike."""
    return Chain(build_steps(settings, deps), deps.upstream, deps.stats, deps.incidents)


def build_check_chain(settings: Settings, policy: Policy, upstream: UpstreamPool) -> Chain:
    """The pre-meeting check's chain (monitor/check): production's parse and decision steps
    and upstream, with counters of its own so a check never shows in the gate's statistics.
    Only these two: the other steps concern a real client — its subnet and rate, its MAC, the
    evidence, learn mode, its firewall set — and the check's made-up device has none."""
    st, dns = GateStats(), settings.dns
    return Chain([ParseQuery(st), Decide(lambda: policy, st, dns.block_address, dns.max_ttl)],
                 upstream, st)
