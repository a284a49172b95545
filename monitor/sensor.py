"""The passive sensor: the chamber interface, sniffed, through the same decision and events.

Runs as its own process (started by the gate worker) so that parsing packets never competes
with the DNS loop for the interpreter. It learns policy the same way the gate does — from the
database revision — and writes its own events.

What it records: in the inline and resolver-only topologies the gate already records every DNS
lookup, so the sensor records only what the gate cannot see — TLS/QUIC/HTTP to names the device
did not look up through the gate in the last ``dedup_seconds`` (cached addresses, hard-coded
resolvers, apps with their own DNS). The pipeline folds a TLS/QUIC sighting into the DNS lookup
it follows, so one attempt seen as DNS and as SNI is one event, not two. In the mirror topology
(no gate) the sensor is the only source and records DNS too.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime

from allowlist.decision import Policy, Restriction
from allowlist.observation import Channel, Observation
from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from monitor.events import (
    RECORDED_KINDS,
    EventAction,
    EventRecord,
    EventWriter,
    decision_event,
    spool_dir,
)
from monitor.health import Component
from monitor.incidents import IncidentKind
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.policy_loader import load_policy
from monitor.store.revision import current_revision
from monitor.supervise import sensor_alive_path

log = logging.getLogger(__name__)
GUEST = Restriction(False, "unknown device")


class ObservationRecorder:
    """Observation → decision → event. Pure apart from ``submit``; shared with pcap replay."""

    def __init__(self, settings: Settings, submit: object) -> None:
        self.settings = settings
        self.submit = submit  # Callable[[EventRecord], bool]
        self.mirror = settings.site.topology == "mirror"
        self.policy: Policy | None = None
        self.restrictions: dict[str, Restriction] = {}
        self.recorded = 0

    def set_policy(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.restrictions = {m: policy.restriction(m, now) for m in policy.devices}

    def wanted(self, obs: Observation) -> bool:
        if obs.channel is Channel.DHCP:
            return False
        return self.mirror or obs.channel is not Channel.DNS

    def observe(self, obs: Observation) -> EventRecord | None:
        if self.policy is None or not self.wanted(obs) or obs.mac is None:
            return None
        r = self.restrictions.get(obs.mac, GUEST)
        if not r.restricted:
            return None
        d = self.policy.decide_for(obs.domain, r)
        if d.kind not in RECORDED_KINDS:
            return None
        channels = getattr(obs, "channels", None) or {obs.channel}
        # The sensor sees, it does not refuse: whether nftables let this flow through (an
        # allowed CDN address carrying another name does pass) is not its to say.
        rec = decision_event(d, ts=obs.ts, room=self.settings.site.room, mac=obs.mac,
                             channels=",".join(sorted(c.value for c in channels)),
                             action=EventAction.OBSERVED)
        self.submit(rec)  # type: ignore[operator]
        self.recorded += 1
        return rec


def refresh_policy(db: Database, settings: Settings, policy: Policy | None, rev: int,
                   now: datetime | None = None) -> tuple[Policy, int]:
    """The snapshot to use now: reloaded when the revision moved or the clock left the span
    the snapshot answers for (a meeting imported weeks ahead needs no config change)."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        new_rev = current_revision(s)
        if policy is None or new_rev != rev or not policy.covers(now):
            return load_policy(s, settings, now), new_rev
    return policy, rev


def run_sensor(settings: Settings, db: Database, iface: str, stop: threading.Event) -> None:
    from monitor.capture.socket import CaptureSocket

    writer = EventWriter(db, room=settings.site.room,
                         spool_dir=spool_dir(settings.site.data_dir, settings.site.room, "sensor"))
    writer.start()
    recorder = ObservationRecorder(settings, writer.submit)
    pipeline = PacketPipeline(
        PipelineConfig(
            chamber_networks=tuple(settings.chamber.subnets),
            dedup_window=settings.capture.dedup_seconds,
        )
    )
    rev = -1
    errors = bugs_seen = 0
    last_tick = 0.0
    alive = sensor_alive_path(settings)
    alive.parent.mkdir(parents=True, exist_ok=True)
    with CaptureSocket(iface, rcvbuf=settings.capture.buffer_mb << 20) as sock:
        log.info("sensor capturing on %s", iface)
        while not stop.is_set():
            now = time.monotonic()
            if now - last_tick >= 1.0:
                last_tick = now
                alive.touch()  # the supervisor's sign of life: touched only while we capture
                try:
                    recorder.policy, rev = refresh_policy(db, settings, recorder.policy, rev)
                    recorder.set_policy(recorder.policy, datetime.now(UTC))
                    pipeline.expire(time.time())
                    bugs = pipeline.counters.internal_errors
                    if bugs > bugs_seen:  # each logged with its traceback by the pipeline
                        writer.incidents.note(
                            IncidentKind.ERROR, Component.SENSOR,
                            "capture pipeline: internal error (traceback in the log)",
                            count=bugs - bugs_seen)
                        bugs_seen = bugs
                except Exception as exc:
                    log.exception("sensor tick failed; keeping the last policy")
                    writer.incidents.error(Component.SENSOR, "sensor tick", exc)
            got = sock.recv()
            if got is None:
                continue
            for obs in pipeline.feed(*got):
                try:
                    recorder.observe(obs)
                except Exception as exc:
                    errors += 1
                    if errors == 1 or errors % 1000 == 0:
                        log.exception("could not record an observation (%d so far)", errors)
                    writer.incidents.error(Component.SENSOR, "record observation", exc)
    writer.flush()
    writer.stop()


def sensor_main(settings: Settings, db: Database) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    iface = settings.capture.interface or settings.chamber.interface
    if not iface:
        log.error("no interface to capture on")
        return 2
    run_sensor(settings, db, iface, stop)
    return 0
