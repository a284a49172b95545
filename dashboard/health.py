"""Each part of the monitor as the gate's heartbeat last reported it, for the clerk's page,
IT's readiness list and the report: typed states read from the heartbeat's columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.health import Component, ComponentHealth, State, not_recording, read_components
from monitor.heartbeat import STALE_AFTER, read_heartbeat
from monitor.settings import Settings


@dataclass(frozen=True, slots=True)
class HealthView:
    components: tuple[ComponentHealth, ...]
    not_recording: str | None  # set when nothing is being recorded (shown prominently)

    def get(self, c: Component) -> ComponentHealth | None:
        return next((h for h in self.components if h.component is c), None)


def health_view(s: Session, settings: Settings, now: datetime) -> HealthView:
    hb = read_heartbeat(s, settings.site.room)
    seen = hb.seen_at if hb is not None else None
    if hb is not None and hb.stopped:  # a clean stop: as stale as a silent gate, at once
        seen = min(hb.seen_at, now - STALE_AFTER - timedelta(seconds=1))
    comps = read_components(hb.components if hb is not None else None, seen_at=seen, now=now,
                            stale_after=STALE_AFTER)
    return HealthView(tuple(comps), not_recording(comps, settings.site.topology))


STATUS = {State.UP: "ok", State.DEGRADED: "warn", State.DOWN: "fail", State.OFF: "warn"}


def check_status(h: ComponentHealth, topology: str) -> str:
    """ok / warn / fail for the readiness list: a sensor that is off in the mirror topology
    means nothing is recorded at all."""
    if h.state is State.OFF and h.component is Component.SENSOR and topology == "mirror":
        return "fail"
    if h.state is State.OFF and h.component is not Component.SENSOR:
        return "ok"  # not configured here by design (firewall in resolver-only, no sync source)
    return STATUS[h.state]
