"""The gate process: DNS gate + nftables + event writer, following the database.

Policy reaches the gate only through the database: a revision counter polled every second,
plus a clock tick that recomputes who is restricted (meetings start and end on their own).
On exit the nftables table is removed: the chamber fails open, never dark.

This module runs the lifecycle only — start, reload, heartbeat, stop. What it drives is built
by :func:`monitor.gate.parts.build_parts`; the chain of DNS steps by
:func:`monitor.gate.build.build_gate`; changes in the conditions a report states are noted as
they happen (:mod:`monitor.conditions`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from allowlist.categories import Mode
from allowlist.decision import Policy, Restriction
from monitor.check import worker as check_worker
from monitor.conditions import ConditionsLog, GateConditions
from monitor.counters import GateCounters
from monitor.events import EventAction, EventKind, EventRecord
from monitor.gate import fast
from monitor.gate.build import GateDeps, build_gate
from monitor.gate.chain import Chain
from monitor.gate.parts import GateParts, build_parts, doh_addresses, table_spec
from monitor.gate.restrictions import Restrictions
from monitor.gate.server import listen_udp
from monitor.gate.tcp import listen_tcp
from monitor.gate.watch import HealthWatch
from monitor.health import Component
from monitor.heartbeat import (
    Heartbeat,
    SensorState,
    mark_stopped,
    read_heartbeat,
    write_heartbeat,
)
from monitor.hostport import parse_hostport
from monitor.incidents import (
    IncidentKind,
    IncidentNote,
    close_outages,
    write_incidents,
)
from monitor.learn import active_sessions
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.policy_loader import load_policy
from monitor.store.revision import current_revision
from monitor.supervise import SensorSupervisor, sensor_alive_path

__all__ = ["GateDaemon", "doh_addresses", "table_spec"]  # (re-exported for the CLI)

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 2.0
OUTAGE_AFTER = timedelta(seconds=10)


class GateDaemon:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        config_path: str | None = None,
        clock: Callable[[], datetime] | None = None,
        parts: GateParts | None = None,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        # The policy clock (meetings start and end by it); tests and the soak drive their own.
        self.now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        # Wall-clock time for what happened to this process (health, conditions).
        self.wall: Callable[[], datetime] = wall or (lambda: datetime.now(UTC))
        self.conditions = ConditionsLog(self.wall)  # noted at the instant, written at once
        self.config_path = config_path
        self._sensor: SensorSupervisor | None = None
        self._rev = -1  # the revision the snapshot was loaded at
        self._last_hb = 0.0
        self.reloads = 0
        self.started = False  # set once start() has the gate answering under a policy
        self.db = db
        self.policy: Policy | None = None
        self._stop = asyncio.Event()
        self._started = datetime.now(UTC)
        self._transports: list[Any] = []
        self.fast_reason: str | None = "not started"
        # Everything this process drives, built in one place (monitor.gate.parts).
        p = self.parts = parts or build_parts(settings, db, lambda: self.policy)
        self.stats, self.health, self.incidents = p.stats, p.health, p.incidents
        self.writer, self.enforcer, self.submit = p.writer, p.enforcer, p.submit
        self.neighbours, self.identity, self.upstream = p.neighbours, p.identity, p.upstream
        self.address_names, self.recent_bypass = p.address_names, p.recent_bypass
        self.learn, self.refused, self.refusals = p.learn, p.refused, p.refusals
        self.presence = p.presence
        self.watch = HealthWatch(settings, p.health, p.incidents, p.writer)
        self.enforcement = Restrictions(policy=lambda: self.policy, enforcer=p.enforcer,
                                        watch=self.watch, incidents=p.incidents)

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

    @property
    def fast(self) -> fast.FastPath | None:
        """The native UDP fast path, when it runs (held by :class:`Restrictions`, which keeps
        its copies of clients and verdicts in step)."""
        return self.enforcement.fast

    @property
    def restrictions(self) -> dict[str, Restriction]:
        return self.enforcement.now

    def recompute(self, now: datetime | None = None, *, push: bool = True) -> list[str] | None:
        return self.enforcement.recompute(now or self.now(), push=push)

    def _presence_due(self, mac: str) -> float:
        last = self.presence._last.get(mac)  # noqa: SLF001 - the step's own throttle
        return float("-inf") if last is None else last + self.presence.every

    def gate_deps(self) -> GateDeps:
        """What the chain's steps are handed from this process."""
        return GateDeps(
            stats=self.stats,
            upstream=self.upstream,
            lookup_mac=self.neighbours.lookup,
            restrictions=lambda: self.enforcement.now,
            policy=lambda: self.policy,  # type: ignore[arg-type, return-value]
            submit=self.submit,
            allow=self.enforcement.allow,
            presence=self.presence,
            note_unlisted=self.refused.note,
            note_learn=self.learn.note,
            remember=self.address_names.remember,
            take_token=self.fast.gate.take_token if self.fast is not None else None,
            incidents=self.incidents,
        )

    def build_chain(self) -> Chain:
        return build_gate(self.settings, self.gate_deps())

    # -- heartbeat / outage ----------------------------------------------------------
    def _heartbeat(self, first: bool = False) -> None:
        now = datetime.now(UTC)  # liveness is wall-clock time, whatever the policy clock says
        room = self.settings.site.room
        with self.db.session() as s:
            if first:
                self._record_restart(s, read_heartbeat(s, room), now)
            self.watch.write(s)
            self.watch.meeting_sync(s, now)
            write_heartbeat(
                s, room, pid=os.getpid(), started_at=self._started, now=now,
                enforcing=self.enforcing(), sensor=self.sensor_state(),
                counters=GateCounters.snapshot(self.stats, self.identity.as_dict()),
                components=self.health.as_json(), restarted=first)
            self.conditions.write(s, self.settings)

    def enforcing(self) -> bool:
        """Whether this gate restricts anyone at the IP level now (nftables, enforce mode)."""
        return self.enforcer is not None and self.policy is not None \
            and self.policy.mode is Mode.ENFORCE

    def gate_conditions(self) -> GateConditions:
        """The conditions as this running gate sees them (monitor.conditions)."""
        return GateConditions("up", self.enforcing(), self.sensor_state())

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

    def assess(self, now: datetime | None = None) -> None:
        """Each component's state now (called every tick); a change in the conditions a
        report states is noted with this instant."""
        now = now or self.wall()
        self.watch.assess(now, self.enforcer, self._sensor)
        if self.started:
            self.conditions.note(self.gate_conditions(), at=now)

    def mark_stopped(self) -> None:
        with self.db.session() as s:
            mark_stopped(s, self.settings.site.room)
            self.conditions.write(s, self.settings)

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
            await loop.run_in_executor(None, self.enforcement.push, macs)
            await loop.run_in_executor(None, self._sync_learning)
            self.enforcement.fast_tick()
            if self.enforcer is not None:
                flows = await loop.run_in_executor(None, self.enforcer.refused)
                self.refusals.update(flows, self.restrictions)
            self.watch.tick_error = None
        except Exception as exc:
            log.exception("gate tick failed; keeping the last good policy")
            self.watch.tick_error = f"tick failed: {type(exc).__name__}: {exc}"
            self.incidents.error(Component.GATE, "tick", exc)
        try:
            self.assess()
            if loop.time() - self._last_hb >= HEARTBEAT_EVERY or self.watch.transitions \
                    or self.conditions.pending:
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
        cmd = [sys.executable, "-m", "monitor.cli"]
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
        self.started = True
        self.conditions.note(self.gate_conditions())
        with self.db.session() as s:
            self.conditions.write(s, self.settings)
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
            path = fast.FastPath(
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
            return
        self.enforcement.use_fast(path)

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
        if self.started:
            self.conditions.note(GateConditions.down(), "gate stopped; the chamber failed open"
                                 if self.enforcer is not None else "gate stopped")
        self.writer.flush()
        self.writer.stop()
        try:
            self.mark_stopped()
        except Exception:
            log.exception("could not record the gate stop")
