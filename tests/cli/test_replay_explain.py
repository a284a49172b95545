"""`chamberguard replay PCAP --jsonl` and `chamberguard explain` (DESIGN §7 interfaces)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from monitor.chamber_sim.probe import client_hello

CLI = str(Path(sys.executable).parent / "chamberguard")
MAC = "02:00:5e:10:00:01"


def run(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "--config", str(cfg), *args], capture_output=True, text=True, timeout=60, check=False
    )


def config(tmp: Path) -> Path:
    cfg = tmp / "cg.toml"
    cfg.write_text(
        f'[site]\ndata_dir = "{tmp / "data"}"\n[policy]\n'
        'democracy_host = "democracy.example.gov.uk"\nwebcast_host = "example.public-i.tv"\n'
    )
    return cfg


def test_replay_jsonl(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    eth = Ether(src=MAC, dst="02:00:5e:00:00:01")
    pkts = [
        eth
        / IP(src="198.51.100.11", dst="198.51.100.1")
        / UDP(sport=40000, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="scontent.cdninstagram.com")),
        eth
        / IP(src="198.51.100.11", dst="203.0.113.10")
        / TCP(sport=40001, dport=443, flags="S", seq=1),
        eth
        / IP(src="198.51.100.11", dst="203.0.113.10")
        / TCP(sport=40001, dport=443, flags="PA", seq=2)
        / client_hello("democracy.example.gov.uk"),
    ]
    for i, p in enumerate(pkts):
        p.time = 1764190000 + i
    pcap = tmp_path / "c.pcap"
    wrpcap(str(pcap), pkts)
    assert run(cfg, "db", "upgrade").returncode == 0
    out = run(cfg, "replay", str(pcap), "--jsonl")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {tuple(sorted(r)) for r in rows} == {
        ("category", "channel", "domain", "ip", "mac", "platform", "ts")
    }
    by_domain = {r["domain"]: r for r in rows}
    insta = by_domain["scontent.cdninstagram.com"]
    assert (insta["channel"], insta["platform"], insta["category"], insta["mac"]) == (
        "dns",
        "instagram",
        "platform",
        MAC,
    )
    agenda = by_domain["democracy.example.gov.uk"]
    assert (agenda["channel"], agenda["category"], agenda["platform"]) == ("tls", "agenda", None)
    bad = tmp_path / "not.pcap"
    bad.write_bytes(b"this is not a capture")
    res = run(cfg, "replay", str(bad), "--jsonl")
    assert res.returncode == 2 and "cannot replay" in res.stderr


def test_explain_in_and_out_of_a_meeting(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert run(cfg, "member", "add", "Cllr A").returncode == 0
    assert run(cfg, "device", "add", MAC, "--member", "Cllr A").returncode == 0
    start = datetime(2026, 3, 29, 18, 0, tzinfo=UTC)  # the evening the clocks went forward
    assert (
        run(
            cfg,
            "meetings",
            "add",
            "--title",
            "Planning Committee",
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(hours=2)).isoformat(),
        ).returncode
        == 0
    )

    def explain(domain: str, *extra: str) -> dict[str, object]:
        res = run(cfg, "explain", domain, *extra)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)  # type: ignore[no-any-return]

    during = (start + timedelta(minutes=30)).isoformat()
    after = (start + timedelta(hours=5)).isoformat()
    d = explain("www.instagram.com", "--device", MAC, "--at", during)
    assert (d["action"], d["kind"], d["platform_name"], d["restricted"]) == (
        "refuse",
        "platform",
        "Instagram",
        True,
    )
    assert "Planning Committee is in session" in str(d["reason"])
    assert explain("www.instagram.com", "--device", MAC, "--at", after)["action"] == "allow"
    assert explain("www.instagram.com", "--at", during)["kind"] == "unrestricted"  # a guest
    canary = explain("use-application-dns.net", "--device", MAC, "--at", during)
    assert (canary["kind"], canary["action"]) == ("bypass", "refuse")
    flickr = explain("live.staticflickr.com", "--device", MAC, "--at", during)
    assert flickr["platform"] == "flickr"
    webcast = explain("example.public-i.tv", "--device", MAC, "--at", during)
    assert (webcast["action"], webcast["category"]) == ("allow", "webcast")
    res = run(cfg, "explain", "http://bad/", "--device", MAC)
    assert res.returncode == 2 and "URL" in res.stderr
