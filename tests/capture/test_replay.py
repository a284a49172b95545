"""pcap/pcapng replay through the same pipeline (files written with scapy at test time)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import CookedLinuxV2
from scapy.utils import RawPcapNgWriter, RawPcapWriter

from allowlist.observation import Channel
from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from monitor.capture.replay import ReplayError, frames, replay, replay_jsonl
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


# ---------------------------------------------------------------- the pcap reader


def _write_raw_pcap(
    path: Path, records: list[tuple[int, int, bytes]], order: str, nano: bool
) -> None:
    import struct

    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    path.write_bytes(out)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_reader_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    path = tmp_path / "x.pcap"
    frac = 250_000_000 if nano else 250_000
    _write_raw_pcap(path, [(7, frac, b"abc"), (8, 0, b""), (9, 1, b"d" * 3000)], order, nano)
    got = list(frames(path))
    assert [(lt, d) for _, lt, d in got] == [(1, b"abc"), (1, b""), (1, b"d" * 3000)]
    assert got[0][0] == 7.25 and got[1][0] == 8.0


def test_reader_matches_scapy_on_a_large_file(tmp_path: Path) -> None:
    """Records straddling the reader's 1 MiB chunks come out whole and in order."""
    from scapy.utils import RawPcapReader

    path = tmp_path / "big.pcap"
    session = _session() * 400  # ~5k frames, ~2 MB
    craft.write_pcap(str(path), [(1.0 + i * 1e-3, f) for i, (_, f) in enumerate(session)])
    ours = [(d, ts) for ts, _, d in frames(path)]
    theirs = [(d, m.sec + m.usec / 1e6) for d, m in RawPcapReader(str(path))]
    assert ours == theirs and len(ours) == len(session)


def test_reader_gzip_and_truncated_tail(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "s.pcap"
    craft.write_pcap(str(path), _session())
    data = path.read_bytes()
    gz = tmp_path / "s.pcap.gz"
    gz.write_bytes(gzip.compress(data))
    assert [d for _, _, d in frames(gz)] == [d for _, _, d in frames(path)]
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-10])  # a capture still being written
    assert len(list(frames(cut))) == len(_session()) - 1


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a pcap file at all\n")
    with pytest.raises(ReplayError):
        list(frames(path))


# ----------------------------------------------------------------- JSON Lines output


def test_replay_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "session.pcap"
    craft.write_pcap(str(path), _session())
    asked: list[str] = []

    def decide(domain: str) -> tuple[str | None, str | None]:
        asked.append(domain)
        if domain.endswith("instagram.com"):
            return "social", "Instagram"
        if domain == "neverssl.com":
            return "other", None
        return None, None

    out = io.StringIO()
    n = replay_jsonl(
        path, out, decide=decide, config=PipelineConfig(chamber_networks=craft.CHAMBER)
    )
    lines = out.getvalue().splitlines()
    assert n == len(lines) == len(EXPECTED)
    recs = [json.loads(line) for line in lines]
    assert all(
        list(r) == ["ts", "mac", "ip", "channel", "domain", "category", "platform"] for r in recs
    )
    assert [(r["channel"], r["domain"]) for r in recs] == [(str(c), d) for c, d in EXPECTED]
    insta = recs[1]
    assert insta == {
        "ts": 1_700_000_000.25,
        "mac": craft.CLIENT_MAC,
        "ip": craft.CLIENT_IP,
        "channel": "dns",
        "domain": "www.instagram.com",
        "category": "social",
        "platform": "Instagram",
    }
    assert (recs[3]["category"], recs[3]["platform"]) == ("other", None)
    assert (recs[2]["category"], recs[2]["platform"]) == (None, None)
    assert sorted(asked) == sorted(set(asked))  # one decision per domain


def test_replay_jsonl_without_decide_writes_nulls(tmp_path: Path) -> None:
    path = tmp_path / "session.pcap"
    craft.write_pcap(str(path), _session())
    out = io.StringIO()
    assert replay_jsonl(path, out, decide=None) == len(EXPECTED)
    for line in out.getvalue().splitlines():
        rec = json.loads(line)
        assert rec["category"] is None and rec["platform"] is None
        assert isinstance(rec["ts"], float)
