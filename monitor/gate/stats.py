"""Counters (never log lines) for what the gate did and refused to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
