#!/usr/bin/env python3
"""Make the demo's bundled capture: ``monitor/chamber_sim/data/demo.pcap``.

A minute of a chamber's Wi-Fi as the passive monitor would see it: four members' devices and
two guests joining (DHCP, with hostnames), members reading the agenda and watching the
webcast, phones' background lookups of social CDNs, a member opening Instagram (a burst of
lookups, then a TLS connection), a DNS-over-HTTPS bypass attempt (dns.google by name, then TLS
to 8.8.8.8:443), Firefox's canary lookup, and a plain-HTTP visit to an unlisted site. Guests
do what they like. ``chamberguard demo`` replays it where namespaces are unavailable.

Deterministic: the same bytes every run (fixed times, ids, ports and TLS randoms), so the
committed file can be checked against this script (tests/deploy does). Run from the repo:

    .venv/bin/python deploy/demo/make_demo_pcap.py [-o monitor/chamber_sim/data/demo.pcap]
"""

from __future__ import annotations

import argparse
import hashlib
import struct
from pathlib import Path

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

OUT = Path(__file__).resolve().parents[2] / "monitor" / "chamber_sim" / "data" / "demo.pcap"
T0 = 1_768_503_600.0  # 2026-01-15 19:00:00 UTC, a Thursday evening meeting
GATE_MAC, GATE_IP = "02:00:5e:00:00:01", "198.51.100.1"

# (MAC, IP, DHCP hostname); the MACs match the demo's registered devices (demo.MEMBERS).
MEMBERS = [("02:00:5e:10:00:01", "198.51.100.11", "Adas-iPad"),
           ("02:00:5e:10:00:02", "198.51.100.12", "Marys-iPhone"),
           ("02:00:5e:10:00:03", "198.51.100.13", "SURFACE-IB"),
           ("02:00:5e:10:00:04", "198.51.100.14", "Pixel-7")]
GUESTS = [("02:00:5e:20:00:01", "198.51.100.15", "press-laptop"),
          ("02:00:5e:20:00:02", "198.51.100.16", "visitor-phone")]

# Addresses as the demo's fake internet has them (monitor/chamber_sim/traffic_demo.ZONE).
ADDR = {"democracy.example.gov.uk": "203.0.113.10", "example.public-i.tv": "203.0.113.12",
        "captive.apple.com": "203.0.113.14", "instagram.com": "203.0.113.21",
        "cdninstagram.com": "203.0.113.22", "facebook.com": "203.0.113.20",
        "fbcdn.net": "203.0.113.23", "twimg.com": "203.0.113.24", "tiktok.com": "203.0.113.26",
        "dns.google": "8.8.8.8", "www.bbc.co.uk": "203.0.113.40"}

Frame = tuple[float, Packet]


def addr(name: str) -> str:
    labels = name.split(".")
    for i in range(len(labels)):
        if ".".join(labels[i:]) in ADDR:
            return ADDR[".".join(labels[i:])]
    return "203.0.113.99"


class Device:
    def __init__(self, mac: str, ip: str, host: str, restricted: bool, n: int) -> None:
        self.mac, self.ip, self.host, self.restricted = mac, ip, host, restricted
        self.port = 40000 + 1000 * n
        self.qid = 0x1000 * (n + 1)

    def _next(self) -> tuple[int, int]:
        self.port += 1
        self.qid += 1
        return self.port, self.qid

    def dhcp(self, t: float) -> list[Frame]:
        raw_mac = bytes.fromhex(self.mac.replace(":", ""))
        p = (Ether(src=self.mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
             / UDP(sport=68, dport=67) / BOOTP(chaddr=raw_mac, xid=self.qid)
             / DHCP(options=[("message-type", "request"), ("requested_addr", self.ip),
                             ("hostname", self.host.encode()), "end"]))
        return [(t, p)]

    def lookup(self, t: float, name: str, refused: bool | None = None) -> list[Frame]:
        """A query to the gate and its answer (NXDOMAIN when the gate refused the name)."""
        sport, qid = self._next()
        refused = self.restricted if refused is None else refused
        q = (Ether(src=self.mac, dst=GATE_MAC) / IP(src=self.ip, dst=GATE_IP, id=qid)
             / UDP(sport=sport, dport=53) / DNS(id=qid, rd=1, qd=DNSQR(qname=name)))
        if refused:
            ans = DNS(id=qid, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=name))
        else:
            ans = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name),
                      an=DNSRR(rrname=name, ttl=30, rdata=addr(name)))
        r = (Ether(src=GATE_MAC, dst=self.mac) / IP(src=GATE_IP, dst=self.ip, id=qid + 1)
             / UDP(sport=53, dport=sport) / ans)
        return [(t, q), (t + 0.004, r)]

    def tls(self, t: float, name: str, ip: str | None = None) -> list[Frame]:
        """A TCP handshake to port 443 and the ClientHello naming ``name`` (SNI)."""
        sport, _ = self._next()
        dst = ip or addr(name)
        seq = int.from_bytes(hashlib.sha256(f"{self.mac}{sport}".encode()).digest()[:4], "big")
        base = Ether(src=self.mac, dst=GATE_MAC) / IP(src=self.ip, dst=dst)
        syn = base / TCP(sport=sport, dport=443, flags="S", seq=seq, window=64240)
        hello = base / TCP(sport=sport, dport=443, flags="PA", seq=seq + 1, ack=1,
                           window=64240) / Raw(client_hello(name))
        return [(t, syn), (t + 0.02, hello)]

    def http(self, t: float, name: str) -> list[Frame]:
        sport, _ = self._next()
        req = f"GET / HTTP/1.1\r\nHost: {name}\r\nUser-Agent: demo\r\n\r\n".encode()
        p = (Ether(src=self.mac, dst=GATE_MAC) / IP(src=self.ip, dst=addr(name))
             / TCP(sport=sport, dport=80, flags="PA", seq=1000, ack=1) / Raw(req))
        return [(t, p)]


