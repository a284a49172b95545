"""Counters (never log lines) for what the gate did and refused to do, and the typed snapshot
of them that the gate's heartbeat carries to the web, ``doctor`` and IT's pages.

Pure data, no I/O: the gate increments :class:`GateStats`; :class:`GateCounters` is what is
stored (JSON, validated by pydantic on the way back in, so a row from an older or newer gate
reads as far as it can and a damaged one says so instead of showing zeros).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError


@dataclass
class GateStats:
    queries: int = 0
    answered: int = 0
    refused: int = 0
    forwarded: int = 0
    out_of_scope: int = 0
    malformed: int = 0
    rate_limited: int = 0
    upstream_timeouts: int = 0
    upstream_errors: int = 0
    set_updates: int = 0
    events: int = 0
    unlisted_refused: int = 0
    # Failures of our own code, by where they happened ("Record.after", "udp listener"):
    # never folded into malformed or upstream_errors, which count what clients and upstream did.
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "errors"}
        out.update({f"error.{k}": v for k, v in sorted(self.errors.items())})
        return out


class CountersDamaged(ValueError):
    """The stored counters are not counters (hand-edited, or written by something else)."""


@dataclass(frozen=True, slots=True)
class GateCounters:
    """A snapshot of the gate's counters since it started. ``identity``: the identity
    sources' counters by name (``radius_*``, ``identity_*``; monitor.identity), present
    only when a source is configured."""

    gate: GateStats = field(default_factory=GateStats)
    identity: dict[str, int] = field(default_factory=dict)

    @classmethod
    def snapshot(cls, stats: GateStats, identity: Mapping[str, int]) -> GateCounters:
        """A copy the gate can keep counting past (its ``errors`` dict is not shared)."""
        return cls(dataclasses.replace(stats, errors=dict(stats.errors)), dict(identity))

    def as_json(self) -> dict[str, Any]:
        return _ADAPTER.dump_python(self, mode="json")

    @classmethod
    def from_json(cls, raw: object) -> GateCounters:
        """Validated counters; missing fields are 0, unknown ones (a newer gate's) ignored.
        Raises :class:`CountersDamaged` for anything that is not counters."""
        try:
            return _ADAPTER.validate_python(raw)
        except ValidationError as exc:
            raise CountersDamaged(f"gate counters unreadable: {exc.error_count()} "
                                  f"problem(s), first: {exc.errors()[0]['msg']}") from exc

    def named(self) -> dict[str, int]:
        """Every counter by its name, gate first (``error.<where>`` for the gate's own
        failures), for a table or a log line."""
        return {**self.gate.as_dict(), **self.identity}


_ADAPTER: TypeAdapter[GateCounters] = TypeAdapter(GateCounters)
