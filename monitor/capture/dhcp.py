"""DHCPv4 (BOOTP) messages: who a device says it is, and which address it was given.

Client messages carry the hardware address (chaddr), often a hostname ("Cllr-Smiths-iPad")
that helps IT claim a device, and the address the client wants or has. The server's ACK binds
yiaddr to chaddr, which is how the pipeline attributes later packets from that address even
when the capture point sees only routed traffic.
"""

from __future__ import annotations

import socket
import struct

BOOTREQUEST = 1
BOOTREPLY = 2
MAGIC = b"\x63\x82\x53\x63"

DISCOVER = 1
OFFER = 2
REQUEST = 3
DECLINE = 4
ACK = 5
NAK = 6
RELEASE = 7
INFORM = 8

OPT_PAD = 0
OPT_HOSTNAME = 12
OPT_REQUESTED_IP = 50
OPT_OVERLOAD = 52
OPT_MSG_TYPE = 53
OPT_VENDOR_CLASS = 60
OPT_CLIENT_ID = 61
OPT_END = 255

_fixed = struct.Struct("!BBBBIHH4s4s4s4s16s")  # op … chaddr (44 bytes)
_ZERO4 = b"\x00\x00\x00\x00"


class DhcpError(ValueError):
    """Not a DHCP message (or one too broken to trust)."""


class DhcpMessage:
    """The fields chamberguard uses. Addresses are text or None when zero/absent."""

    __slots__ = (
        "op",
        "msg_type",
        "xid",
        "chaddr",
        "ciaddr",
        "yiaddr",
        "requested",
        "hostname",
        "vendor_class",
    )

    def __init__(self) -> None:
        self.op = 0
        self.msg_type: int | None = None
        self.xid = 0
        self.chaddr: str | None = None
        self.ciaddr: str | None = None
        self.yiaddr: str | None = None
        self.requested: str | None = None
        self.hostname: str | None = None
        self.vendor_class: str | None = None

    @property
    def is_client(self) -> bool:
        return self.op == BOOTREQUEST

    @property
    def client_ip(self) -> str | None:
        """The address the client has or asks for: option 50, else ciaddr."""
        return self.requested or self.ciaddr

    def __repr__(self) -> str:
        return (
            f"DhcpMessage(op={self.op} type={self.msg_type} chaddr={self.chaddr} "
            f"ciaddr={self.ciaddr} yiaddr={self.yiaddr} requested={self.requested} "
            f"hostname={self.hostname!r} vendor={self.vendor_class!r})"
        )


def _addr(raw: bytes) -> str | None:
    return None if raw == _ZERO4 else socket.inet_ntop(socket.AF_INET, raw)


def _text(raw: bytes) -> str:
    """Option text as sent: strip NUL padding some clients add; bytes map 1:1 (latin-1)."""
    return raw.rstrip(b"\x00").decode("latin-1")


def parse_dhcp(payload: bytes) -> DhcpMessage:
    """Parse a BOOTP/DHCP message (UDP payload). Raises :class:`DhcpError` if it is not one."""
    if len(payload) < 240:
        raise DhcpError("short")
    op, htype, hlen, _hops, xid, _secs, _flags, ci, yi, _si, _gi, ch = _fixed.unpack_from(
        payload, 0
    )
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise DhcpError("bad op")
    if payload[236:240] != MAGIC:
        raise DhcpError("no magic cookie")
    msg = DhcpMessage()
    msg.op = op
    msg.xid = xid
    if htype == 1 and hlen == 6:
        raw_mac = ch[:6]
        if raw_mac != b"\x00" * 6 and not raw_mac[0] & 1:
            msg.chaddr = raw_mac.hex(":")
    msg.ciaddr = _addr(ci)
    msg.yiaddr = _addr(yi)
    overload = _options(payload, 240, len(payload), msg)
    # Option overload (52): more options in the file (1) and/or sname (2) fields.
    if overload & 1:
        _options(payload, 108, 236, msg)
    if overload & 2:
        _options(payload, 44, 108, msg)
    return msg


def _options(b: bytes, pos: int, end: int, msg: DhcpMessage) -> int:
    overload = 0
    while pos < end:
        code = b[pos]
        if code == OPT_PAD:
            pos += 1
            continue
        if code == OPT_END:
            break
        if pos + 2 > end:
            raise DhcpError("truncated option")
        olen = b[pos + 1]
        body = pos + 2
        pos = body + olen
        if pos > end:
            raise DhcpError("truncated option")
        if code == OPT_MSG_TYPE and olen == 1:
            msg.msg_type = b[body]
        elif code == OPT_HOSTNAME and olen:
            msg.hostname = _text(b[body:pos])
        elif code == OPT_REQUESTED_IP and olen == 4:
            msg.requested = _addr(b[body:pos])
        elif code == OPT_VENDOR_CLASS and olen:
            msg.vendor_class = _text(b[body:pos])
        elif code == OPT_OVERLOAD and olen == 1:
            overload = b[body]
    return overload
