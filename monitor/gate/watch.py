"""The gate worker's view of its components' health, and the outages that follow from it.

Every tick the daemon asks :meth:`HealthWatch.assess` for each component's state from what
this process can see (its own DNS loop, nftables, the sensor child, the event writer and its
spool). A change of state is kept as a transition; the heartbeat's database turn writes the
transitions as outages opened and closed (:meth:`HealthWatch.write`), so nothing here waits
on the database while the DNS loop turns.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.events import EventWriter
from monitor.health import Component, ComponentHealth, HealthBoard, State
from monitor.incidents import IncidentKind, IncidentLog, close_outages, open_outage, write_incidents
from monitor.nft.enforcer import Enforcer
from monitor.settings import Settings
from monitor.store.models import Incident
from monitor.supervise import SensorSupervisor

log = logging.getLogger(__name__)


class HealthWatch:
    def __init__(self, settings: Settings, health: HealthBoard, incidents: IncidentLog,
                 writer: EventWriter) -> None:
        self.settings = settings
        self.health = health
        self.incidents = incidents
        self.writer = writer
        self.transitions: list[tuple[ComponentHealth | None, ComponentHealth]] = []
        self.tick_error: str | None = None  # the last tick's failure, until one succeeds
        self.nft_error: str | None = None  # the last nftables failure, until one succeeds
        self._drops_seen = 0
        self._drops_at = float("-inf")

    def assess(self, now: datetime, enforcer: Enforcer | None,
               sensor: SensorSupervisor | None) -> None:
        """Each component's state now, from what this worker can see."""
        cfg = self.settings
        put = self.set
        if cfg.site.topology == "mirror":
            put(Component.GATE, State.OFF, "mirror topology: no DNS gate", now)
        elif self.tick_error:
            put(Component.GATE, State.DEGRADED, self.tick_error, now)
        else:
            put(Component.GATE, State.UP, f"answering on port {cfg.dns.port}", now)
        if enforcer is None:
            why = ("nftables switched off" if not cfg.nftables.enabled
                   else f"{cfg.site.topology} topology: no firewall")
            put(Component.FIREWALL, State.OFF, why, now)
        elif self.nft_error:
            put(Component.FIREWALL, State.DOWN, self.nft_error, now)
        else:
            put(Component.FIREWALL, State.UP, f"{len(enforcer.restricted)} restricted", now)
        if sensor is None:
            put(Component.SENSOR, State.OFF, self._sensor_off_reason(), now)
        else:
            state, why = sensor.check()
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
        if not self.settings.capture.enabled:
            return "[capture] enabled = false"
        return "no interface to capture on"

    def set(self, c: Component, state: State, why: str, now: datetime) -> None:
        old = self.health.set(c, state, why, now)
        if old is not None:
            new = self.health.get(c)
            assert new is not None
            (log.warning if state is State.DOWN else log.info)(
                "%s is %s: %s", c, state, why)
            self.transitions.append((old, new))

    def write(self, s: Session) -> None:
        """Outages opened and closed as components went down and came back; noted errors."""
        room = self.settings.site.room
        moves, self.transitions = self.transitions, []
        for old, new in moves:
            if new.state is State.DOWN:
                open_outage(s, room, new.component, new.since, new.why)
            elif old is not None and old.state is State.DOWN:
                close_outages(s, room, new.component, new.since)
        write_incidents(s, room, self.incidents.drain())

    def meeting_sync(self, s: Session, now: datetime) -> None:
        """The meetings sync runs in the web process; its open outage row says how it is."""
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
