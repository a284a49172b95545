"""What the demo's phones and laptops do, run inside one device namespace each.

    python -m monitor.chamber_sim.traffic_demo --role member [--opens-instagram] [--tries-doh]

A member's device browses the agenda and the webcast, makes the OS connectivity checks, and
(like every phone with apps installed) chats in the background with social CDNs. Optional
behaviours make a member "open Instagram" (a burst of lookups, then connections to addresses
the phone had cached, over TCP and QUIC) or try a DNS-over-HTTPS bypass (a lookup of
dns.google, then a connection to a public DoH resolver's address on 443). Guests do the same
things freely. Each action is printed as one JSON line (the demo keeps these in its logs).

The fake internet this talks to (names, addresses) is defined here, beside the traffic, so the
zone the demo's resolver serves and the phones' "cached" addresses never disagree.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.chamber_sim import probe

GATE = "198.51.100.1"

AGENDA = "democracy.example.gov.uk"
AGENDA_ASSETS = "assets.democracy.example.gov.uk"  # a CNAME into a CDN, like the real thing
AGENDA_CDN = "d1234.cdn.example.net"
WEBCAST = "example.public-i.tv"
WEBCAST_ASSETS = "cl-assets.public-i.tv"
CAPTIVE = "captive.apple.com"
ANDROID_CHECK = "connectivitycheck.gstatic.com"
NEWS = "www.bbc.co.uk"  # an unlisted site: refused for members in session, counted, not stored
DOH_NAME = "dns.google"
# A DoH resolver's address, from the documentation range (test networks never use public
# addresses); the demo's config lists it in [dns] doh_addresses, as IT would for a resolver
# the shipped bypass list does not know.
DOH_ADDRESS = "203.0.113.64"

# name → "v4[,v6]" served by the fake resolver (a name covers its subdomains).
ZONE: dict[str, str] = {
    AGENDA: "203.0.113.10,2001:db8:e::10",
    AGENDA_CDN: "203.0.113.11",
    WEBCAST: "203.0.113.12",
    "public-i.tv": "203.0.113.13",
    CAPTIVE: "203.0.113.14",
    ANDROID_CHECK: "203.0.113.15",
    "facebook.com": "203.0.113.20,2001:db8:e::20",
    "instagram.com": "203.0.113.21,2001:db8:e::21",
    "cdninstagram.com": "203.0.113.22",
    "fbcdn.net": "203.0.113.23",
    "twimg.com": "203.0.113.24",
    "x.com": "203.0.113.25",
    "tiktok.com": "203.0.113.26",
    "tiktokcdn.com": "203.0.113.27",
    "whatsapp.net": "203.0.113.28",
    DOH_NAME: "203.0.113.30",
    NEWS: "203.0.113.40",
}
CNAMES: dict[str, str] = {AGENDA_ASSETS: AGENDA_CDN}

# What a phone with the usual apps looks up in the background, unprompted.
BACKGROUND = (
    "graph.instagram.com", "scontent.cdninstagram.com", "www.facebook.com",
    "static.xx.fbcdn.net", "pbs.twimg.com", "api.x.com", "www.tiktok.com",
    "p16-sign.tiktokcdn.com", "g.whatsapp.net",
)
# Opening Instagram: the app's own burst of names.
INSTAGRAM_BURST = (
    "i.instagram.com", "www.instagram.com", "graph.instagram.com",
    "scontent-lhr8-1.cdninstagram.com", "scontent-lhr8-2.cdninstagram.com",
    "static.cdninstagram.com",
)


def address_of(name: str) -> str:
    """The first IPv4 address the fake zone gives ``name`` (what a phone has cached)."""
    name = CNAMES.get(name, name)
    labels = name.split(".")
    for i in range(len(labels)):
        hit = ZONE.get(".".join(labels[i:]))
        if hit:
            return hit.split(",")[0]
    raise KeyError(name)


def service_addresses() -> list[str]:
    """Every address the fake internet must answer on."""
    out: list[str] = []
    for addrs in ZONE.values():
        out += [a for a in addrs.split(",") if a not in out]
    return out


@dataclass
class Task:
    name: str
    action: Callable[[], list[dict[str, Any]]]
    first: float  # seconds after start
    every: float  # 0: once
    jitter: float = 0.0
    due: float = 0.0


class Device:
    def __init__(self, role: str, rng: random.Random, timeout: float = 2.0) -> None:
        self.role = role
        self.rng = rng
        self.timeout = timeout

    # -- primitives, each returns one JSON-able record -------------------------------------
    def lookup(self, name: str, qtype: str = "A") -> dict[str, Any]:
        out = probe.resolve(name, GATE, 53, qtype, self.timeout)
        return {"do": "resolve", "name": name, "type": qtype, "rcode": out.get("rcode"),
                "addresses": out.get("addresses", [])}

    def get(self, ip: str, host: str, port: int = 80) -> dict[str, Any]:
        out = probe.fetch(ip, port, host, self.timeout)
        return {"do": "fetch", "ip": ip, "host": host, "port": port, "ok": out.get("ok"),
                "error": out.get("error")}

    def quic(self, ip: str) -> dict[str, Any]:
        out = probe.udp(ip, 443, 1.0)
        return {"do": "quic", "ip": ip, "ok": out.get("ok")}

    def visit(self, name: str, port: int = 80) -> list[dict[str, Any]]:
        """Look a name up and, if it resolves, fetch it; otherwise stop (a browser's error)."""
        r = self.lookup(name)
        out = [r]
        if r["addresses"]:
            out.append(self.get(r["addresses"][0], name, port))
        return out

    # -- behaviours -------------------------------------------------------------------------
    def agenda(self) -> list[dict[str, Any]]:
        return self.visit(AGENDA) + self.visit(AGENDA_ASSETS, 443)

    def webcast(self) -> list[dict[str, Any]]:
        return self.visit(WEBCAST) + self.visit(WEBCAST_ASSETS, 443)

    def connectivity(self) -> list[dict[str, Any]]:
        return self.visit(self.rng.choice((CAPTIVE, ANDROID_CHECK)))

    def chatter(self) -> list[dict[str, Any]]:
        name = self.rng.choice(BACKGROUND)
        out = [self.lookup(name)]
        if out[0]["addresses"]:  # guests (and members between meetings) connect
            out.append(self.get(out[0]["addresses"][0], name, 443))
        return out

    def news(self) -> list[dict[str, Any]]:
        return self.visit(NEWS, 443)

    def open_instagram(self) -> list[dict[str, Any]]:
        out = [self.lookup(n) for n in INSTAGRAM_BURST]
        cached = address_of("i.instagram.com")
        if not any(r["addresses"] for r in out):
            # Refused by name: the app falls back to the addresses it had cached.
            out.append(self.get(cached, "i.instagram.com", 443))
            out.append(self.quic(cached))
        else:
            out.append(self.get(out[0]["addresses"][0], "i.instagram.com", 443))
        return out

    def try_doh(self) -> list[dict[str, Any]]:
        out = [self.lookup(DOH_NAME), self.get(DOH_ADDRESS, DOH_NAME, 443)]
        return out


def schedule(dev: Device, *, opens_instagram: bool, tries_doh: bool, pace: float) -> list[Task]:
    """First runs come early (the demo should show something within seconds), then the
    rhythm of a meeting: papers every minute or so, chatter every few seconds."""
    r = dev.rng.uniform
    tasks = [
        Task("agenda", dev.agenda, r(0.2, 2), 45 * pace, 20 * pace),
        Task("webcast", dev.webcast, r(1, 4), 60 * pace, 30 * pace),
        Task("connectivity", dev.connectivity, r(0, 1), 30 * pace, 10 * pace),
        Task("chatter", dev.chatter, r(1, 3), 8 * pace, 6 * pace),
        Task("news", dev.news, r(10, 30) * pace, 120 * pace, 60 * pace),
    ]
    if opens_instagram:
        # Guests open it straight away (so the gate learns Instagram's addresses, as it would
        # in a real room); the member a few seconds later.
        first = r(0.5, 1.5) if dev.role == "guest" else r(4, 6)
        tasks.append(Task("open-instagram", dev.open_instagram, first, 90 * pace, 30 * pace))
    if tries_doh:
        tasks.append(Task("try-doh", dev.try_doh, r(2, 4), 120 * pace, 30 * pace))
    for t in tasks:
        t.due = t.first
    return tasks


def run(tasks: list[Task], rng: random.Random, duration: float | None = None) -> None:
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        if duration is not None and now >= duration:
            return
        task = min(tasks, key=lambda t: t.due)
        if task.due > now:
            time.sleep(min(task.due - now, 1.0))
            continue
        try:
            records = task.action()
        except OSError as exc:  # the network is going away (demo stopping) or a hiccup
            records = [{"do": task.name, "error": type(exc).__name__}]
        print(json.dumps({"t": round(now, 2), "task": task.name, "steps": records}), flush=True)
        if task.every <= 0:
            tasks.remove(task)
            if not tasks:
                return
        else:
            task.due = now + task.every + rng.uniform(-task.jitter, task.jitter) / 2


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=("member", "guest"), default="member")
    ap.add_argument("--opens-instagram", action="store_true")
    ap.add_argument("--tries-doh", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pace", type=float, default=1.0, help="multiply every interval by this")
    ap.add_argument("--duration", type=float, help="stop after this many seconds")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rng = random.Random(a.seed)
    dev = Device(a.role, rng)
    try:
        run(schedule(dev, opens_instagram=a.opens_instagram, tries_doh=a.tries_doh,
                     pace=a.pace), rng, a.duration)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
