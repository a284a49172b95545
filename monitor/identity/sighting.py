"""Identity records → sightings → binding changes, pure (no database, no sockets).

A *sighting* is the network's word that a member's credential (an 802.1X login or a
per-member Wi-Fi key) is in use on a MAC address, perhaps at an IP address. Binding that MAC
to the member is what keeps a phone with a rotating private address restricted and in the
report under the member's name: the new address arrives with the same login or key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from allowlist.identity import IdentitySource


@dataclass(frozen=True, slots=True)
class Sighting:
    mac: str
    source: IdentitySource  # WIFI_KEY or RADIUS_USER
    who: str  # the RADIUS User-Name or the hostapd key id
    ip: str | None = None
    via: str = ""  # who said so: "radius:198.51.100.2", "hostapd"


def in_subnets(ip: str, subnets: Sequence[str]) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(n, strict=False) for n in subnets)


class Change(StrEnum):
    NEW = "new"  # a MAC never seen: a device is created for the member
    BIND = "bind"  # a known MAC with no member, or another member, or a weaker identity
    TOUCH = "touch"  # already bound this way: only last seen / address change


@dataclass(frozen=True, slots=True)
class Current:
    member_id: int | None
    identity: IdentitySource


def decide(current: Current | None, member_id: int, source: IdentitySource) -> Change:
    """What a sighting does to the device row. The network's own authentication wins over
    a MAC registration: a MAC may be copied, a login or key may not (without the secret)."""
    if current is None:
        return Change.NEW
    if current.member_id != member_id or current.identity is not source:
        return Change.BIND
    return Change.TOUCH
