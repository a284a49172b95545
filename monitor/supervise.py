"""The gate worker's supervision of its sensor child: restarted with backoff when it dies,
its state said (up / degraded / down / off) with since-when and why.

The sensor proves it is working by touching its alive file every tick of its capture loop
(:func:`sensor_alive_path`); a live process whose file has gone stale is hung, not up.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.health import State
from monitor.settings import Settings

log = logging.getLogger(__name__)
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds before restart n; the last one repeats
STABLE_AFTER = 60.0  # a sensor up this long has its backoff reset
STALE_AFTER = 5.0  # alive file older than this: hung
START_GRACE = 15.0  # a new sensor may take this long to open its socket


def sensor_alive_path(settings: Settings) -> Path:
    return settings.site.data_dir / f"sensor-{settings.site.room}.alive"


class SensorSupervisor:
    def __init__(self, cmd: Sequence[str], alive: Path, *,
                 spawn: Callable[[list[str]], subprocess.Popen[bytes]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 backoff: Sequence[float] = BACKOFF) -> None:
        self.cmd = list(cmd)
        self.alive = alive
        self._spawn = spawn or (lambda c: subprocess.Popen(c))
        self._clock = clock
        self._backoff = tuple(backoff)
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._failures = 0  # consecutive deaths (indexes the backoff)
        self._started_at = 0.0
        self._restart_at: float | None = None
        self._last_exit: str = ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        self.alive.parent.mkdir(parents=True, exist_ok=True)
        self.alive.unlink(missing_ok=True)
        self.proc = self._spawn(self.cmd)
        self._started_at = self._clock()
        self._restart_at = None
        log.info("sensor started (pid %d)", self.proc.pid)

    def check(self) -> tuple[State, str]:
        """Poll the child, restart it when its backoff has passed; its state and why."""
        now = self._clock()
        if self.proc is None:
            return State.OFF, "not started"
        code = self.proc.poll()
        if code is not None:
            if self._restart_at is None:  # just found dead
                self._failures += 1
                delay = self._backoff[min(self._failures, len(self._backoff)) - 1]
                self._restart_at = now + delay
                self._last_exit = (f"killed by signal {-code}" if code < 0
                                   else f"exited with status {code}")
                log.error("sensor %s; restarting in %.0f s", self._last_exit, delay)
            if now >= self._restart_at:
                self.restarts += 1
                self.start()
                return State.DOWN, f"{self._last_exit}; restarted, waiting for it to capture"
            return State.DOWN, f"{self._last_exit}; restarting in {self._restart_at - now:.0f} s"
        age = self._alive_age()
        up_for = now - self._started_at
        if age is not None and age <= STALE_AFTER:
            if up_for >= STABLE_AFTER:
                self._failures = 0
            return State.UP, f"capturing (pid {self.proc.pid})"
        if age is None and up_for < START_GRACE:
            if self._last_exit:
                return State.DOWN, f"{self._last_exit}; restarted, waiting for it to capture"
            return State.DEGRADED, "starting"
        return State.DOWN, ("not capturing (no sign of life since it started)" if age is None
                            else f"not capturing for {age:.0f} s (hung)")

    def _alive_age(self) -> float | None:
        try:
            return time.time() - self.alive.stat().st_mtime
        except FileNotFoundError:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
