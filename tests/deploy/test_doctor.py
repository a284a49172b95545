"""`chamberguard doctor` on this machine: real findings, and the exit status says if the gate
can run. The only packets sent go to a responder on loopback (or inside our own namespace)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import dnswire
from monitor.doctor import (
    CAP_NET_ADMIN,
    Check,
    check_capabilities,
    check_clock,
    dnsmasq_dns_servers,
    effective_capabilities,
    kea_dns_servers,
)
from monitor.settings import load_settings
from tests.deploy.conftest import CLI, clean_env, run_cli


class FakeResolver:
    """Answers every query NOERROR with no records, on 127.0.0.1 (an upstream for the doctor)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            q = dnswire.parse_query(data)
            self.queries.append(q.name)
            self.sock.sendto(dnswire.make_error(data, dnswire.RCODE_NOERROR, q.question_end), addr)

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sock.close()


@pytest.fixture
def resolver() -> Iterator[FakeResolver]:
    r = FakeResolver()
    yield r
    r.close()


def write_site(tmp: Path, upstream: str, **over: str) -> Path:
    """A resolver-only site on loopback: needs no root, no forwarding, no nftables."""
    values = {"interface": "lo", "listen": "127.0.0.1", "gate": "127.0.0.1", **over}
    (tmp / "dhcp.conf").write_text(
        f"port=0\ndhcp-range=127.0.0.10,127.0.0.20,2h\n"
        f"dhcp-option=option:dns-server,{values['gate']}\n")
    config = tmp / "chamberguard.toml"
    config.write_text(f"""
[site]
name = "Doctor Test Council"
topology = "resolver-only"
data_dir = "{tmp / 'data'}"
[chamber]
interface = "{values['interface']}"
subnets = ["127.0.0.0/8"]
gate_address = "{values['gate']}"
[dns]
listen = "{values['listen']}"
port = 5300
upstream = "{upstream}"
[policy]
democracy_host = "democracy.doctor-test.gov.uk"
webcast_host = "doctortest.public-i.tv"
[capture]
enabled = false
[nftables]
enabled = false
""")
    return config


