"""Benchmark: our DNS gate vs dnsmasq in the same role, same load, same run (issue #4).

Both sit in the gateway namespace in front of the same fake upstream (dnsmasq in the inet
namespace); the client is a *registered member device in a meeting*, so the gate enforces:
it refuses platform names, forwards allowed ones and adds every allowed address to nftables.
dnsmasq gets the same rules (allowed names forwarded, everything else NXDOMAIN) and, like our
gate, no cache. Throughput: dnsperf from the client namespace. Latency: a fixed-rate client.
The gate's line says which path answered (native UDP fast path, or Python only); run with
``CHAMBERGUARD_DNS__FAST_PATH=false`` to measure the Python chain alone.
Needs root (namespaces); prints the reason and exits 0 otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.chamber_sim.netns import GATE_IP, ChamberNet, unavailable_reason  # noqa: E402
from monitor.chamber_sim.upstream import FAKE_RESOLVER, start_fake_upstream  # noqa: E402

CLI = str(Path(sys.executable).parent / "chamberguard")
AGENDA = "democracy.example.gov.uk"
SECONDS = 8
LAT_QPS = 3000


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([CLI, *args], env=env, check=True, capture_output=True, text=True).stdout


def dnsperf(net: ChamberNet, ns: str, qfile: Path) -> float:
    out = net.run(
        ns,
        "dnsperf",
        "-s",
        GATE_IP,
        "-d",
        str(qfile),
        "-l",
        str(SECONDS),
        "-c",
        "8",
        "-q",
        "256",
        timeout=SECONDS + 30,
    ).stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if not m:
        raise RuntimeError(f"dnsperf output not understood:\n{out}")
    print(f"    dnsperf: {m.group(1)} qps, lost {lost.group(1) if lost else '?'}")
    return float(m.group(1))


def latency(net: ChamberNet, ns: str, qfile: Path) -> dict[str, float]:
    out = net.python(
        ns,
        "monitor.chamber_sim.dnsload",
        "--server",
        GATE_IP,
        "--qps",
        str(LAT_QPS),
        "--seconds",
        "5",
        "--names",
        str(qfile),
        timeout=60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    reason = unavailable_reason()
    if reason or not shutil.which("dnsperf"):
        print(f"bench_gate: skipped ({reason or 'dnsperf not installed'})")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    net = ChamberNet()
    try:
        net.create()
        dev = net.add_device("bench", "02:00:5e:30:00:01", 1)
        # 200 allowed names with distinct addresses (so nftables set updates really happen)
        # and 100 platform names; a phone-like mix: 2/3 allowed, 1/3 refused.
        records = {f"p{i}.{AGENDA}": f"203.0.113.{50 + i}" for i in range(200)}
        social = [f"cdn{i}.instagram.com" for i in range(50)] + [
            f"edge{i}.facebook.com" for i in range(50)
        ]
        for name in social:
            records[name] = "203.0.113.20"
        start_fake_upstream(net, records, {}, log=tmp / "upstream.log", ttl=300)
        qfile = tmp / "queries.txt"
        lines = [f"{n} A" for n in records if n.endswith(AGENDA)] * 2 + [f"{n} A" for n in social]
        qfile.write_text("\n".join(lines) + "\n")

        cfg = tmp / "bench.toml"
        cfg.write_text(f"""
