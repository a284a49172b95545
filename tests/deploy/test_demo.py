"""`chamberguard demo`: a chamber with one command — live on namespaces where the kernel allows,
else a bundled capture replayed through the monitor. Either way the dashboard shows attempts
and bypasses, and stopping it leaves nothing behind."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.main.demo import (
    DEMO_PCAP,
    GUEST_MACS,
    MEMBERS,
    DemoOptions,
    prepare_data_dir,
    replay_capture,
    run_demo,
    setup_database,
    write_config,
)
from monitor.chamber_sim import traffic_demo
from monitor.settings import load_settings
from monitor.store.db import Database
from tests.deploy.conftest import CLI, DEPLOY, clean_env, run_cli, wait_for
from tests.netns.harness import free_port


def events_in(db_path: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM events ORDER BY id")]
    finally:
        con.close()


def sensor_state(db_path: Path) -> str | None:
    """The passive sensor's state in the gate's heartbeat (monitor.health), or None."""
    con = sqlite3.connect(db_path)
    try:
        row = con.execute("SELECT components FROM gate_heartbeats").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    if not row or not row[0]:
        return None
    return json.loads(row[0]).get("sensor", {}).get("state")


# -- the bundled capture and the replay path (no root needed) -----------------------------
def test_bundled_capture_is_what_its_script_makes_and_small(tmp_path: Path) -> None:
    out = tmp_path / "demo.pcap"
    subprocess.run([sys.executable, str(DEPLOY / "demo" / "make_demo_pcap.py"), "-o", str(out)],
                   check=True, capture_output=True, timeout=60)
    assert out.read_bytes() == DEMO_PCAP.read_bytes(), \
        "demo.pcap differs from deploy/demo/make_demo_pcap.py's output: regenerate and commit it"
    assert DEMO_PCAP.stat().st_size < 200_000


def test_replay_records_members_attempts_and_bypasses_and_never_guests(tmp_path: Path) -> None:
    opts = DemoOptions(data_dir=tmp_path / "demo", port=free_port())
    prepare_data_dir(opts.data_dir)
    settings = load_settings(write_config(opts, live=False), env={})
    db = Database(settings.database_url)
    setup_database(settings, db, members=4)
    stats = replay_capture(settings, db)
    assert stats.passes == 1 and stats.attempts >= 8 and stats.bypasses >= 2, stats
    rows = events_in(opts.data_dir / "chamberguard.db")
    kinds = {r["kind"] for r in rows}
    assert {"attempt", "bypass"} <= kinds
    member_macs = {mac for _, _, mac in MEMBERS[:4]}
    macs = {r["mac"] for r in rows}
    assert macs <= member_macs and not macs & set(GUEST_MACS)
    assert {r["action"] for r in rows} == {"observed"}  # a replay refuses nothing
    assert all(r["member_id"] and r["device_id"] and r["meeting_id"] for r in rows)
    platforms = {r["platform"] for r in rows if r["kind"] == "attempt"}
    assert {"instagram", "facebook", "tiktok", "x"} <= platforms
    bypass = {(r["domain"], r["detail"]) for r in rows if r["kind"] == "bypass"}
    assert ("dns.google", "doh") in bypass and ("use-application-dns.net", "canary") in bypass
    assert any(r["channels"] == "tls" for r in rows), "SNI seen by the capture counts too"
    assert not any(r["domain"] == "www.bbc.co.uk" for r in rows), "other names are never stored"
    db.dispose()


def test_demo_replays_and_says_why_where_namespaces_are_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.chamber_sim.netns as netns

    monkeypatch.setattr(netns, "unavailable_reason", lambda: "test: no namespaces here")
    out = io.StringIO()
    opts = DemoOptions(data_dir=tmp_path / "demo", port=free_port(), duration=1.5, pace=0.01,
                       out=out)
    assert run_demo(opts) == 0
    text = out.getvalue()
    assert ("namespaces unavailable (test: no namespaces here): replaying a bundled capture "
            "instead") in text
    assert "demo running" in text and "stopped" in text
    rows = events_in(opts.data_dir / "chamberguard.db")
    assert {"attempt", "bypass"} <= {r["kind"] for r in rows}


# -- the command, over HTTP ------------------------------------------------------------------
@dataclass
class Demo:
    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("demo running"):
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def passwords(self) -> dict[str, str]:
        found = {}
        for line in self.lines:
            m = re.match(r"^\s+(clerk|it_admin|monitoring_officer)\s+(\S+)\s", line)
            if m:
                found[m.group(1)] = m.group(2)
        return found


def start_demo(tmp: Path, *args: str, timeout: float = 90) -> Demo:
    port = free_port()
    proc = subprocess.Popen([CLI, "demo", "--port", str(port), "--data-dir", str(tmp / "demo"),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=clean_env(), start_new_session=True)
    demo = Demo(proc, port)
    threading.Thread(target=demo.read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not demo.ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_demo(demo)
            raise AssertionError(f"demo did not start:\n{demo.output}\n"
                                 + _logs(tmp / "demo"))
    return demo


def _logs(d: Path) -> str:
    out = []
    for name in ("gate.log", "web.log"):
        p = d / name
        if p.exists():
            tail = p.read_text(errors="replace").splitlines()[-30:]
            out.append(f"--- {name}\n" + "\n".join(tail))
    return "\n".join(out)


def stop_demo(demo: Demo, timeout: float = 60) -> int:
    if demo.proc.poll() is None:
        demo.proc.send_signal(signal.SIGTERM)
    try:
        return demo.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(demo.proc.pid, signal.SIGKILL)
        demo.proc.wait(10)
        raise AssertionError(f"demo did not stop within {timeout} s:\n{demo.output}") from None


def login(port: int, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          follow_redirects=False)
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert "cg_prelogin" in client.cookies
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": csrf, "next": "/"})
    assert r.status_code == 303 and "cg_session" in client.cookies, r.text
    return client


def wait_for_events(client: httpx.Client, done: Callable[[list[dict[str, Any]]], bool],
                    what: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = client.get("/api/v1/events", params={"limit": 1000})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if done(items):
            return items
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout} s; got kinds "
                         f"{sorted({e['kind'] for e in items})}")


def wait_for_kinds(client: httpx.Client, kinds: set[str], timeout: float) -> list[dict[str, Any]]:
    return wait_for_events(client, lambda items: kinds <= {e["kind"] for e in items},
                           f"{sorted(kinds)} events", timeout)


def descendants(root: int) -> dict[int, str]:
    """pid → start time (field 22 of /proc/pid/stat) of every process below ``root``."""
    parents: dict[int, int] = {}
    starts: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        parents[int(d.name)] = int(rest[1])
        starts[int(d.name)] = rest[19]
    out: dict[int, str] = {}
    frontier = [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in out:
                out[child] = starts[child]
                frontier.append(child)
    return out


def still_running(procs: dict[int, str]) -> list[str]:
    left = []
    for pid, start in procs.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        if rest[19] == start and rest[0] != "Z":
            left.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:120]!r}")
    return left


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_command_replay_shows_attempts_on_the_dashboard(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, "--replay", "--pace", "0.02")
    try:
        assert "--replay: replaying a bundled capture instead" in demo.output
        pw = demo.passwords()
        assert set(pw) == {"clerk", "it_admin", "monitoring_officer"}
        clerk = login(demo.port, "clerk", pw["clerk"])
        items = wait_for_kinds(clerk, {"attempt", "bypass"}, timeout=30)
        clerk.close()
        assert any(e["platform"] == "instagram" and e["member"] == "Cllr Ada Lovelace"
                   for e in items)
        officer = login(demo.port, "monitoring_officer", pw["monitoring_officer"])
        assert officer.get("/api/v1/events", params={"limit": 5}).status_code == 200
        officer.close()
        # `chamberguard doctor` against the demo's own config: a clear pass, nothing sent.
        report = doctor_report(tmp_path / "demo" / "demo.toml")
        assert report["checks"]["demo chamber"]["detail"].startswith("replays a bundled")
        assert report["checks"]["nftables"]["status"] == "skip"  # monitor-only: nothing to do
    finally:
        code = stop_demo(demo)
    assert code == 0, demo.output
    assert not group_alive(demo.proc.pid)
    assert "replays" in demo.output.splitlines()[-1]


def doctor_report(config: Path) -> dict[str, Any]:
    """`chamberguard doctor --json` against a running demo's config: it passes, says it is
    the demo, asks nothing of this host's chamber network and sends nothing upstream."""
    proc = run_cli("doctor", "--json", config=config, timeout=60)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"] is True, proc.stdout + proc.stderr
    assert report["demo"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert not [c for c in checks.values() if c["status"] == "fail"], checks
    assert checks["demo chamber"]["status"] == "ok"
    assert checks["database"]["status"] == "ok" and checks["presets"]["status"] != "fail"
    for name in ("interface", "ip forwarding", "dhcp", "upstream dns"):
        assert checks[name]["status"] == "skip", checks[name]
    return {"checks": checks}


@pytest.mark.netns
def chamber_get(ns: str, path: str, timeout: float = 30) -> tuple[int, str]:
    """GET http://<gate chamber address>:8080<path> from inside a device's namespace, once
    the listener answers (it starts beside the gate)."""
    from monitor.chamber_sim.netns import GATE_IP

    code = ("import sys, urllib.request, urllib.error\n"
            f"try:\n r = urllib.request.urlopen('http://{GATE_IP}:8080{path}', timeout=3)\n"
            " print(r.status)\n"
            "except urllib.error.HTTPError as e:\n print(e.code)\n"
            "except OSError as e:\n print(0, e)\n")
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        status = int(out.split()[0]) if out else 0
        if status or time.monotonic() > deadline:
            return status, out
        time.sleep(0.5)  # polling a listener that is starting: no event to await


def test_live_demo_enforces_records_and_leaves_nothing_behind(tmp_path: Path) -> None:
    from monitor.chamber_sim.netns import unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    prefix = f"cgdemot{uuid.uuid4().hex[:4]}"
    tables_before = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                                   timeout=20).stdout
    demo = start_demo(tmp_path, "--prefix", prefix, "--pace", "0.5")
    procs: dict[int, str] = {}
    try:
        assert f"namespaces {prefix}-*" in demo.output and "real kernel networking" in demo.output
        spaces = [ns.split()[0] for ns in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout.splitlines()
            if ns.startswith(prefix + "-")]
        assert {f"{prefix}-gw", f"{prefix}-inet", f"{prefix}-m1", f"{prefix}-g1"} <= set(spaces)
        assert len(spaces) == 2 + 4 + 2
        # The gate enforces for real: our table is in the gateway namespace.
        table = subprocess.run(["ip", "netns", "exec", f"{prefix}-gw", "nft", "list", "table",
                                "inet", "chamberguard"], capture_output=True, text=True,
                               timeout=20)
        assert table.returncode == 0 and "restricted" in table.stdout, table.stderr
        # The members' registration page is served on the chamber side (the gate's chamber
        # address, from a member's phone), and nothing else is: no staff login there.
        assert chamber_get(f"{prefix}-m1", "/register")[0] == 200
        assert chamber_get(f"{prefix}-m1", "/login")[0] == 404
        pw = demo.passwords()
        clerk = login(demo.port, "clerk", pw["clerk"])
        items = wait_for_kinds(clerk, {"attempt", "bypass"}, timeout=40)
        # The DoH try: its name refused (one try, one event: the connection to the
        # resolver's address that follows is the same try, not recorded again).
        items = wait_for_events(
            clerk,
            lambda its: any(e["kind"] == "bypass" and e.get("domain") == traffic_demo.DOH_NAME
                            for e in its),
            "DoH bypass", timeout=30)
        clerk.close()
        attempts = [e for e in items if e["kind"] == "attempt"]
        assert {e["member"] for e in attempts} <= {m for m, _, _ in MEMBERS}
        assert any(e["platform"] == "instagram" for e in attempts)
        assert all(e["action"] == "refused" for e in attempts)
        # `make run` shows the demo with the passive sensor running, and says so.
        db_path = tmp_path / "demo" / "chamberguard.db"
        assert wait_for(lambda: sensor_state(db_path) == "up", timeout=30), \
            sensor_state(db_path)
        procs = descendants(demo.proc.pid)
        assert len(procs) >= 10, procs  # dnsmasq, sites, gate (+worker), web, 6 devices
        report = doctor_report(tmp_path / "demo" / "demo.toml")
        assert report["checks"]["gate"]["status"] == "ok", report["checks"]["gate"]
        assert report["checks"]["nftables"]["status"] == "ok"
    finally:
        procs = procs or descendants(demo.proc.pid)
        code = stop_demo(demo)
    assert code == 0, demo.output
    assert "nothing left behind" in demo.output
    left = [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                        timeout=20).stdout.splitlines() if ns.startswith(prefix)]
    assert left == [], left
    assert still_running(procs) == []
    assert not group_alive(demo.proc.pid)
    tables_after = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                                  timeout=20).stdout
    assert tables_after == tables_before, "the demo must not touch the host's nftables"
    # The whole run is on record: the gate's stop (fail-open) is an outage event.
    rows = events_in(tmp_path / "demo" / "chamberguard.db")
    assert {"attempt", "bypass"} <= {r["kind"] for r in rows}
    # One DoH try is one event: the name refused is recorded; the device's connection to
    # the resolver's address right after it is the same try and is not recorded again.
    doh = [r for r in rows if r["kind"] == "bypass"
           and (r["detail"] or "").split(":", 1)[0] == "doh"]
    by_name = [r for r in doh if r["domain"] == traffic_demo.DOH_NAME]
    assert by_name
    for r in doh:
        if traffic_demo.DOH_ADDRESS in (r["detail"] or ""):
            assert not any(n["mac"] == r["mac"] and 0 <= (datetime.fromisoformat(r["ts"])
                           - datetime.fromisoformat(n["ts"])).total_seconds() < 60
                           for n in by_name), "a DoH try recorded twice"


