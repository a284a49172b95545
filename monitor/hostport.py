"""``host:port`` strings from settings (``203.0.113.53:53``, ``[2001:db8::53]:53``, ``host``)."""

from __future__ import annotations


def parse_hostport(s: str, default_port: int = 53) -> tuple[str, int]:
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
        return host, int(port or default_port)
    host, sep, port = s.rpartition(":")
    if not sep or ":" in host:
        return s, default_port
    return host, int(port)
