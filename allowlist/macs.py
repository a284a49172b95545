"""MAC address parsing: every notation people and tools use, one canonical form."""

from __future__ import annotations

import re

_HEX = re.compile(r"^[0-9a-f]{12}$")


class MacError(ValueError):
    """Not a usable MAC address; the message says why."""


def normalise_mac(raw: str) -> str:
    """Return ``aa:bb:cc:dd:ee:ff`` for ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, ``aabbccddeeff``…"""
    if not isinstance(raw, str):
        raise MacError("MAC address must be text")
    s = raw.strip().lower()
    bare = re.sub(r"[:\-.\s]", "", s)
    if not _HEX.match(bare):
        raise MacError(f"{raw!r} is not a MAC address (expected 12 hex digits, e.g. aa:bb:cc:dd:ee:ff)")
    if bare == "000000000000":
        raise MacError(f"{raw!r} is the all-zero address")
    if int(bare[0:2], 16) & 1:
        raise MacError(f"{raw!r} is a multicast/broadcast address, not a device")
    return ":".join(bare[i : i + 2] for i in range(0, 12, 2))


def is_randomised(mac: str) -> bool:
    """Locally administered bit set: a phone's per-network "private" address."""
    return bool(int(mac[0:2], 16) & 0x02)