@pytest.mark.netns
def test_live_demo_interrupted_while_starting_removes_what_it_built(tmp_path: Path) -> None:
    from monitor.chamber_sim.netns import unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    prefix = f"cgdemoi{uuid.uuid4().hex[:4]}"
    proc = subprocess.Popen([CLI, "demo", "--port", str(free_port()), "--data-dir",
                             str(tmp_path / "demo"), "--prefix", prefix],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=clean_env(), start_new_session=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "building the chamber" in first, first
    deadline = time.monotonic() + 20  # interrupt once the namespaces exist
    while time.monotonic() < deadline:
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if f"{prefix}-inet" in listing:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), first + rest
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in listing
    assert not group_alive(proc.pid), subprocess.run(
        ["ps", "-o", "pid,pgid,ppid,stat,args", "-g", str(proc.pid)], capture_output=True,
        text=True).stdout


@pytest.mark.netns
def test_demo_clean_removes_leftover_demo_namespaces_only() -> None:
    from dashboard.main.demo import DemoError, clean_leftovers
    from monitor.chamber_sim.netns import unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    prefix = f"cgdemoq{uuid.uuid4().hex[:4]}"
    subprocess.run(["ip", "netns", "add", f"{prefix}-gw"], check=True, timeout=20)
    try:
        out = io.StringIO()
        assert clean_leftovers(out, prefix=prefix) == 0
        assert f"removed namespace {prefix}-gw" in out.getvalue()
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert prefix not in listing
        with pytest.raises(DemoError):
            clean_leftovers(io.StringIO(), prefix="cg")  # never anyone else's namespaces
    finally:
        subprocess.run(["ip", "netns", "del", f"{prefix}-gw"], capture_output=True, timeout=20)