[site]
data_dir = "{tmp / "data"}"
[chamber]
interface = "chamber0"
gate_address = "{GATE_IP}"
[dns]
listen = "{GATE_IP}"
upstream = "{FAKE_RESOLVER}:53"
rate_limit_qps = 1000000
rate_limit_burst = 1000000
[policy]
democracy_host = "{AGENDA}"
[capture]
enabled = false
""")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CHAMBERGUARD_CONFIG": str(cfg)}
        if "CHAMBERGUARD_DNS__FAST_PATH" in os.environ:  # =false: measure the Python path
            env["CHAMBERGUARD_DNS__FAST_PATH"] = os.environ["CHAMBERGUARD_DNS__FAST_PATH"]
        cli(env, "db", "upgrade")
        cli(env, "member", "add", "Cllr Bench")
        cli(env, "device", "add", dev.mac, "--member", "Cllr Bench")
        now = datetime.now(UTC)
        cli(
            env,
            "meetings",
            "add",
            "--title",
            "Council",
            "--start",
            (now - timedelta(hours=1)).isoformat(),
            "--end",
            (now + timedelta(hours=2)).isoformat(),
        )

        results: dict[str, dict[str, float]] = {}
        # -- our gate ----------------------------------------------------------------------
        gate = net.popen(net.gw, CLI, "gate", log=tmp / "gate.log", env=env)
        for _ in range(100):
            if (
                net.python(
                    dev.ns, "monitor.chamber_sim.probe", "resolve", f"p1.{AGENDA}"
                ).stdout.find("NOERROR")
                > 0
            ):
                break
            time.sleep(0.2)
        assert (
            "NXDOMAIN"
            in net.python(dev.ns, "monitor.chamber_sim.probe", "resolve", social[0]).stdout
        ), "the bench client must be restricted"
        print("chamberguard gate (enforcing: restricted client, nftables set updates):")
        if os.environ.get("CG_PROFILE"):
            pid = int((tmp / "data" / "gate-chamber.pid").read_text())
            prof = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(pid),
                    "-d",
                    "6",
                    "-f",
                    "raw",
                    "-o",
                    "/tmp/gate.prof",
                    "--nonblocking",
                ]
            )
        qps = dnsperf(net, dev.ns, qfile)
        if os.environ.get("CG_PROFILE"):
            prof.wait()
        results["gate"] = {"qps": qps, **latency(net, dev.ns, qfile)}
        sets = net.run(net.gw, "nft", "list", "set", "inet", "chamberguard", "allowed4").stdout
        results["gate"]["set_elements"] = sets.count("203.0.113.")
        net.stop(gate)
        glog = (tmp / "gate.log").read_text(errors="replace")
        path = [ln.split("gate fast path", 1)[1].strip(" :") for ln in glog.splitlines()
                if "gate fast path" in ln]
        print("    path: " + ("; ".join(path) or "unknown (no fast path line in the gate log)"))

        # -- dnsmasq in the same role --------------------------------------------------------
        args = [
            "/usr/sbin/dnsmasq",
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            f"--listen-address={GATE_IP}",
            "--port=53",
            "--cache-size=0",
            "--user=root",
            "--pid-file=",
            "--conf-file=/dev/null",
            f"--server=/{AGENDA}/{FAKE_RESOLVER}",
            "--address=/#/",
            "--dns-forward-max=1000",
        ]
        # A stopped gate leaves its fail-open table, which DNATs DNS for the gate's address
        # straight to the upstream: with it in place dnsperf would measure the kernel and the
        # upstream, never dnsmasq (and get answers for the platform names). Remove it first.
        net.run(net.gw, "nft", "delete", "table", "inet", "chamberguard")
        net.popen(net.gw, *args, log=tmp / "dnsmasq.log")
        time.sleep(1)
        for name, want in ((f"p1.{AGENDA}", "NOERROR"), (social[0], "NXDOMAIN")):
            out = net.python(dev.ns, "monitor.chamber_sim.probe", "resolve", name).stdout
            assert want in out, f"dnsmasq must answer {name} itself with {want}: {out}"
        print("dnsmasq (same rules, no cache):")
        qps = dnsperf(net, dev.ns, qfile)
        results["dnsmasq"] = {"qps": qps, **latency(net, dev.ns, qfile)}

        g, d = results["gate"], results["dnsmasq"]
        print()
        print(
            f"{'':12}{'qps':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
            f"   (latency at {LAT_QPS} qps)"
        )
        for k in ("gate", "dnsmasq"):
            r = results[k]
            print(
                f"{k:12}{r['qps']:>10.0f}{r['p50_ms']:>10.3f}{r['p95_ms']:>10.3f}{r['p99_ms']:>10.3f}"
            )
        print(
            f"gate/dnsmasq: qps {g['qps'] / d['qps']:.2f}x (target >= 1.0), "
            f"p99 {g['p99_ms'] / d['p99_ms']:.2f}x (target <= 1.5); "
            f"allowed-set elements written: {g['set_elements']:.0f}"
        )
        return 0
    finally:
        net.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
