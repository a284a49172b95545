"""One way to handle a failure of the gate's own code on the evidence path: logged with its
traceback, counted under its own name, noted as an incident — never swallowed."""

from __future__ import annotations

import logging
import time

from monitor.gate.stats import GateStats
from monitor.health import Component
from monitor.incidents import IncidentLog

log = logging.getLogger("monitor.gate")
LOG_EVERY = 60.0  # a crash on every packet of a flood logs its traceback once a minute


class Failures:
    def __init__(self, stats: GateStats, incidents: IncidentLog | None = None) -> None:
        self.stats = stats
        self.incidents = incidents
        self._logged: dict[tuple[str, type[BaseException]], float] = {}

    def __call__(self, where: str, exc: BaseException) -> None:
        errs = self.stats.errors
        errs[where] = errs.get(where, 0) + 1
        key = (where, type(exc))
        now = time.monotonic()
        last = self._logged.get(key)
        if last is None or now - last >= LOG_EVERY:
            self._logged[key] = now
            log.error("gate step failed in %s (%d so far)", where, errs[where],
                      exc_info=(type(exc), exc, exc.__traceback__))
        if self.incidents is not None:
            self.incidents.error(Component.GATE, where, exc)
