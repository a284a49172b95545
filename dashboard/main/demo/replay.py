"""The replayed chamber, where namespaces are not available: a bundled capture through the
passive monitor's path, so the dashboard still shows attempts and bypasses."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard.main.demo.setup import DEMO_PCAP

if TYPE_CHECKING:
    from monitor.settings import Settings
    from monitor.store.db import Database


@dataclass
class ReplayStats:
    observations: int = 0
    attempts: int = 0
    bypasses: int = 0
    passes: int = 0


def replay_capture(settings: Settings, db: Database, path: Path = DEMO_PCAP, *,
                   pace: float = 0.0, stop: threading.Event | None = None,
                   writer: Any = None) -> ReplayStats:
    """Replay a capture once through the passive monitor's path — the capture pipeline, then
    the sensor's :class:`~monitor.sensor.ObservationRecorder` with the policy as the database
    has it now — so attempts and bypasses become events (action ``observed``: a replay refuses
    nothing). ``settings`` should say topology ``mirror`` (the recorder then records DNS too).
    ``pace`` > 0 sleeps between packets (capture time × ``pace``) so a dashboard sees them
    arrive live. Events carry the time they are replayed, not the capture's."""
    import dataclasses

    from monitor.capture.pipeline import PipelineConfig
    from monitor.capture.replay import replay
    from monitor.events import EventKind, EventWriter
    from monitor.sensor import ObservationRecorder
    from monitor.store.policy_loader import load_policy

    stats = ReplayStats()
    own = writer is None
    w = writer or EventWriter(db, room=settings.site.room)
    if own:
        w.start()
    try:
        now = datetime.now(UTC)
        with db.session() as s:
            policy = load_policy(s, settings, now)
        recorder = ObservationRecorder(settings, w.submit)
        recorder.set_policy(policy, now)
        config = PipelineConfig(chamber_networks=tuple(settings.chamber.subnets),
                                dedup_window=settings.capture.dedup_seconds)
        first: float | None = None
        started = time.monotonic()
        for obs in replay(path, config):
            if stop is not None and stop.is_set():
                break
            if pace > 0:
                first = obs.ts if first is None else first
                delay = started + (obs.ts - first) * pace - time.monotonic()
                if delay > 0:
                    if stop is None:
                        time.sleep(delay)
                    elif stop.wait(delay):
                        break
            stats.observations += 1
            rec = recorder.observe(dataclasses.replace(obs, ts=time.time()))
            if rec is not None:
                if rec.kind is EventKind.BYPASS:
                    stats.bypasses += 1
                else:
                    stats.attempts += 1
        else:
            stats.passes = 1
    finally:
        if own:
            w.flush()
            w.stop()
    return stats
