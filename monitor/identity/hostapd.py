"""A small client of hostapd's control interface: which station used which key id.

hostapd (``wpa_psk_file`` with ``keyid=``) knows which member's passphrase each station
used; its control socket (a Unix datagram socket, ``ctrl_interface``) answers ``STA-FIRST`` /
``STA-NEXT <mac>`` with one station's MAC on the first line and ``name=value`` lines after,
among them ``keyid=`` — and sends ``AP-STA-CONNECTED <mac> keyid=<id>`` events to attached
monitors. Parsing is pure; :class:`HostapdCtrl` is the thin socket edge.
"""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from allowlist.macs import MacError, normalise_mac

MAX_STATIONS = 4096  # a chamber AP has dozens; the bound only stops a runaway STA-NEXT loop
REPLY_BYTES = 8192
_counter = itertools.count()


class HostapdError(OSError):
    """The control socket is missing, refused the request or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Station:
    mac: str
    keyid: str | None


def parse_sta(text: str) -> Station | None:
    """One ``STA``/``STA-FIRST``/``STA-NEXT`` answer; None for the empty answer (no more
    stations) or one that does not start with a MAC address."""
    lines = text.splitlines()
    if not lines:
        return None
    try:
        mac = normalise_mac(lines[0].strip())
    except MacError:
        return None
    keyid = None
    for line in lines[1:]:
        name, sep, value = line.partition("=")
        if sep and name.strip() == "keyid":
            keyid = value.strip()[:32] or None
    return Station(mac, keyid)


def parse_event(line: str) -> Station | None:
    """``<3>AP-STA-CONNECTED 02:00:5e:10:00:01 keyid=m7`` → Station; other events → None."""
    text = line.split(">", 1)[1] if line.startswith("<") and ">" in line else line
    parts = text.split()
    if len(parts) < 2 or parts[0] != "AP-STA-CONNECTED":
        return None
    try:
        mac = normalise_mac(parts[1])
    except MacError:
        return None
    keyid = next((p[6:][:32] or None for p in parts[2:] if p.startswith("keyid=")), None)
    return Station(mac, keyid)


class HostapdCtrl:
    """Request/response over hostapd's control socket (a fresh local socket per client, as
    hostapd_cli does: hostapd answers to the sender's bound address)."""

    def __init__(self, path: str | Path, *, timeout: float = 1.0) -> None:
        self.path = str(path)
        self.timeout = timeout

    def request(self, command: str) -> str:
        local = Path(tempfile.gettempdir()) / f"cg-hostapd-{os.getpid()}-{next(_counter)}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.settimeout(self.timeout)
            sock.bind(str(local))
            sock.connect(self.path)
            sock.send(command.encode())
            data = sock.recv(REPLY_BYTES)
        except (TimeoutError, OSError) as exc:
            raise HostapdError(f"hostapd control socket {self.path}: {exc}") from exc
        finally:
            sock.close()
            local.unlink(missing_ok=True)
        return data.decode("utf-8", errors="replace")

    def ping(self) -> bool:
        return self.request("PING").strip() == "PONG"

    def stations(self) -> list[Station]:
        """Every associated station, walking STA-FIRST / STA-NEXT."""
        out: list[Station] = []
        got = parse_sta(self.request("STA-FIRST"))
        while got is not None and len(out) < MAX_STATIONS:
            out.append(got)
            got = parse_sta(self.request(f"STA-NEXT {got.mac}"))
        return out
