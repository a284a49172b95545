"""One client query on its way through the gate."""

from __future__ import annotations

from dataclasses import dataclass, field

from allowlist.decision import Decision, Restriction
from monitor.dnswire import Query


@dataclass(slots=True)
class Exchange:
    raw: bytes
    client_ip: str
    client_port: int
    redirected: bool  # arrived on the redirect port: the device asked another resolver
    received: float  # wall clock, seconds
    transport: str = "udp"
    query: Query | None = None
    mac: str | None = None
    restriction: Restriction | None = None
    decision: Decision | None = None
    response: bytes | None = None
    drop: bool = False
    addresses: list[tuple[str, int]] = field(default_factory=list)  # from the upstream answer

    @property
    def done(self) -> bool:
        return self.drop or self.response is not None
