"""A minimal rtnetlink neighbour dump (RTM_GETNEIGH): address → MAC for IPv4 and IPv6.

One dump costs microseconds, against ~5 ms for running ``ip -6 neigh``, so the gate can
refresh on every unknown client without stalling DNS.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NDA_DST = 1
NDA_LLADDR = 2
NUD_INCOMPLETE = 0x01
NUD_FAILED = 0x20

_NLMSG = struct.Struct("=IHHII")
_NDMSG = struct.Struct("=BxxxiHBB")
_RTA = struct.Struct("=HH")


def _parse_attrs(buf: bytes, off: int, end: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while off + 4 <= end:
        length, kind = _RTA.unpack_from(buf, off)
        if length < 4:
            break
        attrs[kind] = buf[off + 4 : off + length]
        off += (length + 3) & ~3
    return attrs


def dump_neighbours() -> dict[str, str]:
    """{address text: 'aa:bb:cc:dd:ee:ff'} for every complete neighbour entry."""
    out: dict[str, str] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as s:
        s.settimeout(1.0)
        seq = os.getpid() & 0xFFFF
        req = _NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        s.send(
            _NLMSG.pack(_NLMSG.size + len(req), RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
            + req
        )
        while True:
            data = s.recv(65536)
            off = 0
            while off + _NLMSG.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
                if length < _NLMSG.size:
                    return out
                if kind == NLMSG_DONE or kind == NLMSG_ERROR:
                    return out
                if kind == RTM_NEWNEIGH:
                    body = off + _NLMSG.size
                    family, _ifi, state, _fl, _ty = _NDMSG.unpack_from(data, body)
                    attrs = _parse_attrs(data, body + _NDMSG.size, off + length)
                    dst, ll = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
                    if dst and ll and len(ll) == 6 and not state & (NUD_INCOMPLETE | NUD_FAILED):
                        ip = (
                            str(ipaddress.ip_address(dst))
                            if family in (socket.AF_INET, socket.AF_INET6)
                            else None
                        )
                        if ip:
                            out[ip] = ":".join(f"{b:02x}" for b in ll)
                off += (length + 3) & ~3
