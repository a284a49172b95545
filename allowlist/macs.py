"""MAC address parsing: every notation people and tools use, one canonical form."""

from __future__ import annotations

import re

# Six groups with one consistent separator (':' or '-'; macOS drops leading zeros: 0:1c:…),
# Cisco's three dotted groups, or twelve bare hex digits. Anything else is a typo, not a MAC.
_NOTATIONS = (
    re.compile(r"^([0-9a-f]{1,2})(:)([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2"
               r"([0-9a-f]{1,2})\2([0-9a-f]{1,2})$"),
    re.compile(r"^([0-9a-f]{2})(-)([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2"
               r"([0-9a-f]{2})\2([0-9a-f]{2})$"),
)
_CISCO = re.compile(r"^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$")
_BARE = re.compile(r"^[0-9a-f]{12}$")


class MacError(ValueError):
    """Not a usable MAC address; the message says why."""


def _bare(s: str) -> str | None:
    for rx in _NOTATIONS:
        m = rx.match(s)
        if m:
            groups = [g for i, g in enumerate(m.groups()) if i != 1]
            return "".join(g.zfill(2) for g in groups)
    m = _CISCO.match(s)
    if m:
        return "".join(m.groups())
    return s if _BARE.match(s) else None


def normalise_mac(raw: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` for ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, ``aabbccddeeff``…"""
    if not isinstance(raw, str):
        raise MacError("MAC address must be text")
    bare = _bare(raw.strip().lower())
    if bare is None:
        raise MacError(
            f"{raw!r} is not a MAC address (expected e.g. aa:bb:cc:dd:ee:ff, "
            "aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff)"
        )
    if bare == "000000000000":
        raise MacError(f"{raw!r} is the all-zero address")
    if int(bare[0:2], 16) & 1:
        raise MacError(f"{raw!r} is a multicast/broadcast address, not a device")
    return ":".join(bare[i : i + 2] for i in range(0, 12, 2))


def is_randomised(mac: str) -> bool:
    """Locally administered bit set: a phone's per-network "private" address."""
    return bool(int(mac[0:2], 16) & 0x02)
