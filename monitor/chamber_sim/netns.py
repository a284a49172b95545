"""Build and tear down the chamber: devices ─ bridge in ``gw`` ─ ``inet`` (fake internet).

<p>-dN (one namespace per device: a phone is its own host)
    eth0 198.51.100.(10+N)/24, MAC as registered
<p>-gw  bridge chamber0 198.51.100.1/24 (the gate), wan0 203.0.113.1/24, forwarding on
<p>-inet eth0 203.0.113.2/24 + service addresses (fake resolver, sites, DoH, ...);
         IPv6 services in 2001:db8:e::/48 (routed via 2001:db8:f::2)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CHAMBER_NET = "198.51.100"
INET_NET = "203.0.113"
GATE_IP = f"{CHAMBER_NET}.1"
WAN_IP = f"{INET_NET}.1"
CHAMBER_IF = "chamber0"


class NetnsUnavailable(RuntimeError):
    """The kernel or our privileges refuse namespaces; tests skip with this reason."""


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def unavailable_reason() -> str | None:
    """None if we can build namespaces with veths here, else why not (printed on skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the test command as root)"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    name = f"cgprobe-{uuid.uuid4().hex[:6]}"
    try:
        proc = _run("ip", "netns", "add", name, check=False)
        if proc.returncode != 0:
            return f"kernel refused 'ip netns add': {proc.stderr.strip()}"
        proc = _run(
            "ip", "-n", name, "link", "add", "a0", "type", "veth", "peer", "name", "b0", check=False
        )
        if proc.returncode != 0:
            return f"kernel refused a veth pair: {proc.stderr.strip()}"
    finally:
        _run("ip", "netns", "del", name, check=False)
    return None


@dataclass
class SimDevice:
    name: str
    ns: str
    mac: str
    ip: str
    ip6: str | None = None


@dataclass
class ChamberNet:
    prefix: str = field(default_factory=lambda: f"cg{uuid.uuid4().hex[:5]}")
    devices: dict[str, SimDevice] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    inet_addresses: list[str] = field(default_factory=list)

    @property
    def gw(self) -> str:
        return f"{self.prefix}-gw"

    @property
    def inet(self) -> str:
        return f"{self.prefix}-inet"

    def namespaces(self) -> list[str]:
        return [self.gw, self.inet, *(d.ns for d in self.devices.values())]

    # -- building ----------------------------------------------------------------------
    def create(self) -> ChamberNet:
        reason = unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        try:
            self._create()
        except Exception:
            self.destroy()
            raise
        return self

    def _create(self) -> None:
        gw, inet = self.gw, self.inet
        for ns in (gw, inet):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        # A fixed bridge MAC: otherwise Linux takes the lowest port's MAC, which changes as
        # devices join and leaves their ARP entries for the gate pointing at the old one.
        _run("ip", "-n", gw, "link", "add", CHAMBER_IF, "address", "02:00:5e:00:00:01", "type",
             "bridge")
        _run("ip", "-n", gw, "addr", "add", f"{GATE_IP}/24", "dev", CHAMBER_IF)
        _run("ip", "-n", gw, "addr", "add", "2001:db8:c::1/64", "dev", CHAMBER_IF, "nodad")
        _run("ip", "-n", gw, "link", "set", CHAMBER_IF, "up")
        # The upstream link is created inside gw and its peer moved straight into inet.
        _run(
            "ip",
            "-n",
            gw,
            "link",
            "add",
            "wan0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            inet,
        )
        _run("ip", "-n", gw, "addr", "add", f"{WAN_IP}/24", "dev", "wan0")
        _run("ip", "-n", gw, "addr", "add", "2001:db8:f::1/64", "dev", "wan0", "nodad")
        _run("ip", "-n", gw, "link", "set", "wan0", "up")
        # Service addresses live on inet's loopback; IPv6 has no ARP-style answering for
        # them, so their prefixes are routed rather than on-link.
        _run("ip", "-n", gw, "-6", "route", "add", "2001:db8:e::/48", "via", "2001:db8:f::2")
        _run("ip", "-n", inet, "addr", "add", f"{INET_NET}.2/24", "dev", "eth0")
        _run("ip", "-n", inet, "addr", "add", "2001:db8:f::2/64", "dev", "eth0", "nodad")
        _run("ip", "-n", inet, "link", "set", "eth0", "up")
        _run("ip", "-n", inet, "route", "add", f"{CHAMBER_NET}.0/24", "via", WAN_IP)
        _run("ip", "-n", inet, "-6", "route", "add", "2001:db8:c::/64", "via", "2001:db8:f::1")
        for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
            _run("ip", "netns", "exec", gw, "sysctl", "-qw", f"{key}=1")

    def add_inet_address(self, ip: str) -> None:
        """A service address in the fake internet (a site, a resolver, a DoH server)."""
        if ip in self.inet_addresses:
            return
        cidr = f"{ip}/128" if ":" in ip else f"{ip}/32"
        _run("ip", "-n", self.inet, "addr", "add", cidr, "dev", "lo")
        self.inet_addresses.append(ip)

    def add_device(self, name: str, mac: str, index: int) -> SimDevice:
        ns = f"{self.prefix}-{name}"
        ip = f"{CHAMBER_NET}.{10 + index}"
        ip6 = f"2001:db8:c::{10 + index:x}"
        _run("ip", "netns", "add", ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        peer = f"vd{index}"
        _run(
            "ip",
            "-n",
            ns,
            "link",
            "add",
            "eth0",
            "address",
            mac,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            self.gw,
        )
        _run("ip", "-n", self.gw, "link", "set", peer, "master", CHAMBER_IF)
        _run("ip", "-n", self.gw, "link", "set", peer, "up")
        _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _run("ip", "-n", ns, "addr", "add", f"{ip6}/64", "dev", "eth0", "nodad")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", GATE_IP)
        _run("ip", "-n", ns, "-6", "route", "add", "default", "via", "2001:db8:c::1")
        dev = SimDevice(name, ns, mac, ip, ip6)
        self.devices[name] = dev
        return dev

    # -- running things inside -----------------------------------------------------------
    def run(
        self,
        ns: str,
        *cmd: str,
        timeout: float = 30,
        check: bool = False,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            env=env,
        )

    def popen(
        self, ns: str, *cmd: str, log: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def python(
        self, ns: str, module: str, *args: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return self.run(ns, sys.executable, "-m", module, *args, timeout=timeout)

    # -- teardown ------------------------------------------------------------------------
    def stop(
        self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10
    ) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def destroy(self) -> None:
        for proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception:
                pass
        self.procs.clear()
        for ns in self.namespaces():
            # Anything still running inside (e.g. a forked helper) is killed before deletion.
            pids = _run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _run("ip", "netns", "del", ns, check=False)
        time.sleep(0.05)
