"""The gate's counters: defined with the heartbeat snapshot that carries them
(:mod:`monitor.counters`), so the web reads them without importing the gate."""

from monitor.counters import GateStats

__all__ = ["GateStats"]
