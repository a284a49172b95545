"""Typed health of each part of the monitor, as the gate worker (their supervisor) sees it.

The worker keeps one :class:`ComponentHealth` per :class:`Component` and writes them all into
its heartbeat row; the clerk's page, IT's readiness list, ``doctor`` and the report read that
row. A state keeps its ``since`` until it changes, so "down for 3 min" is honest.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# The heartbeat's typed counters, offered where the web reads health (defined in
# monitor.heartbeat, with the row they come from).
from monitor.heartbeat import read_counters

__all__ = ["LABELS", "Component", "ComponentHealth", "HealthBoard", "State", "not_recording",
           "read_components", "read_counters"]


class Component(enum.StrEnum):
    GATE = "gate"  # the DNS gate worker (its loop turning)
    FIREWALL = "firewall"  # nftables
    SENSOR = "sensor"  # the passive sensor child process
    EVENTS = "events"  # the event writer (buffer → database)
    SPOOL = "spool"  # the event writer's crash-safe spool
    MEETING_SYNC = "meeting-sync"  # the periodic meeting import (runs with the web app)


class State(enum.StrEnum):
    UP = "up"
    DEGRADED = "degraded"  # working, with something lost or at risk (see why)
    DOWN = "down"  # not working: what it does is not done
    OFF = "off"  # not configured here (e.g. no nftables in the mirror topology)


LABELS: Mapping[Component, str] = {
    Component.GATE: "DNS gate",
    Component.FIREWALL: "Firewall (nftables)",
    Component.SENSOR: "Passive sensor",
    Component.EVENTS: "Event writer",
    Component.SPOOL: "Event spool",
    Component.MEETING_SYNC: "Meeting sync",
}


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    component: Component
    state: State
    since: datetime
    why: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.component]

    def as_json(self) -> dict[str, str]:
        return {"state": str(self.state), "since": self.since.isoformat(), "why": self.why}

    @classmethod
    def from_json(cls, component: str, d: Mapping[str, Any]) -> ComponentHealth | None:
        """None for what this version does not know (a newer gate's component)."""
        try:
            return cls(Component(component), State(d["state"]),
                       datetime.fromisoformat(d["since"]), str(d.get("why") or ""))
        except (KeyError, ValueError, TypeError):
            return None


class HealthBoard:
    """The supervisor's current view; ``set`` keeps ``since`` while the state is unchanged
    and returns the previous health when it changed (None otherwise)."""

    def __init__(self) -> None:
        self._now: dict[Component, ComponentHealth] = {}

    def set(self, component: Component, state: State, why: str, now: datetime
            ) -> ComponentHealth | None:
        old = self._now.get(component)
        if old is not None and old.state is state:
            if old.why != why:
                self._now[component] = ComponentHealth(component, state, old.since, why)
            return None
        self._now[component] = ComponentHealth(component, state, now, why)
        return old or ComponentHealth(component, State.OFF, now, "starting")

    def get(self, component: Component) -> ComponentHealth | None:
        return self._now.get(component)

    def as_json(self) -> dict[str, dict[str, str]]:
        return {str(c): h.as_json() for c, h in sorted(self._now.items())}


def read_components(raw: Mapping[str, Any] | None, *, seen_at: datetime | None,
                    now: datetime, stale_after: timedelta) -> list[ComponentHealth]:
    """The heartbeat's components as the reader should show them: if the heartbeat itself
    is stale, nobody is supervising, so every part the gate reported is shown down."""
    out = [h for c, d in (raw or {}).items() if (h := ComponentHealth.from_json(c, d))]
    if seen_at is None:
        return [ComponentHealth(Component.GATE, State.DOWN, now, "the gate has never run")]
    if now - seen_at > stale_after:
        why = f"no heartbeat since {seen_at:%H:%M:%S} UTC"
        out = [h if h.state is State.OFF or h.component is Component.MEETING_SYNC
               else ComponentHealth(h.component, State.DOWN, seen_at, why) for h in out]
        if not any(h.component is Component.GATE for h in out):
            out.append(ComponentHealth(Component.GATE, State.DOWN, seen_at, why))
    order = list(Component)
    return sorted(out, key=lambda h: order.index(h.component))


def not_recording(components: list[ComponentHealth], topology: str) -> str | None:
    """Why nothing is being recorded, if so: the gate down, or — in the mirror topology, where
    the sensor is the only source — the sensor not up."""
    by = {h.component: h for h in components}
    gate = by.get(Component.GATE)
    if topology == "mirror":
        sensor = by.get(Component.SENSOR)
        if sensor is None or sensor.state in (State.DOWN, State.OFF):
            return "NOT RECORDING: the passive sensor is the only source here and it is " + (
                "down" if sensor is not None and sensor.state is State.DOWN else "not running")
        return None
    if gate is not None and gate.state is State.DOWN:
        return "NOT RECORDING: the DNS gate is down"
    return None

