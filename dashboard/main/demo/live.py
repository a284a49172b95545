"""The live chamber: network namespaces with a fake internet, the gate enforcing in its own
namespace, the web app on the host's loopback, and members' and guests' devices making
traffic (:mod:`monitor.chamber_sim`). :meth:`LiveChamber.close` removes all of it."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import TYPE_CHECKING, Any, TextIO

from dashboard.main.demo.processes import (
    checkpoint,
    clean_env,
    cli,
    start_web,
    stop_process,
    tail,
    wait_until,
    web_up,
)
from dashboard.main.demo.setup import GUEST_MACS, MEMBERS, PREFIX, DemoError, DemoOptions
from monitor.chamber_sim import traffic_demo as traffic

if TYPE_CHECKING:
    from pathlib import Path

    from monitor.chamber_sim.netns import ChamberNet, SimDevice

log = logging.getLogger(__name__)


class LiveChamber:
    """Namespaces, fake internet, gate, web and traffic. :meth:`close` removes them all."""

    def __init__(self, opts: DemoOptions, config: Path, stop: threading.Event) -> None:
        from monitor.chamber_sim.netns import ChamberNet

        self.opts = opts
        self.stop = stop
        self.config = config
        prefix = opts.prefix or f"{PREFIX}{uuid.uuid4().hex[:4]}"
        self.net: ChamberNet = ChamberNet(prefix=prefix)
        self.members: list[SimDevice] = []
        self.guests: list[SimDevice] = []
        self.gate: subprocess.Popen[bytes] | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.registration: subprocess.Popen[bytes] | None = None  # chamber-side page
        self.logs = opts.data_dir

    def build_network(self) -> None:
        from monitor.chamber_sim.upstream import start_fake_upstream

        net = self.net
        net.create()
        for i, (_, _, mac) in enumerate(MEMBERS[:self.opts.members], start=1):
            checkpoint(self.stop)
            self.members.append(net.add_device(f"m{i}", mac, i))
        for j, mac in enumerate(GUEST_MACS[:self.opts.guests], start=1):
            checkpoint(self.stop)
            self.guests.append(net.add_device(f"g{j}", mac, self.opts.members + j))
        checkpoint(self.stop)
        for ip in traffic.service_addresses():
            net.add_inet_address(ip)
        net.add_inet_address(traffic.DOH_ADDRESS)
        start_fake_upstream(net, traffic.ZONE, traffic.CNAMES, log=self.logs / "dnsmasq.log",
                            ttl=60)
        net.popen(net.inet, sys.executable, "-m", "monitor.chamber_sim.sites",
                  log=self.logs / "sites.log")

    def _probe(self, dev: SimDevice, *args: str) -> dict[str, Any]:
        proc = self.net.python(dev.ns, "monitor.chamber_sim.probe", *args, timeout=15)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else {}

    def _gate_dead(self) -> str | None:
        if self.gate is not None and self.gate.poll() is not None:
            return (f"the gate exited (status {self.gate.returncode}); its log:\n"
                    + tail(self.logs / "gate.log"))
        return None

    def start_services(self) -> None:
        net, probe_dev = self.net, (self.guests or self.members)[0]
        agenda_ip = traffic.address_of(traffic.AGENDA)
        wait_until(lambda: bool(self._probe(probe_dev, "fetch", agenda_ip, "--host",
                                            traffic.AGENDA).get("ok")),
                   "the fake internet's sites", 15, stop=self.stop)
        self.gate = net.popen(net.gw, *cli("gate"), log=self.logs / "gate.log",
                              env=clean_env(self.config))
        self.web = start_web(self.config, self.logs / "web.log", "--no-registration")
        # The members' registration page on the chamber side, as on a real gateway: only
        # that page, on the gate's chamber address, inside the gate's namespace.
        self.registration = net.popen(net.gw, *cli("web", "--registration-only"),
                                      log=self.logs / "registration.log",
                                      env=clean_env(self.config))
        wait_until(lambda: self._probe(probe_dev, "resolve", traffic.AGENDA)
                   .get("rcode") == "NOERROR", "the gate to answer", 45, self._gate_dead,
                   self.stop)
        wait_until(lambda: web_up(self.opts.port), "the web app", 45, self._web_dead,
                   self.stop)

    def _web_dead(self) -> str | None:
        if self.web is not None and self.web.poll() is not None:
            return (f"the web app exited (status {self.web.returncode}); its log:\n"
                    + tail(self.logs / "web.log"))
        return None

    def start_traffic(self) -> None:
        n = len(self.members)
        for i, dev in enumerate(self.members):
            flags = []
            if i == 0:
                flags.append("--opens-instagram")
            if i == min(1, n - 1):  # the second member (or the only one)
                flags.append("--tries-doh")
            self.net.popen(dev.ns, sys.executable, "-m", "monitor.chamber_sim.traffic_demo",
                           "--role", "member", "--seed", str(i + 1), "--pace",
                           str(self.opts.pace), *flags, log=self.logs / f"traffic-{dev.name}.log")
        for j, dev in enumerate(self.guests):
            self.net.popen(dev.ns, sys.executable, "-m", "monitor.chamber_sim.traffic_demo",
                           "--role", "guest", "--seed", str(100 + j), "--pace",
                           str(self.opts.pace), "--opens-instagram",
                           log=self.logs / f"traffic-{dev.name}.log")

    def problem(self) -> str | None:
        return self._gate_dead() or self._web_dead()

    def close(self) -> None:
        # Traffic first (so nothing is mid-request), then web, then the gate (which leaves
        # its fail-open table behind, as in real life), then the namespaces with everything
        # still inside them.
        gate, web = self.gate, self.web
        for proc in list(self.net.procs):
            if proc is not gate:
                try:
                    self.net.stop(proc, timeout=5)
                except Exception:
                    log.exception("stopping a demo process")
        stop_process(web)
        stop_process(gate, timeout=25)
        self.net.destroy()


def netns_list() -> list[str]:
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def clean_leftovers(out: TextIO = sys.stdout, prefix: str = PREFIX) -> int:
    """Remove namespaces a killed demo left behind (``cgdemo*``), and what runs in them."""
    from monitor.chamber_sim.netns import _run

    if not prefix.startswith(PREFIX):
        raise DemoError(f"only demo namespaces ({PREFIX}*) are ever removed")
    n = 0
    for ns in netns_list():
        if not ns.startswith(prefix):
            continue
        for pid in _run("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _run("ip", "netns", "del", ns, check=False)
        print(f"removed namespace {ns}", file=out)
        n += 1
    print(f"{n} leftover demo namespaces removed", file=out)
    return 0
