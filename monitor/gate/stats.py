"""Counters (never log lines) for what the gate did and refused to do."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


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
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "errors"}
        out.update({f"error.{k}": v for k, v in sorted(self.errors.items())})
        return out
