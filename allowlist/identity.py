"""How a device is tied to a member: the identity source, said honestly.

A MAC address alone is the weakest tie (a phone may rotate it, anyone may copy it); a per-member
Wi-Fi key or an 802.1X login is the network's own word for who connected. The report and IT's
device list name the source so that a reader can weigh the attribution.
"""

from __future__ import annotations

from enum import StrEnum


class IdentitySource(StrEnum):
    WIFI_KEY = "wifi-key"  # the member's own Wi-Fi passphrase (hostapd keyid=, iPSK/MPSK/PPSK)
    RADIUS_USER = "radius-user"  # 802.1X login, from RADIUS accounting (RFC 2866)
    REGISTRATION_CODE = "registration-code"  # the member registered it with a one-time code
    MAC_ONLY = "mac-only"  # IT typed or claimed the address; nothing else ties it to the member

    @property
    def text(self) -> str:
        """Neutral words for pages and reports."""
        return _TEXT[self]

    @property
    def strong(self) -> bool:
        """The network itself authenticated the member (survives a MAC change)."""
        return self in (IdentitySource.WIFI_KEY, IdentitySource.RADIUS_USER)


_TEXT = {
    IdentitySource.WIFI_KEY: "Wi-Fi key",
    IdentitySource.RADIUS_USER: "RADIUS user",
    IdentitySource.REGISTRATION_CODE: "registration code",
    IdentitySource.MAC_ONLY: "MAC address only",
}
