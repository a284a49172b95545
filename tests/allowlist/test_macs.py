"""MAC parsing: IT types and imports addresses in every notation tools print."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allowlist.macs import MacError, is_randomised, normalise_mac

CANON = "a4:83:e7:1b:2c:3d"


@pytest.mark.parametrize(
    "raw",
    [
        "a4:83:e7:1b:2c:3d",  # Linux, macOS
        "A4:83:E7:1B:2C:3D",  # upper case
        "a4-83-e7-1b-2c-3d",  # Windows ipconfig
        "A4-83-E7-1B-2C-3D",
        "a483.e71b.2c3d",  # Cisco
        "A483.E71B.2C3D",
        "a483e71b2c3d",  # bare, as in many exports
        "  a4:83:e7:1b:2c:3d\n",  # pasted from a spreadsheet cell
    ],
)
def test_all_notations(raw: str) -> None:
    assert normalise_mac(raw) == CANON


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "not a MAC address"),
        ("a4:83:e7:1b:2c", "not a MAC address"),  # too short
        ("a4:83:e7:1b:2c:3d:4e", "not a MAC address"),  # too long (EUI-64)
        ("g4:83:e7:1b:2c:3d", "not a MAC address"),  # not hex
        ("a4:83:e7:1b:2c:3z", "not a MAC address"),
        ("a4_83_e7_1b_2c_3d", "not a MAC address"),  # unknown separator
        ("192.168.1.10", "not a MAC address"),
        ("Cllr Jones's phone", "not a MAC address"),
        ("00:00:00:00:00:00", "all-zero"),
        ("ff:ff:ff:ff:ff:ff", "broadcast"),
        ("01:00:5e:00:00:fb", "multicast"),  # mDNS multicast
        ("33:33:00:00:00:01", "multicast"),  # IPv6 multicast
    ],
)
def test_garbage_rejected(raw: str, why: str) -> None:
    with pytest.raises(MacError, match=why):
        normalise_mac(raw)


def test_non_text_rejected() -> None:
    with pytest.raises(MacError):
        normalise_mac(0xA483E71B2C3D)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["a4:83:e7:1b:2c3d", "a4::83:e7:1b:2c:3d", "a4-83:e7.1b2c3d"])
def test_misplaced_separators_rejected(raw: str) -> None:
    with pytest.raises(MacError):
        normalise_mac(raw)


def test_randomised_addresses() -> None:
    assert is_randomised("02:00:00:00:00:01")  # locally administered bit
    assert is_randomised("da:a1:19:00:00:01")
    assert not is_randomised(CANON)


@given(st.binary(min_size=6, max_size=6))
def test_every_unicast_address_round_trips(raw: bytes) -> None:
    octets = bytes([raw[0] & 0xFE]) + raw[1:]  # clear the multicast bit
    if octets == bytes(6):
        return
    canon = ":".join(f"{b:02x}" for b in octets)
    for text in (canon, canon.upper().replace(":", "-"), octets.hex(), _cisco(octets)):
        assert normalise_mac(text) == canon


def _cisco(octets: bytes) -> str:
    h = octets.hex()
    return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"
