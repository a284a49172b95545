"""The gate process: DNS gate + nftables + event writer, following the database.

Policy reaches the gate only through the database: a revision counter polled every second,
plus a clock tick that recomputes who is restricted (meetings start and end on their own).
On exit the nftables table is removed: the chamber fails open, never dark (DESIGN §5).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from allowlist.bypass import resolver_addresses
from allowlist.categories import Mode
from allowlist.decision import Policy, Restriction
from monitor.check import worker as check_worker
from monitor.counters import GateCounters
from monitor.events import EventAction, EventKind, EventRecord, EventWriter, spool_dir
from monitor.evidence.presence import Presence
from monitor.gate import fast
from monitor.gate.chain import Chain
from monitor.gate.refusals import AddressNames, RecentBypass, RefusalRecorder
from monitor.gate.server import listen_udp
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
from monitor.gate.tcp import listen_tcp
from monitor.gate.upstream import UpstreamPool
from monitor.health import Component, ComponentHealth, HealthBoard, State
from monitor.heartbeat import (
    Heartbeat,
    SensorState,
    mark_stopped,
    read_heartbeat,
    write_heartbeat,
)
from monitor.hostport import parse_hostport
from monitor.identity.service import IdentityService
from monitor.incidents import (
    IncidentKind,
    IncidentLog,
    IncidentNote,
    close_outages,
    open_outage,
    write_incidents,
)
from monitor.learn import LearnRecorder, active_sessions
from monitor.neighbours import NeighbourTable
from monitor.nft.enforcer import Enforcer
from monitor.nft.ruleset import TableSpec
from monitor.refused_names import RefusedNames
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import Incident
from monitor.store.policy_loader import load_policy
from monitor.store.revision import current_revision
from monitor.supervise import SensorSupervisor, sensor_alive_path

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 2.0
OUTAGE_AFTER = timedelta(seconds=10)


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


class GateDaemon:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        config_path: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        # The policy clock (meetings start and end by it); tests and the soak drive their own.
        self.now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.config_path = config_path
        self._sensor: SensorSupervisor | None = None
        self.health = HealthBoard()
        self.incidents = IncidentLog()  # errors noted on the loop, written by the heartbeat
        self._transitions: list[tuple[ComponentHealth | None, ComponentHealth]] = []
        self._tick_error: str | None = None
        self._nft_error: str | None = None
        self._drops_seen = 0
        self._drops_at = float("-inf")
        self._rev = -1  # the revision the snapshot was loaded at
        self._last_hb = 0.0
        self.reloads = 0
        self.db = db
        self.stats = GateStats()
        self.neighbours = NeighbourTable()
        self.policy: Policy | None = None
        self.restrictions: dict[str, Restriction] = {}
        self.writer = EventWriter(
            db,
            room=settings.site.room,
            spool_dir=spool_dir(settings.site.data_dir, settings.site.room, "gate"),
        )
        spec = table_spec(settings)
        self.enforcer: Enforcer | None = Enforcer(spec) if spec is not None else None
        self.address_names = AddressNames()
        self.learn = LearnRecorder()
        self.recent_bypass = RecentBypass()
        self.submit = self.recent_bypass.tap(self.writer.submit)
        self.refused = RefusedNames(timedelta(hours=settings.retention.refused_names_hours))
        self.refusals = RefusalRecorder(
            self.submit, settings.site.room, [a for fam in doh_addresses(settings)
                                              for a in fam], self.address_names,
            self.recent_bypass,
        )
        self._stop = asyncio.Event()
        self._started = datetime.now(UTC)
        self._transports: list[Any] = []
        self.upstream = UpstreamPool(
            parse_hostport(settings.dns.upstream), timeout=settings.dns.upstream_timeout
        )
        self.fast: fast.FastPath | None = None  # the native UDP fast path, when it runs
        self.fast_reason: str | None = "not started"
        self.presence = Presence(self.writer.note_presence, lambda: self.policy)
        self._fast_seen: tuple[object, ...] | None = None
        self._fast_policy: Policy | None = None  # the snapshot the taught verdicts came from
        # Who a device is, from the Wi-Fi itself (RADIUS accounting, hostapd key ids).
        self.identity = IdentityService(settings, db, self.neighbours.learn)

    # -- policy -----------------------------------------------------------------------
    def _load(self) -> Policy:
        with self.db.session() as s:
            return load_policy(s, self.settings, self.now())

    def _revision(self) -> int:
        with self.db.session() as s:
            return current_revision(s)

    def _sync_learning(self) -> None:
        with self.db.session() as s:
            self.learn.flush(s)
            self.refused.flush(s, datetime.now(UTC))
            self.learn.active = active_sessions(s, self.now())

    def recompute(self, now: datetime | None = None, *, push: bool = True) -> list[str] | None:
        """Who is restricted right now. Returns the MAC set for nftables (None without a
        firewall); ``push`` writes it at once — the ticker instead pushes it from a worker
        thread (:meth:`push_restricted`), so the DNS loop never waits on nftables' lock."""
        assert self.policy is not None
        now = now or self.now()
        pol = self.policy
        self.restrictions = {mac: pol.restriction(mac, now) for mac in pol.devices}
        if self.enforcer is None:
            return None
        macs = (
            []
            if pol.mode is Mode.MONITOR_ONLY
            else [m for m, r in self.restrictions.items() if r.restricted]
        )
        if push:
            self.push_restricted(macs)
        return macs

    def push_restricted(self, macs: list[str] | None) -> None:
        if self.enforcer is None or macs is None:
            return
        try:
            self.enforcer.set_restricted(macs)
        except Exception as exc:
            self._nft_error = f"could not update the restricted set: {exc}"
            self.incidents.error(Component.FIREWALL, "set restricted", exc)
            raise
        self._nft_error = None

    def _allow(self, mac: str, addrs: list[str], ttl: int) -> int:
        if self.enforcer is None:
            return 0
        if mac not in self.enforcer.restricted:
            # Restricted a moment ago, the set not pushed yet (a worker thread does that):
            # allow now, or the member's agenda would be cut off until the next lookup.
            r = self.restrictions.get(mac)
            if r is None or not r.restricted or self.policy is None \
                    or self.policy.mode is Mode.MONITOR_ONLY:
                return 0
        if self.fast is not None:  # one writer, one memory of what the sets hold
            return self.fast.allow(mac, addrs, ttl)
        return self.enforcer.allow(mac, addrs, ttl)

    def _fast_tick(self) -> None:
        """Keep the fast path's copies honest: clients are re-taught every tick; verdicts
        whenever the policy, anyone's restriction or the restricted MAC set changed."""
        if self.fast is None:
            return
        seen = (
            self.restrictions,
            self.enforcer.restricted if self.enforcer is not None else None,
        )
        changed = self.policy is not self._fast_policy or seen != self._fast_seen
        self.fast.forget(verdicts=changed)
        self._fast_policy, self._fast_seen = self.policy, seen
        self.fast.fold_stats()

    def _presence_due(self, mac: str) -> float:
        last = self.presence._last.get(mac)  # noqa: SLF001 - the step's own throttle
        return float("-inf") if last is None else last + self.presence.every

    def build_chain(self) -> Chain:
        st, cfg = self.stats, self.settings
        rate: Step = (
            fast.SharedRateLimit(self.fast.gate.take_token, st)
            if self.fast is not None
            else RateLimit(cfg.dns.rate_limit_qps, cfg.dns.rate_limit_burst, st)
        )
        steps = [
            ClientScope(cfg.chamber.subnets, st),
            ParseQuery(st),
            rate,
            Identify(self.neighbours.lookup, lambda: self.restrictions),
            self.presence,
            Record(self.submit, cfg.site.room, st, self.refused.note),
            LearnNames(self.learn.note),
            Decide(lambda: self.policy, st, cfg.dns.block_address, cfg.dns.max_ttl),  # type: ignore[arg-type, return-value]
            LearnPlatformAddresses(self.address_names.remember),
            AllowAnswers(self._allow, st, cfg.dns.max_ttl, cfg.policy.set_timeout_margin),
        ]
        return Chain(steps, self.upstream, st, self.incidents)

    # -- heartbeat / outage ----------------------------------------------------------
    def _heartbeat(self, first: bool = False) -> None:
        now = datetime.now(UTC)  # liveness is wall-clock time, whatever the policy clock says
        room = self.settings.site.room
        with self.db.session() as s:
            if first:
                self._record_restart(s, read_heartbeat(s, room), now)
            self._write_health(s, now)
            self._meeting_sync_health(s, now)
            write_heartbeat(
                s, room, pid=os.getpid(), started_at=self._started, now=now,
                enforcing=(self.enforcer is not None and self.policy is not None
                           and self.policy.mode is Mode.ENFORCE),
                sensor=self.sensor_state(),
                counters=GateCounters.snapshot(self.stats, self.identity.as_dict()),
                components=self.health.as_json(), restarted=first)

    def sensor_state(self) -> SensorState:
        """The passive sensor, for the heartbeat and the conditions a report states."""
        if self._sensor is None:
            return SensorState.OFF
        return SensorState.RUNNING if self._sensor.pid is not None else SensorState.STOPPED

    def _record_restart(self, s: Any, hb: Heartbeat | None, now: datetime) -> None:
        """Close the gate's open outage (the guard opened it when the worker died), or — when
        nobody could (both killed, host down) — record the gap the stale heartbeat shows."""
        room = self.settings.site.room
        closed = close_outages(s, room, Component.GATE, now)
        if hb is not None and now - hb.seen_at > OUTAGE_AFTER:
            if not closed:
                write_incidents(s, room, [IncidentNote(
                    IncidentKind.OUTAGE, Component.GATE, hb.seen_at, now,
                    "gate not running (no heartbeat); recorded when it restarted")])
            self.writer.submit(EventRecord(
                ts=hb.seen_at, kind=EventKind.OUTAGE, action=EventAction.OBSERVED, room=room,
                detail=f"gate was down from {hb.seen_at.isoformat()} to {now.isoformat()}"))
        # Parts this worker supervised are not down any more: a new supervisor judges afresh.
        for c in (Component.SENSOR, Component.FIREWALL):
            close_outages(s, room, c, now)

    def _write_health(self, s: Any, now: datetime) -> None:
        """Outages opened and closed as components go down and come back; noted errors."""
        room = self.settings.site.room
        moves, self._transitions = self._transitions, []
        for old, new in moves:
            if new.state is State.DOWN:
                open_outage(s, room, new.component, new.since, new.why)
            elif old is not None and old.state is State.DOWN:
                close_outages(s, room, new.component, new.since)
        notes = self.incidents.drain()
        write_incidents(s, room, notes)

    def assess(self, now: datetime | None = None) -> None:
        """Each component's state now, from what this worker can see (called every tick)."""
        now = now or datetime.now(UTC)
        cfg = self.settings
        mirror = cfg.site.topology == "mirror"
        put = self._set_health
        if mirror:
            put(Component.GATE, State.OFF, "mirror topology: no DNS gate", now)
        elif self._tick_error:
            put(Component.GATE, State.DEGRADED, self._tick_error, now)
        else:
            put(Component.GATE, State.UP, f"answering on port {cfg.dns.port}", now)
        if self.enforcer is None:
            why = ("nftables switched off" if not cfg.nftables.enabled
                   else f"{cfg.site.topology} topology: no firewall")
            put(Component.FIREWALL, State.OFF, why, now)
        elif self._nft_error:
            put(Component.FIREWALL, State.DOWN, self._nft_error, now)
        else:
            put(Component.FIREWALL, State.UP, f"{len(self.enforcer.restricted)} restricted", now)
        if self._sensor is None:
            put(Component.SENSOR, State.OFF, self._sensor_off_reason(), now)
        else:
            state, why = self._sensor.check()
            put(Component.SENSOR, state, why, now)
        w = self.writer
        if w.dropped != self._drops_seen:
            self._drops_seen, self._drops_at = w.dropped, time.monotonic()
        failing = w.failing_since
        if failing is not None and time.monotonic() - failing > 10:
            put(Component.EVENTS, State.DOWN, "database writes failing for "
                f"{time.monotonic() - failing:.0f} s (events kept in the spool)", now)
        elif time.monotonic() - self._drops_at < 60:
            put(Component.EVENTS, State.DEGRADED, f"{w.dropped} events dropped (queue full)", now)
        else:
            put(Component.EVENTS, State.UP, f"{w.written} events written", now)
        if w.spool is None:
            put(Component.SPOOL, State.DEGRADED, "unavailable: events are not crash-safe", now)
        else:
            put(Component.SPOOL, State.UP, "crash-safe", now)

    def _sensor_off_reason(self) -> str:
        cfg = self.settings
        if not cfg.capture.enabled:
            return "[capture] enabled = false"
        return "no interface to capture on"

    def _set_health(self, c: Component, state: State, why: str, now: datetime) -> None:
        old = self.health.set(c, state, why, now)
        if old is not None:
            new = self.health.get(c)
            assert new is not None
            (log.warning if state is State.DOWN else log.info)(
                "%s is %s: %s", c, state, why)
            self._transitions.append((old, new))

    def _meeting_sync_health(self, s: Any, now: datetime) -> None:
        m = self.settings.meetings
        if not (m.moderngov_url.strip() or m.ical_url.strip()) or m.sync_interval_minutes <= 0:
            self.health.set(Component.MEETING_SYNC, State.OFF, "no meetings source", now)
            return
        row = s.execute(select(Incident).where(
            Incident.kind == str(IncidentKind.OUTAGE),
            Incident.component == str(Component.MEETING_SYNC),
            Incident.ended_at.is_(None)).limit(1)).scalar_one_or_none()
        if row is None:
            self.health.set(Component.MEETING_SYNC, State.UP, "last sync succeeded", now)
        else:
            self.health.set(Component.MEETING_SYNC, State.DOWN, row.cause, row.started_at)

    def mark_stopped(self) -> None:
        with self.db.session() as s:
            mark_stopped(s, self.settings.site.room)

    def _touch(self) -> None:
        from monitor.guard import heartbeat_path

        p = heartbeat_path(self.settings)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()

    # -- lifecycle -------------------------------------------------------------------
    async def _ticker(self) -> None:
        while not self._stop.is_set():
            self._touch()  # the guard's hang detector: touched only while the loop turns
            await self.tick()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        """One turn of the clock: reload the snapshot when the revision moved or the policy
        clock left its span, recompute who is restricted, then health and heartbeat. Blocking
        work (database, nftables) runs on worker threads."""
        loop = asyncio.get_running_loop()
        try:
            new_rev = await loop.run_in_executor(None, self._revision)
            if new_rev != self._rev or self.policy is None \
                    or not self.policy.covers(self.now()):
                self.policy = await loop.run_in_executor(None, self._load)
                self._rev = new_rev
                self.reloads += 1
                log.info("policy snapshot loaded (revision %d, %d meetings, valid until %s)",
                         self._rev, len(self.policy.meetings), self.policy.valid_until)
            macs = self.recompute(push=False)
            await loop.run_in_executor(None, self.push_restricted, macs)
            await loop.run_in_executor(None, self._sync_learning)
            self._fast_tick()
            if self.enforcer is not None:
                flows = await loop.run_in_executor(None, self.enforcer.refused)
                self.refusals.update(flows, self.restrictions)
            self._tick_error = None
        except Exception as exc:
            log.exception("gate tick failed; keeping the last good policy")
            self._tick_error = f"tick failed: {type(exc).__name__}: {exc}"
            self.incidents.error(Component.GATE, "tick", exc)
        try:
            self.assess()
            if loop.time() - self._last_hb >= HEARTBEAT_EVERY or self._transitions:
                self._last_hb = loop.time()
                await loop.run_in_executor(None, self._heartbeat)
        except Exception as exc:
            log.exception("gate heartbeat failed")
            self.incidents.error(Component.GATE, "heartbeat", exc)

    def _start_sensor(self) -> None:
        """The passive sensor runs as a child process (see monitor/sensor.py for why),
        supervised: restarted with backoff when it dies, its outage recorded."""
        import subprocess
        import sys

        from monitor.guard import _die_with_parent

        cfg = self.settings
        if not cfg.capture.enabled or not (cfg.capture.interface or cfg.chamber.interface):
            return
        cmd = [sys.executable, "-m", "api.cli"]
        if self.config_path:
            cmd += ["--config", self.config_path]
        self._sensor = SensorSupervisor(
            [*cmd, "gate", "--sensor"], sensor_alive_path(cfg),
            spawn=lambda c: subprocess.Popen(c, preexec_fn=_die_with_parent))  # noqa: PLW1509
        self._sensor.start()

    async def start(self) -> None:
        self._rev = self._revision()
        self.policy = self._load()
        self.writer.start()
        self._heartbeat(first=True)
        if self.enforcer is not None:
            self.enforcer.install()
        self.recompute()
        self._start_sensor()
        await self.identity.start()
        self._check_task = asyncio.create_task(check_worker.serve(self, self._stop))
        if self.settings.site.topology == "mirror":
            log.info("mirror topology: passive monitoring only, no DNS gate")
            return
        await self.upstream.start()
        cfg = self.settings.dns
        hosts = [cfg.listen] + (
            [self.settings.chamber.gate_address6] if self.settings.chamber.gate_address6 else []
        )
        self._start_fast(hosts)
        chain = self.build_chain()
        if self.fast is not None:
            self.fast.start(chain, asyncio.get_running_loop())
            log.info("gate fast path: native UDP on port %d", cfg.port)
        else:
            log.info("gate fast path: off (%s); Python handles every query", self.fast_reason)
        for host in hosts:
            if self.fast is None:
                self._transports.append(await listen_udp(chain, host, cfg.port))
            self._transports.append(await listen_tcp(chain, host, cfg.port))
            if self.enforcer is not None:
                self._transports.append(await listen_udp(chain, host, cfg.redirect_port, True))
                self._transports.append(await listen_tcp(chain, host, cfg.redirect_port, True))
        log.info("gate listening on %s:%d (room %s)", cfg.listen, cfg.port, self.settings.site.room)

    def _start_fast(self, hosts: list[str]) -> None:
        """The native fast path owns the main UDP port when it is built and switched on;
        any failure leaves the Python listeners in charge (never no DNS)."""
        cfg = self.settings
        self.fast_reason = fast.unavailable_reason(cfg.dns.fast_path)
        if self.fast_reason is not None:
            return
        socks = []
        try:
            for host in hosts:
                socks.append(fast.bind_udp(host, cfg.dns.port))
            enf = self.enforcer
            self.fast = fast.FastPath(
                socks,
                parse_hostport(cfg.dns.upstream),
                stats=self.stats,
                submit=self.submit,
                room=cfg.site.room,
                max_ttl=cfg.dns.max_ttl,
                margin=cfg.policy.set_timeout_margin,
                rate_qps=cfg.dns.rate_limit_qps,
                rate_burst=cfg.dns.rate_limit_burst,
                timeout=cfg.dns.upstream_timeout,
                nft_table=enf.builder.spec.table if enf is not None else "",
                block_address=cfg.dns.block_address,
                learning=lambda mac: mac in self.learn.active,
                sets_for=lambda mac: enf is not None and mac in enf.restricted,
                presence_due=self._presence_due,
            )
        except (OSError, ValueError) as exc:
            log.exception("gate fast path unavailable; Python handles every query")
            self.fast_reason = f"failed to start: {exc}"
            for s in socks:
                s.close()
            self.fast = None
            return
        self._fast_seen = self._fast_policy = None
        self._fast_tick()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            await self.start()
            await self._ticker()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        self.identity.close()
        if self._sensor is not None:
            self._sensor.stop()
        if self.fast is not None:
            self.fast.stop()
            log.info("gate fast path counters: %s", self.fast.counters)
        for t in self._transports:
            t.close()
        self.upstream.close()
        if self.enforcer is not None:
            from monitor.guard import fail_open

            try:
                fail_open(self.settings, self.enforcer)  # never leave the chamber dark
            except Exception:
                log.exception("could not install the fail-open table; removing ours")
                self.enforcer.remove()
        self.writer.flush()
        self.writer.stop()
        try:
            self.mark_stopped()
        except Exception:
            log.exception("could not record the gate stop")
