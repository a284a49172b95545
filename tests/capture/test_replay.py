"""pcap/pcapng replay through the same pipeline (files written with scapy at test time)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet import IP
from scapy.layers.l2 import CookedLinuxV2
from scapy.utils import RawPcapNgWriter, RawPcapWriter

from allowlist.observation import Channel
from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from monitor.capture.replay import frames, replay
from tests.capture.pcaps import craft


def _session() -> list[tuple[float, bytes]]:
    pkts = [craft.dhcp_request("Cllr-Jones-Phone"), craft.dns_query("www.instagram.com")]
    pkts += craft.tls_hello_stream("www.instagram.com")
    pkts += [craft.udp(d, 51000, 443) for d in craft.quic_initials("www.threads.net")]
    pkts += craft.http_request("neverssl.com")
    return [(1_700_000_000.0 + i * 0.25, p) for i, p in enumerate(pkts)]


EXPECTED = [
    (Channel.DHCP, "cllr-jones-phone"),
    (Channel.DNS, "www.instagram.com"),
    (Channel.QUIC, "www.threads.net"),
    (Channel.HTTP, "neverssl.com"),
]


def test_replay_pcap(tmp_path: Path) -> None:
    path = tmp_path / "session.pcap"
    craft.write_pcap(str(path), _session())
    pipe = PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    got = list(replay(path, pipeline=pipe))
    assert [(o.channel, o.domain) for o in got] == EXPECTED
    assert got[1].ts == 1_700_000_000.25 and got[1].mac == craft.CLIENT_MAC
    assert pipe.counters.merged == 1  # the TLS connection folded into the DNS lookup


def test_replay_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "session.pcapng"
    w = RawPcapNgWriter(str(path))
    w.linktype = 1
    w.write_header(None)
    for ts, data in _session():
        w.write_packet(data, sec=ts)
    w.close()
    got = list(replay(path))
    assert [(o.channel, o.domain) for o in got] == EXPECTED
    assert abs(got[1].ts - 1_700_000_000.25) < 1e-6


def test_replay_linux_cooked_capture(tmp_path: Path) -> None:
    """Captures taken with `tcpdump -i any` use Linux cooked headers (SLL2)."""
    path = tmp_path / "any.pcap"
    q = IP(bytes(craft.dns_query("bsky.app"))[14:])
    sll = CookedLinuxV2(proto=0x0800, lladdrlen=6, src=bytes.fromhex("02005e1000230000"))
    with RawPcapWriter(str(path), linktype=276, sync=False) as w:
        w.write_header(None)
        w.write_packet(bytes(sll / q), sec=5, usec=0)
    assert [lt for _, lt, _ in frames(path)] == [276]
    (o,) = replay(path)
    assert (o.domain, o.mac, o.ts) == ("bsky.app", craft.CLIENT_MAC, 5.0)
