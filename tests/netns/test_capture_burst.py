"""The passive monitor under a burst, on real kernel networking: no name and no packet lost.

One device sends 5,000 DNS queries (distinct names, to the gateway) and opens 1,000 TCP
connections (each carrying a ClientHello with a distinct SNI, to a sink in the fake
internet, routed through the gateway) as fast as plain sockets allow. In the gateway
namespace the capture tool (AF_PACKET socket on the chamber bridge + BPF filter + the
PacketPipeline, deduplication off) must report every name and zero kernel drops.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.chamber_sim.netns import CHAMBER_IF, GATE_IP, ChamberNet
from monitor.chamber_sim.traffic import burst_names

N_DNS = 5000
N_TLS = 1000
SINK_IP = "203.0.113.40"
DEVICE_MAC = "02:00:5e:30:00:01"


def _json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _wait_ready(path: Path, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and any(obj.get("ready") for obj in _json_lines(path)):
            return
        time.sleep(0.05)
    log = path.read_text(errors="replace") if path.exists() else "(no output)"
    raise AssertionError(f"{what} did not become ready:\n{log}")


@pytest.fixture
def net(netns_ok: None) -> Iterator[ChamberNet]:
    n = ChamberNet()
    try:
        n.create()
        yield n
    finally:
        n.destroy()


@pytest.mark.parametrize("mode", ["ring", "queue"])
def test_burst_every_name_seen_no_kernel_drops(net: ChamberNet, tmp_path: Path, mode: str) -> None:
    """``ring``: the default TPACKET_V3 ring; ``queue``: the socket-queue fallback."""
    dev = net.add_device("phone", DEVICE_MAC, 1)
    net.add_inet_address(SINK_IP)
    py = sys.executable
    sink_log, udp_log, cap_log = tmp_path / "sink.log", tmp_path / "udp.log", tmp_path / "cap.log"
    traffic = "monitor.chamber_sim.traffic"
    net.popen(net.inet, py, "-m", traffic, "sink", "--tcp", f"{SINK_IP}:443", log=sink_log)
    # Something listening on the gateway's port 53, so queries are not answered with ICMP.
    net.popen(net.gw, py, "-m", traffic, "sink", "--udp", f"{GATE_IP}:53", log=udp_log)
    cap = net.popen(
        net.gw, py, "-m", "monitor.capture.tally", "--iface", CHAMBER_IF, "--names",
        "--seconds", "50", *(["--no-ring"] if mode == "queue" else []), log=cap_log,
    )  # fmt: skip
    _wait_ready(sink_log, "TCP sink")
    _wait_ready(udp_log, "UDP sink")
    _wait_ready(cap_log, "capture")

    tag = uuid.uuid4().hex[:8]
    proc = net.python(
        dev.ns, traffic, "burst", "--tag", tag, "--dns", str(N_DNS), "--dns-server", GATE_IP,
        "--tls", str(N_TLS), "--tls-server", f"{SINK_IP}:443", timeout=45,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sent = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sent["dns_sent"] == N_DNS and sent["tls_sent"] == N_TLS, sent

    net.stop(cap)  # SIGTERM: the tool drains what the kernel queued, then reports
    reports = [obj for obj in _json_lines(cap_log) if "kernel_drops" in obj]
    assert reports, cap_log.read_text(errors="replace")
    report = reports[-1]
    names = report["names"]
    keys = ("mode", "received", "kernel_packets", "kernel_drops", "channels")
    summary = {k: report[k] for k in keys}
    print(f"burst: sent {sent}; capture {summary}")

    missing_dns = set(burst_names(tag, N_DNS, "dns")) - set(names.get("dns", []))
    missing_tls = set(burst_names(tag, N_TLS, "tls")) - set(names.get("tls", []))
    assert not missing_dns, (len(missing_dns), sorted(missing_dns)[:5], summary)
    assert not missing_tls, (len(missing_tls), sorted(missing_tls)[:5], summary)
    assert report["mode"] == mode, summary
    assert report["kernel_drops"] == 0, summary
    health = report["health"]
    assert health["internal_errors"] == 0 and health["frame_errors"] == 0, health
    assert health["tls_gave_up"] == 0 and health["tcp_evicted_memory"] == 0, health
