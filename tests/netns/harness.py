"""A running chamber for netns tests: namespaces, fake internet, database, gate and web."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.chamber_sim.netns import GATE_IP, ChamberNet, SimDevice
from monitor.chamber_sim.upstream import FAKE_RESOLVER, start_fake_upstream
from tests.ports import free_port

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "chamberguard")

AGENDA = "democracy.example.gov.uk"
AGENDA_IP = "203.0.113.10"
AGENDA_CDN_ALIAS = "assets.democracy.example.gov.uk"
AGENDA_CDN = "d1234.cdn.example.net"
AGENDA_CDN_IP = "203.0.113.11"
WEBCAST = "example.public-i.tv"
WEBCAST_IP = "203.0.113.12"
FACEBOOK = "www.facebook.com"
FACEBOOK_IP = "203.0.113.20"
DOH = "dns.google"
DOH_IP = "203.0.113.30"
PUBLIC_RESOLVER = "203.0.113.8"
AGENDA_IP6 = "2001:db8:e::10"
FACEBOOK_IP6 = "2001:db8:e::20"
GATE_IP6 = "2001:db8:c::1"

MEMBER_MAC = "02:00:5e:10:00:01"
GUEST_MAC = "02:00:5e:20:00:02"

ZONE = {
    AGENDA: f"{AGENDA_IP},{AGENDA_IP6}",
    FACEBOOK: f"{FACEBOOK_IP},{FACEBOOK_IP6}",
    AGENDA_CDN: AGENDA_CDN_IP,
    WEBCAST: WEBCAST_IP,
    "facebook.com": FACEBOOK_IP,
    DOH: DOH_IP,
}
CNAMES = {AGENDA_CDN_ALIAS: AGENDA_CDN}



@dataclass
class Chamber:
    tmp: Path
    net: ChamberNet = field(default_factory=ChamberNet)
    config: Path | None = None
    web_port: int = 0
    gate: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None
    ids: dict[str, int] = field(default_factory=dict)

    # -- set-up -------------------------------------------------------------------------
    def build(self, mode: str = "enforce") -> Chamber:
        self.net.create()
        self.member = self.net.add_device("member", MEMBER_MAC, 1)
        self.guest = self.net.add_device("guest", GUEST_MAC, 2)
        for ip in (
            AGENDA_IP,
            AGENDA_CDN_IP,
            WEBCAST_IP,
            FACEBOOK_IP,
            DOH_IP,
            PUBLIC_RESOLVER,
            AGENDA_IP6,
            FACEBOOK_IP6,
        ):
            self.net.add_inet_address(ip)
        start_fake_upstream(self.net, ZONE, CNAMES, log=self.tmp / "dnsmasq.log")
        # A "public resolver" that answers everything with a wrong address: if a restricted
        # device's query reaches it (instead of being redirected to the gate), tests see it.
        start_fake_upstream(
            self.net,
            {AGENDA: "203.0.113.99", FACEBOOK: "203.0.113.99"},
            {},
            log=self.tmp / "public.log",
            listen=PUBLIC_RESOLVER,
        )
        self.net.popen(
            self.net.inet,
            sys.executable,
            "-m",
            "monitor.chamber_sim.sites",
            log=self.tmp / "sites.log",
        )
        self.web_port = free_port()
        self.config = self.tmp / "chamberguard.toml"
        self.config.write_text(f"""
[site]
name = "Test Council"
room = "chamber"
mode = "{mode}"
data_dir = "{self.tmp / "data"}"

[chamber]
interface = "chamber0"
subnets = ["198.51.100.0/24", "2001:db8:c::/64"]
gate_address = "{GATE_IP}"
gate_address6 = "{GATE_IP6}"

[dns]
listen = "{GATE_IP}"
upstream = "{FAKE_RESOLVER}:53"
max_ttl = 30

