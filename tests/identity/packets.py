"""Accounting-Requests built with pyrad, as a controller would send them."""

from __future__ import annotations

from pyrad import packet as rp

from monitor.identity.radius import dictionary

SECRET = b"chamber-accounting-secret"
AP = ("198.51.100.2", 40000)


def acct(status: str = "Start", *, user: str | None = "ada@council.example",
         mac: str | None = "02-00-5E-10-00-09", ip: str | None = "198.51.100.9",
         secret: bytes = SECRET, ident: int = 7, session: str = "S1", **extra: object) -> bytes:
    p = rp.AcctPacket(secret=secret, dict=dictionary(), id=ident)
    p["Acct-Status-Type"] = status
    p["Acct-Session-Id"] = session
    if user is not None:
        p["User-Name"] = user
    if mac is not None:
        p["Calling-Station-Id"] = mac
    if ip is not None:
        p["Framed-IP-Address"] = ip
    for k, v in extra.items():
        p[k.replace("_", "-")] = v
    return bytes(p.RequestPacket())
