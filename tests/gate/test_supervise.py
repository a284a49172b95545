"""Issue #18: the sensor's supervisor restarts a dead sensor with backoff and says why."""

from __future__ import annotations

import os
import time
from pathlib import Path

from monitor.health import State
from monitor.supervise import STABLE_AFTER, SensorSupervisor


class FakeProc:
    pids = 100

    def __init__(self) -> None:
        FakeProc.pids += 1
        self.pid = FakeProc.pids
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def test_dead_sensor_is_restarted_with_backoff(tmp_path: Path) -> None:
    now = [0.0]
    procs: list[FakeProc] = []

    def spawn(cmd: list[str]) -> FakeProc:
        procs.append(FakeProc())
        return procs[-1]

    alive = tmp_path / "sensor.alive"
    sup = SensorSupervisor(["sensor"], alive, spawn=spawn,  # type: ignore[arg-type]
                           clock=lambda: now[0], backoff=(1.0, 4.0))
    assert sup.check() == (State.OFF, "not started")
    sup.start()
    assert sup.check() == (State.DEGRADED, "starting")
    alive.touch()
    state, why = sup.check()
    assert state is State.UP and str(procs[0].pid) in why

    procs[0].code = -9  # kill -9
    now[0] = 10.0
    state, why = sup.check()
    assert state is State.DOWN and "killed by signal 9" in why and "restarting in 1 s" in why
    now[0] = 11.0
    state, why = sup.check()
    assert state is State.DOWN and len(procs) == 2 and sup.restarts == 1
    assert not alive.exists(), "a new sensor must prove itself"
    alive.touch()
    assert sup.check()[0] is State.UP

    procs[1].code = 1  # dies again soon: the next wait is longer
    now[0] = 12.0
    assert "restarting in 4 s" in sup.check()[1]
    now[0] = 15.0
    assert len(procs) == 2 and sup.check()[0] is State.DOWN
    now[0] = 16.0
    sup.check()
    assert len(procs) == 3
    # Running, but no sign of life for longer than the grace: hung, shown down.
    alive.touch()
    old = time.time() - 60
    os.utime(alive, (old, old))
    now[0] = 16.0 + STABLE_AFTER
    state, why = sup.check()
    assert state is State.DOWN and "hung" in why
