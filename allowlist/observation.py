"""The one record every sensor produces (Zeek-style): who reached for which name, how, when.

The DNS gate, the passive capture and pcap replay all emit :class:`Observation`; everything
downstream (attribution, decision, events) takes only this type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Channel(enum.StrEnum):
    """Where the name was seen. ``dhcp`` observations carry a hostname, not a destination."""

    DNS = "dns"
    TLS = "tls"
    QUIC = "quic"
    HTTP = "http"
    DHCP = "dhcp"


@dataclass(frozen=True, slots=True)
class Observation:
    """ts: seconds since the epoch (UTC); mac: canonical or None when unknown; ip: text form;
    domain: normalised name (for DHCP, the client's hostname)."""

    ts: float
    mac: str | None
    ip: str | None
    channel: Channel
    domain: str