def client_hello(sni: str) -> bytes:
    name = sni.encode()
    ext_sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    ext_versions = struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    ext_groups = struct.pack("!HHH", 10, 4, 2) + b"\x00\x1d"
    exts = ext_sni + ext_versions + ext_groups
    random32 = hashlib.sha256(name).digest()  # fixed, so the file is reproducible
    body = (b"\x03\x03" + random32 + b"\x00" + struct.pack("!H", 4) + b"\x13\x01\x13\x02"
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def frames() -> list[Frame]:
    m = [Device(mac, ip, host, True, i) for i, (mac, ip, host) in enumerate(MEMBERS)]
    g = [Device(mac, ip, host, False, 10 + i) for i, (mac, ip, host) in enumerate(GUESTS)]
    out: list[Frame] = []
    for i, d in enumerate(m + g):
        out += d.dhcp(0.2 * i)
    ada, mary, brunel, franklin = m
    out += ada.lookup(1.0, "democracy.example.gov.uk", refused=False)
    out += ada.tls(1.1, "democracy.example.gov.uk")
    out += ada.lookup(5.0, "graph.instagram.com")
    # Ada opens Instagram: the app's burst, then a connection to an address it had cached.
    for k, name in enumerate(("i.instagram.com", "www.instagram.com",
                              "scontent-lhr8-1.cdninstagram.com", "static.cdninstagram.com")):
        out += ada.lookup(12.0 + 0.05 * k, name)
    out += ada.tls(12.6, "i.instagram.com")
    out += ada.lookup(41.0, "graph.facebook.com")
    out += mary.lookup(2.0, "example.public-i.tv", refused=False)
    out += mary.tls(2.1, "example.public-i.tv")
    # Mary's phone tries DNS over HTTPS: the resolver's name, then its well-known address.
    out += mary.lookup(8.0, "dns.google")
    out += mary.tls(8.5, "dns.google", ip="8.8.8.8")
    out += mary.lookup(20.0, "use-application-dns.net")  # Firefox's DoH canary
    out += mary.lookup(30.0, "pbs.twimg.com")
    out += brunel.lookup(3.0, "democracy.example.gov.uk", refused=False)
    out += brunel.lookup(15.0, "www.tiktok.com")
    out += brunel.http(25.0, "www.bbc.co.uk")  # unlisted: refused, counted, never stored
    out += brunel.tls(45.0, "www.tiktok.com")
    out += franklin.lookup(4.0, "captive.apple.com", refused=False)
    out += franklin.lookup(18.0, "www.facebook.com")
    out += franklin.lookup(35.0, "scontent.cdninstagram.com")
    out += franklin.lookup(50.0, "static.xx.fbcdn.net")
    # Guests are never restricted and never recorded.
    out += g[0].lookup(6.0, "www.instagram.com")
    out += g[0].tls(6.1, "www.instagram.com")
    out += g[1].lookup(10.0, "www.facebook.com")
    out += g[1].lookup(22.0, "pbs.twimg.com")
    out.sort(key=lambda f: f[0])
    return out


def write(path: Path) -> int:
    pkts = []
    for t, p in frames():
        p.time = T0 + t
        pkts.append(p)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrpcap(str(path), pkts)
    return len(pkts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    a = ap.parse_args()
    n = write(a.output)
    print(f"wrote {n} frames to {a.output} ({a.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
