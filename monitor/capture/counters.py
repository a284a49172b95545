"""The capture pipeline's counters: every frame dropped or failed lands in one."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class PipelineCounters:
    """Plain counters for health reporting; every dropped or failed input lands in one."""

    frames: int = 0
    ignored: int = 0  # not IP/ARP, non-first fragments, uninteresting ports
    observations: int = 0
    duplicates: int = 0  # same attempt, same channel, inside the window
    merged: int = 0  # same attempt seen on a further channel
    invalid_names: int = 0
    outside_chamber: int = 0
    dns_queries: int = 0
    dns_responses: int = 0
    tls_sni: int = 0
    tls_no_sni: int = 0
    tls_gave_up: int = 0  # stream cap reached or stream ended before a full ClientHello
    quic_sni: int = 0
    http_host: int = 0
    dhcp_messages: int = 0
    neighbours: int = 0  # address-book changes (DHCP, ARP, NDP, frame source MACs)
    frame_errors: int = 0
    dns_errors: int = 0
    tls_errors: int = 0  # stream started like TLS but was not a ClientHello
    http_errors: int = 0
    quic_errors: int = 0
    dhcp_errors: int = 0
    ndp_errors: int = 0
    internal_errors: int = 0  # a bug: logged with traceback

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
