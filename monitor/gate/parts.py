"""The gate process's collaborators, built in one place from the settings and the database.

The daemon (:mod:`monitor.daemon`) runs the lifecycle — start, reload, heartbeat, stop — and
gets everything it drives from :func:`build_parts`; the chain's steps get theirs through
:class:`monitor.gate.build.GateDeps`. A test builds the same parts and swaps one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from allowlist.bypass import resolver_addresses
from allowlist.decision import Policy
from monitor.events import EventRecord, EventWriter, spool_dir
from monitor.gate.presence import Presence
from monitor.gate.refusals import AddressNames, RecentBypass, RefusalRecorder
from monitor.gate.stats import GateStats
from monitor.gate.upstream import UpstreamPool
from monitor.health import HealthBoard
from monitor.hostport import parse_hostport
from monitor.identity.service import IdentityService
from monitor.incidents import IncidentLog
from monitor.learn import LearnRecorder
from monitor.neighbours import NeighbourTable
from monitor.nft.enforcer import Enforcer
from monitor.nft.ruleset import TableSpec
from monitor.refused_names import RefusedNames
from monitor.settings import Settings
from monitor.store.db import Database


def doh_addresses(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Known DoH/DoT resolver addresses (the shipped bypass list plus [dns] doh_addresses),
    as (IPv4, IPv6)."""
    extra = [ipaddress.ip_address(a) for a in settings.dns.doh_addresses]
    v4 = [*resolver_addresses(4), *(x for x in extra if x.version == 4)]
    v6 = [*resolver_addresses(6), *(x for x in extra if x.version == 6)]
    return tuple(str(a) for a in v4), tuple(str(a) for a in v6)


def table_spec(settings: Settings) -> TableSpec | None:
    """Our nftables table for these settings; None where this gate does not enforce at the
    IP level (resolver-only and mirror topologies, or nftables switched off)."""
    if not settings.nftables.enabled or settings.site.topology != "inline":
        return None
    doh4, doh6 = doh_addresses(settings)
    return TableSpec(
        table=settings.nftables.table,
        chamber_ifaces=(settings.chamber.interface or "chamber0",),
        gate4=settings.chamber.gate_address,
        gate6=settings.chamber.gate_address6 or None,
        dns_port=settings.dns.port,
        redirect_port=settings.dns.redirect_port,
        web_port=settings.web.port,
        doh4=doh4,
        doh6=doh6,
    )


@dataclass
class GateParts:
    """Everything the gate process drives besides the chain."""

    stats: GateStats
    health: HealthBoard
    incidents: IncidentLog  # errors noted on the loop, written by the heartbeat
    writer: EventWriter
    enforcer: Enforcer | None
    neighbours: NeighbourTable
    address_names: AddressNames
    learn: LearnRecorder
    recent_bypass: RecentBypass
    submit: Callable[[EventRecord], bool]  # the writer, tapped to see recent bypass names
    refused: RefusedNames
    refusals: RefusalRecorder
    upstream: UpstreamPool
    presence: Presence
    identity: IdentityService


def build_parts(settings: Settings, db: Database,
                snapshot: Callable[[], Policy | None]) -> GateParts:
    """The gate's collaborators for these settings; ``snapshot`` is the policy in force
    (the daemon reloads it, presence reads it)."""
    room = settings.site.room
    writer = EventWriter(db, room=room,
                         spool_dir=spool_dir(settings.site.data_dir, room, "gate"))
    spec = table_spec(settings)
    address_names = AddressNames()
    recent_bypass = RecentBypass()
    submit = recent_bypass.tap(writer.submit)
    neighbours = NeighbourTable()
    return GateParts(
        stats=GateStats(),
        health=HealthBoard(),
        incidents=IncidentLog(),
        writer=writer,
        enforcer=Enforcer(spec) if spec is not None else None,
        neighbours=neighbours,
        address_names=address_names,
        learn=LearnRecorder(),
        recent_bypass=recent_bypass,
        submit=submit,
        refused=RefusedNames(timedelta(hours=settings.retention.refused_names_hours)),
        refusals=RefusalRecorder(submit, room, [a for fam in doh_addresses(settings)
                                                for a in fam], address_names, recent_bypass),
        upstream=UpstreamPool(parse_hostport(settings.dns.upstream),
                              timeout=settings.dns.upstream_timeout),
        presence=Presence(writer.note_presence, snapshot),
        # Who a device is, from the Wi-Fi itself (RADIUS accounting, hostapd key ids).
        identity=IdentityService(settings, db, neighbours.learn),
    )