def doctor(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    p = run_cli("doctor", "--json", "--dhcp-config", str(config.parent / "dhcp.conf"), *args,
                config=config)
    assert p.stdout, p.stderr
    return p.returncode, json.loads(p.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_doctor_passes_when_nothing_required_is_missing(tmp_path: Path,
                                                        resolver: FakeResolver) -> None:
    config = write_site(tmp_path, f"127.0.0.1:{resolver.port}")
    assert run_cli("db", "upgrade", config=config).returncode == 0
    code, report = doctor(config)
    checks = by_name(report)
    assert code == 0 and report["ok"], report
    for name in ("interface", "gate address", "dhcp", "data dir", "database", "presets",
                 "upstream dns"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["nftables"]["status"] == "skip"  # resolver-only
    assert checks["ip forwarding"]["status"] == "skip"
    assert checks["clock"]["status"] in ("ok", "warn", "unknown")
    assert resolver.queries == ["democracy.doctor-test.gov.uk"]
    # The table form says the same.
    p = run_cli("doctor", "--dhcp-config", str(tmp_path / "dhcp.conf"), config=config)
    assert p.returncode == 0 and "nothing required is missing" in p.stdout
    assert "upstream dns" in p.stdout and "DETAIL" in p.stdout


def test_doctor_fails_on_a_missing_interface_and_an_unmigrated_database(
        tmp_path: Path, resolver: FakeResolver) -> None:
    config = write_site(tmp_path, f"127.0.0.1:{resolver.port}", interface="cgnope0")
    code, report = doctor(config, "--offline")
    checks = by_name(report)
    assert code == 1 and not report["ok"]
    assert checks["interface"]["status"] == "fail" and checks["interface"]["required"]
    assert "no interface 'cgnope0'" in checks["interface"]["detail"]
    assert checks["database"]["status"] == "fail" and "db upgrade" in checks["database"]["detail"]
    assert not (tmp_path / "data" / "chamberguard.db").exists(), "doctor must not create it"
    assert checks["upstream dns"]["status"] == "skip" and resolver.queries == []

    # A database behind the code's migrations is named as such.
    from monitor.store.migrate import upgrade

    settings = load_settings(config, env={})
    upgrade(settings.database_url, "0001")
    code, report = doctor(config, "--offline")
    assert code == 1
    assert "revision 0001" in by_name(report)["database"]["detail"]

    # The table names what failed; status 1.
    p = run_cli("doctor", "--offline", config=config)
    assert p.returncode == 1 and "required check(s) failed" in p.stdout and "interface" in p.stdout


def test_doctor_fails_when_the_upstream_does_not_answer(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        config = write_site(tmp_path, f"127.0.0.1:{silent.getsockname()[1]}")
        assert run_cli("db", "upgrade", config=config).returncode == 0
        code, report = doctor(config)
    up = by_name(report)["upstream dns"]
    assert code == 1 and up["status"] == "fail" and "no answer" in up["detail"]


def test_capabilities_from_proc_status() -> None:
    settings = load_settings(None, env={})  # inline: needs all three
    assert effective_capabilities("CapInh:\t0\nCapEff:\t0000000000003000\n") == 0x3000
    none = check_capabilities(settings, "CapEff:\t0000000000000000\n")
    assert none.failed and all(c in none.detail for c in
                               ("CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"))
    full = check_capabilities(settings, f"CapEff:\t{(1 << 10) | (1 << 12) | (1 << 13):016x}\n")
    assert full.status == "ok" and not full.failed
    only_admin = check_capabilities(settings, f"CapEff:\t{1 << CAP_NET_ADMIN:016x}\n")
    assert only_admin.failed and "CAP_NET_ADMIN" not in only_admin.detail.split("(")[0]
    # This process: root has them all; anyone else (without ambient caps) has none.
    mine = check_capabilities(settings)
    assert mine.failed == (os.geteuid() != 0 and effective_capabilities() & 0x3400 != 0x3400)


def test_dhcp_parsers_read_comments_tags_and_ipv6() -> None:
    servers, serves = dnsmasq_dns_servers(
        "# dhcp-option=6,10.0.0.1\ndhcp-range=tag:chamber,198.51.100.20,198.51.100.99\n"
        "dhcp-option=tag:chamber,6,198.51.100.1,198.51.100.2  # both gates\n"
        "dhcp-option=option6:dns-server,[2001:db8:c::1]\n")
    assert serves and servers == ["198.51.100.1", "198.51.100.2", "2001:db8:c::1"]
    kea = """{ "Dhcp4": { /* block */ "subnet4": [ { "option-data": [
        // a comment with "quotes"
        { "name": "domain-name-servers", "data": "198.51.100.1, 198.51.100.3" } # trailing
    ] } ] } }"""
    assert kea_dns_servers(kea) == ["198.51.100.1", "198.51.100.3"]
    assert kea_dns_servers('{"Dhcp4": {"option-data": [{"code": 6, "data": "10.1.1.1"}]}}') \
        == ["10.1.1.1"]


def test_clock_check_prefers_timedatectl_and_says_unknown_rather_than_guess() -> None:
    class Done:
        def __init__(self, out: str, rc: int = 0) -> None:
            self.stdout, self.returncode = out, rc

    import shutil

    if shutil.which("timedatectl"):
        assert check_clock(lambda *a, **k: Done("yes\n")).status == "ok"
        assert check_clock(lambda *a, **k: Done("no\n")).status == "warn"
    c = check_clock(lambda *a, **k: Done("", 1))  # no systemd: the kernel's view
    assert isinstance(c, Check) and c.status in ("ok", "warn", "unknown") and not c.required


def _netns_reason() -> str | None:
    from monitor.chamber_sim.netns import unavailable_reason

    return unavailable_reason()


@pytest.mark.netns
def test_doctor_on_an_inline_gateway_in_a_namespace(tmp_path: Path) -> None:
    """A namespace set up as an inline gateway should want nothing (nftables for real)."""
    reason = _netns_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    ns = f"cgdemodoc{uuid.uuid4().hex[:4]}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)

    ip("netns", "add", ns)
    try:
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "add", "chamber0", "type", "veth", "peer", "name", "ap0")
        ip("-n", ns, "addr", "add", "198.51.100.1/24", "dev", "chamber0")
        ip("-n", ns, "link", "set", "ap0", "up")
        ip("-n", ns, "link", "set", "chamber0", "up")
        ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        (tmp_path / "dhcp.conf").write_text("dhcp-option=option:dns-server,198.51.100.1\n")
        config = tmp_path / "chamberguard.toml"
        config.write_text(f"""
[site]
data_dir = "{tmp_path / 'data'}"
[chamber]
interface = "chamber0"
[policy]
democracy_host = "democracy.doctor-test.gov.uk"
webcast_host = "doctortest.public-i.tv"
""")
        assert run_cli("db", "upgrade", config=config).returncode == 0
        env = clean_env(CHAMBERGUARD_CONFIG=str(config))
        p = subprocess.run(["ip", "netns", "exec", ns, CLI, "doctor", "--json", "--offline",
                            "--dhcp-config", str(tmp_path / "dhcp.conf")],
                           capture_output=True, text=True, timeout=60, env=env, check=False)
        report = json.loads(p.stdout)
        checks = by_name(report)
        assert p.returncode == 0, report
        for name in ("nftables", "capabilities", "interface", "gate address", "ip forwarding",
                     "dhcp", "database"):
            assert checks[name]["status"] == "ok", checks[name]
        # The scratch table is gone again.
        tables = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "tables"],
                                capture_output=True, text=True, timeout=20).stdout
        assert "cgdoctor" not in tables

        # Forwarding off: an inline gateway cannot route, and doctor says so.
        ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        p = subprocess.run(["ip", "netns", "exec", ns, CLI, "doctor", "--json", "--offline"],
                           capture_output=True, text=True, timeout=60, env=env, check=False)
        assert p.returncode == 1
        assert by_name(json.loads(p.stdout))["ip forwarding"]["status"] == "fail"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def test_doctor_lists_each_supervised_part(tmp_path: Path) -> None:
    """Issue #18: every part from the gate's heartbeat, a dead sensor failing in mirror."""
    from datetime import UTC, datetime, timedelta

    from monitor.doctor import check_components
    from monitor.health import Component, ComponentHealth, State
    from monitor.settings import Settings
    from monitor.store.db import Database
    from monitor.store.migrate import upgrade
    from monitor.store.models import GateHeartbeat

    settings = Settings(site={"data_dir": tmp_path, "room": "chamber",  # type: ignore[arg-type]
                              "topology": "mirror"})
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    now = datetime.now(UTC)
    parts = {Component.GATE: State.OFF, Component.FIREWALL: State.OFF,
             Component.SENSOR: State.DOWN, Component.EVENTS: State.UP,
             Component.SPOOL: State.DEGRADED}
    with db.session() as s:
        s.add(GateHeartbeat(room="chamber", pid=1, started_at=now, seen_at=now, components={
            str(c): ComponentHealth(c, st, now - timedelta(minutes=1), "why " + str(c))
            .as_json() for c, st in parts.items()}))
    checks = {c.name: c for c in check_components(settings, db, now)}
    db.dispose()
    assert set(checks) == {"firewall", "sensor", "events", "spool"}
    assert checks["sensor"].status == "fail" and checks["sensor"].failed
    assert "why sensor" in checks["sensor"].detail and "since" in checks["sensor"].detail
    assert checks["spool"].status == "warn" and checks["events"].status == "ok"


def test_doctor_on_the_demos_config_names_what_the_demo_needs(tmp_path: Path) -> None:
    """The config `chamberguard demo` / `make run` writes: the host's chamber network is not
    asked about, nothing is sent, and before the demo has run the one failure says so."""
    from dashboard.main.demo import DemoOptions, prepare_data_dir, setup_database, write_config
    from monitor.store.db import Database

    opts = DemoOptions(data_dir=tmp_path / "demo")
    prepare_data_dir(opts.data_dir)
    config = write_config(opts, live=False)
    code, report = doctor(config)  # not --offline: the demo's config must send nothing anyway
    checks = by_name(report)
    assert code == 1 and report["demo"] is True
    assert [n for n, c in checks.items() if c["status"] == "fail"] == ["database"]
    assert "the demo creates it when it starts" in checks["database"]["detail"]
    assert not (opts.data_dir / "chamberguard.db").exists(), "doctor must not create it"
    for name in ("interface", "ip forwarding", "dhcp", "upstream dns"):
        assert checks[name]["status"] == "skip", checks[name]
    p = run_cli("doctor", config=config)
    assert p.returncode == 1 and "the demo's simulated chamber" in p.stdout.splitlines()[0]

    # Once the demo has made its database: a pass.
    settings = load_settings(config, env={})
    setup_database(settings, Database(settings.database_url), members=2)
    code, report = doctor(config)
    assert code == 0 and report["ok"], report
    assert by_name(report)["presets"]["status"] in ("ok", "warn")

    # The same file without the demo's marker is an ordinary site with no interface: a failure
    # that says `run` would start the simulated chamber.
    (opts.data_dir / ".chamberguard-demo").unlink()
    code, report = doctor(config, "--offline")
    assert code == 1 and report["demo"] is False
    assert "simulated chamber" in by_name(report)["interface"]["detail"]