[policy]
democracy_host = "{AGENDA}"
webcast_host = "{WEBCAST}"
grace_minutes = 0

[web]
port = {self.web_port}
secure_cookies = false  # plain http on loopback, as the demo
""")
        self.cli("db", "upgrade")
        self.ids["member"] = json.loads(self.cli("member", "add", "Cllr Ada Lovelace"))["id"]
        self.cli("device", "add", MEMBER_MAC, "--member", "Cllr Ada Lovelace", "--label", "iPad")
        self.cli("user", "add", "clerk", "--role", "clerk", "--password", "clerk-password-1")
        now = datetime.now(UTC)
        out = self.cli(
            "meetings",
            "add",
            "--title",
            "Full Council",
            "--start",
            (now - timedelta(minutes=10)).isoformat(),
            "--end",
            (now + timedelta(hours=2)).isoformat(),
            "--room",
            "chamber",
        )
        self.ids["meeting"] = json.loads(out)["id"]
        self.wait_for_sites()
        return self

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERGUARD_")}
        if "CHAMBERGUARD_DNS__FAST_PATH" in os.environ:  # run the suite on either gate path
            env["CHAMBERGUARD_DNS__FAST_PATH"] = os.environ["CHAMBERGUARD_DNS__FAST_PATH"]
        env["CHAMBERGUARD_CONFIG"] = str(self.config)
        return env

    def cli(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            [CLI, *args], capture_output=True, text=True, env=self.env(), timeout=60, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"chamberguard {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def start_gate(self) -> None:
        self.gate = self.net.popen(
            self.net.gw, CLI, "gate", log=self.tmp / "gate.log", env=self.env()
        )
        self.wait_until(
            lambda: self.resolve(self.guest, AGENDA).get("rcode") == "NOERROR",
            what="gate answering",
            timeout=20,
        )
        self.wait_until(
            lambda: "sensor capturing" in self.log("gate.log"),
            what="passive sensor capturing",
            timeout=20,
        )

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [CLI, "web", "--host", "127.0.0.1"],
            env=self.env(),
            stdout=open(self.tmp / "web.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import httpx

        def up() -> bool:
            try:
                return httpx.get(self.url("/healthz"), timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_until(up, what="web app", timeout=30)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def destroy(self) -> None:
        for proc in (self.web, self.gate):
            if proc is not None and proc.poll() is None:
                self.net.stop(proc)
        self.net.destroy()

    # -- probing --------------------------------------------------------------------------
    def probe(self, dev: SimDevice, *args: str, timeout: float = 15) -> dict[str, Any]:
        proc = self.net.python(dev.ns, "monitor.chamber_sim.probe", *args, timeout=timeout)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        if not lines:
            raise AssertionError(f"probe {args} printed nothing: {proc.stderr}")
        return json.loads(lines[-1])  # type: ignore[no-any-return]

    def resolve(
        self, dev: SimDevice, name: str, server: str = GATE_IP, qtype: str = "A", tcp: bool = False
    ) -> dict[str, Any]:
        return self.probe(
            dev, "resolve", name, "--server", server, "--type", qtype, *(["--tcp"] if tcp else [])
        )

    def fetch(self, dev: SimDevice, ip: str, host: str, port: int = 80) -> dict[str, Any]:
        return self.probe(dev, "fetch", ip, "--host", host, "--port", str(port))

    def wait_for_sites(self) -> None:
        self.wait_until(
            lambda: self.fetch(self.guest, AGENDA_IP, AGENDA).get("ok"),
            what="fake sites reachable through the gateway",
            timeout=10,
        )

    @staticmethod
    def wait_until(cond: Any, *, what: str, timeout: float = 10, every: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}")

    def log(self, name: str) -> str:
        p = self.tmp / name
        return p.read_text(errors="replace") if p.exists() else ""


def have(tool: str) -> bool:
    return shutil.which(tool) is not None or Path(f"/usr/sbin/{tool}").exists()
