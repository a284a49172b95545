"""``chamberguard demo``: a chamber anyone can start with one command.

Where the kernel lets us build network namespaces (root, iproute2), the demo is real: a fake
internet (dnsmasq resolver, small sites), a gateway namespace running ``chamberguard gate``
(DNS gate + nftables, enforcing), member devices and guests each in their own namespace with
a traffic generator (:mod:`monitor.chamber_sim.traffic_demo`), a meeting in session, and the
web app on the host's loopback sharing the SQLite database. Ctrl-C / SIGTERM removes every
namespace, table and process it made.

Elsewhere it replays a bundled capture (``monitor/chamber_sim/data/demo.pcap``, made by
``deploy/demo/make_demo_pcap.py``) through the passive monitor's path — capture replay →
policy decision → events — so the dashboard still shows attempts and bypasses, and it says so.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from monitor.chamber_sim import traffic_demo as traffic

if TYPE_CHECKING:
    from monitor.chamber_sim.netns import ChamberNet, SimDevice
    from monitor.settings import Settings
    from monitor.store.db import Database

log = logging.getLogger(__name__)

PREFIX = "cgdemo"  # namespaces: cgdemo<hex>-gw, -inet, -m1..., -g1... ('m', 'o' are not hex)
MARKER = ".chamberguard-demo"
DEMO_PCAP = Path(traffic.__file__).with_name("data") / "demo.pcap"  # monitor/chamber_sim/data
GATE_IP6 = "2001:db8:c::1"
ROOM = "chamber"
MEETING_TITLE = "Full Council (demo)"

# (member, device label, MAC). The replay capture uses the same MACs.
MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("Cllr Ada Lovelace", "iPad", "02:00:5e:10:00:01"),
    ("Cllr Mary Seacole", "iPhone", "02:00:5e:10:00:02"),
    ("Cllr Isambard Brunel", "Surface", "02:00:5e:10:00:03"),
    ("Cllr Rosalind Franklin", "Pixel", "02:00:5e:10:00:04"),
    ("Cllr Alan Turing", "iPad", "02:00:5e:10:00:05"),
    ("Cllr Dorothy Hodgkin", "Galaxy Tab", "02:00:5e:10:00:06"),
)
GUEST_MACS: tuple[str, ...] = tuple(f"02:00:5e:20:00:{i:02x}" for i in range(1, 7))
ROLES: tuple[tuple[str, str], ...] = (
    ("clerk", "live dashboard; starts, adjourns and ends the meeting"),
    ("it_admin", "allowlist, devices, users"),
    ("monitoring_officer", "reports and audit"),
)


class DemoError(RuntimeError):
    """The demo cannot start; the message says why (printed without a traceback)."""


class _Interrupted(BaseException):
    """SIGTERM/SIGINT while starting: unwind through the clean-up (raised at a checkpoint,
    never from the signal handler, so no child process is ever left half-started)."""


def checkpoint(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise _Interrupted()


@dataclass
class DemoOptions:
    data_dir: Path
    port: int = 8000
    members: int = 4
    guests: int = 2
    replay: bool = False  # replay the bundled capture even where namespaces work
    prefix: str = ""
    duration: float | None = None  # stop on its own after this many seconds
    pace: float = 1.0  # traffic intervals are multiplied by this
    out: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass
class Logins:
    passwords: dict[str, str]
    meeting_id: int
    meeting_end: datetime


# -- data directory, config, database ----------------------------------------------------
def prepare_data_dir(path: Path) -> None:
    """A demo only ever wipes a directory it made (it carries the marker file)."""
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKER
    if not marker.exists():
        if any(path.iterdir()):
            raise DemoError(f"refusing to use {path}: it is not empty and was not made by the "
                            "demo (pass --data-dir with a new or demo directory)")
        marker.write_text("made by `chamberguard demo`; its contents are thrown away on start\n")
        return
    for child in path.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir():
            for sub in sorted(child.rglob("*"), reverse=True):
                sub.rmdir() if sub.is_dir() else sub.unlink()
            child.rmdir()
        else:
            child.unlink()


def write_config(opts: DemoOptions, *, live: bool) -> Path:
    """The demo's own config (the operator's config file is not used)."""
    from monitor.chamber_sim.netns import GATE_IP
    from monitor.chamber_sim.upstream import FAKE_RESOLVER

    data_dir = opts.data_dir.resolve()
    if live:
        site = 'mode = "enforce"\ntopology = "inline"'
        chamber = (f'interface = "chamber0"\nsubnets = ["198.51.100.0/24", "2001:db8:c::/64"]\n'
                   f'gate_address = "{GATE_IP}"\ngate_address6 = "{GATE_IP6}"')
    else:
        site = 'mode = "monitor-only"\ntopology = "mirror"'
        chamber = 'interface = ""\nsubnets = ["198.51.100.0/24"]'
    text = f"""# Written by `chamberguard demo`; thrown away with the demo's data directory.
[site]
name = "Demo Borough Council"
room = "{ROOM}"
{site}
data_dir = "{data_dir}"

[chamber]
{chamber}

[dns]
listen = "{GATE_IP}"
upstream = "{FAKE_RESOLVER}:53"
max_ttl = 30
doh_addresses = ["{traffic.DOH_ADDRESS}"]

[policy]
democracy_host = "{traffic.AGENDA}"
webcast_host = "{traffic.WEBCAST}"

[web]
host = "127.0.0.1"
port = {opts.port}
{f'registration_host = "{GATE_IP}"' if live else ''}
# plain http on loopback (no TLS proxy in the demo): Secure cookies would never come back
secure_cookies = false

[capture]
enabled = {"true" if live else "false"}
"""
    path = data_dir / "demo.toml"
    path.write_text(text)
    return path


def setup_database(settings: Settings, db: Database, members: int) -> Logins:
    """Migrations, members and their devices, the three logins, a meeting in session now."""
    from allowlist.clock import ClerkAction
    from api.devices.service import register_device
    from api.meetings.service import clerk_action, create_meeting
    from api.members.service import create_member
    from api.users.service import create_user
    from monitor.store.migrate import upgrade

    upgrade(settings.database_url)
    passwords = {role: secrets.token_urlsafe(12) for role, _ in ROLES}
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(hours=3)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    with db.session() as s:
        for name, label, mac in MEMBERS[:members]:
            m = create_member(s, name=name, actor="demo")
            register_device(s, mac=mac, member_id=m.id, label=label, actor="demo")
        for role, password in passwords.items():
            create_user(s, username=role, password=password, role=role, actor="demo")
        meeting = create_meeting(s, title=MEETING_TITLE, start=now - timedelta(minutes=10),
                                 end=end, room=ROOM, actor="demo")
        clerk_action(s, meeting_id=meeting.id, action=ClerkAction.START, actor="clerk",
                     grace=grace)
        meeting_id = meeting.id
    return Logins(passwords, meeting_id, end)


# -- processes ----------------------------------------------------------------------------
def _clean_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERGUARD_")}
    env["CHAMBERGUARD_CONFIG"] = str(config)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_until(cond: Callable[[], bool], what: str, timeout: float,
               alive: Callable[[], str | None] = lambda: None,
               stop: threading.Event | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checkpoint(stop)
        if cond():
            return
        dead = alive()
        if dead:
            raise DemoError(f"{what}: {dead}")
        time.sleep(0.2)
    raise DemoError(f"timed out waiting for {what}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start_web(config: Path, log_path: Path, *flags: str) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(_cli("web", *flags), env=_clean_env(config), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def web_up(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM to the process group (each child leads its own), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


@contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT/SIGHUP set ``stop``: start-up unwinds at its next checkpoint, a running
    demo stops. The handler only sets the flag."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# -- the live chamber ---------------------------------------------------------------------
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
                    + _tail(self.logs / "gate.log"))
        return None

    def start_services(self) -> None:
        net, probe_dev = self.net, (self.guests or self.members)[0]
        agenda_ip = traffic.address_of(traffic.AGENDA)
        wait_until(lambda: bool(self._probe(probe_dev, "fetch", agenda_ip, "--host",
                                            traffic.AGENDA).get("ok")),
                   "the fake internet's sites", 15, stop=self.stop)
        self.gate = net.popen(net.gw, *_cli("gate"), log=self.logs / "gate.log",
                              env=_clean_env(self.config))
        self.web = start_web(self.config, self.logs / "web.log", "--no-registration")
        # The members' registration page on the chamber side, as on a real gateway: only
        # that page, on the gate's chamber address, inside the gate's namespace.
        self.registration = net.popen(net.gw, *_cli("web", "--registration-only"),
                                      log=self.logs / "registration.log",
                                      env=_clean_env(self.config))
        wait_until(lambda: self._probe(probe_dev, "resolve", traffic.AGENDA)
                   .get("rcode") == "NOERROR", "the gate to answer", 45, self._gate_dead,
                   self.stop)
        wait_until(lambda: web_up(self.opts.port), "the web app", 45, self._web_dead,
                   self.stop)

    def _web_dead(self) -> str | None:
        if self.web is not None and self.web.poll() is not None:
            return (f"the web app exited (status {self.web.returncode}); its log:\n"
                    + _tail(self.logs / "web.log"))
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


# -- the replayed chamber -----------------------------------------------------------------
@dataclass
class ReplayStats:
    observations: int = 0
    attempts: int = 0
    bypasses: int = 0
    passes: int = 0


def replay_capture(settings: Settings, db: Database, path: Path = DEMO_PCAP, *,
                   pace: float = 0.0, stop: threading.Event | None = None,
                   writer: Any = None) -> ReplayStats:
    """Replay a capture once through the passive monitor's path — the capture pipeline, then
    the sensor's :class:`~monitor.sensor.ObservationRecorder` with the policy as the database
    has it now — so attempts and bypasses become events (action ``observed``: a replay refuses
    nothing). ``settings`` should say topology ``mirror`` (the recorder then records DNS too).
    ``pace`` > 0 sleeps between packets (capture time × ``pace``) so a dashboard sees them
    arrive live. Events carry the time they are replayed, not the capture's."""
    import dataclasses

    from monitor.capture.pipeline import PipelineConfig
    from monitor.capture.replay import replay
    from monitor.events import EventKind, EventWriter
    from monitor.sensor import ObservationRecorder
    from monitor.store.policy_loader import load_policy

    stats = ReplayStats()
    own = writer is None
    w = writer or EventWriter(db, room=settings.site.room)
    if own:
        w.start()
    try:
        now = datetime.now(UTC)
        with db.session() as s:
            policy = load_policy(s, settings, now)
        recorder = ObservationRecorder(settings, w.submit)
        recorder.set_policy(policy, now)
        config = PipelineConfig(chamber_networks=tuple(settings.chamber.subnets),
                                dedup_window=settings.capture.dedup_seconds)
        first: float | None = None
        started = time.monotonic()
        for obs in replay(path, config):
            if stop is not None and stop.is_set():
                break
            if pace > 0:
                first = obs.ts if first is None else first
                delay = started + (obs.ts - first) * pace - time.monotonic()
                if delay > 0:
                    if stop is None:
                        time.sleep(delay)
                    elif stop.wait(delay):
                        break
            stats.observations += 1
            rec = recorder.observe(dataclasses.replace(obs, ts=time.time()))
            if rec is not None:
                if rec.kind is EventKind.BYPASS:
                    stats.bypasses += 1
                else:
                    stats.attempts += 1
        else:
            stats.passes = 1
    finally:
        if own:
            w.flush()
            w.stop()
    return stats


# -- the command ----------------------------------------------------------------------------
def _banner(opts: DemoOptions, logins: Logins, how: str) -> None:
    from allowlist.clock import LONDON

    out = opts.out
    end = logins.meeting_end.astimezone(LONDON).strftime("%H:%M")
    print(f"chamberguard demo: {how}", file=out)
    print(f"  dashboard:  http://127.0.0.1:{opts.port}/", file=out)
    print("  logins (passwords are shown only now):", file=out)
    for role, what in ROLES:
        print(f"    {role:<20} {logins.passwords[role]:<18} {what}", file=out)
    print(f"  meeting in session: {MEETING_TITLE!r} (id {logins.meeting_id}) until {end} "
          "London time", file=out)
    print(f"  data and logs: {opts.data_dir.resolve()}", file=out)
    print("demo running; Ctrl-C stops it and removes everything it made", file=out, flush=True)


def run_demo(opts: DemoOptions) -> int:
    from monitor.chamber_sim.netns import unavailable_reason
    from monitor.settings import load_settings
    from monitor.store.db import Database

    if not port_free(opts.port):
        raise DemoError(f"port {opts.port} on 127.0.0.1 is in use (pass --port)")
    opts.members = max(1, min(opts.members, len(MEMBERS)))
    opts.guests = max(0, min(opts.guests, len(GUEST_MACS)))
    reason = "--replay was given" if opts.replay else unavailable_reason()
    if reason is None:
        if not (shutil.which("dnsmasq") or Path("/usr/sbin/dnsmasq").exists()):
            reason = "dnsmasq is not installed (apt-get install dnsmasq-base)"
        elif not (shutil.which("nft") or Path("/usr/sbin/nft").exists()):
            reason = "nftables is not installed (apt-get install nftables)"
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()
    with stop_signals(stop):
        try:
            prepare_data_dir(opts.data_dir)
            config = write_config(opts, live=reason is None)
            settings = load_settings(config, env={})
            db = Database(settings.database_url)
            logins = setup_database(settings, db, opts.members)
            checkpoint(stop)
            if reason is None:
                return _run_live(opts, config, logins, stop)
            return _run_replay(opts, config, settings, db, logins, reason, stop)
        except _Interrupted:
            print("demo interrupted while starting; cleaned up", file=opts.out, flush=True)
            return 130
        except Exception:
            if not stop.is_set():
                raise
            # Ctrl-C also reaches the helpers start-up runs (same terminal process group),
            # which then fail: that is the interruption, not an error.
            print("demo interrupted while starting; cleaned up", file=opts.out, flush=True)
            return 130


def _wait(opts: DemoOptions, stop: threading.Event,
          problem: Callable[[], str | None]) -> int:
    deadline = None if opts.duration is None else time.monotonic() + opts.duration
    while not stop.wait(0.5):
        trouble = problem()
        if trouble:
            print(f"chamberguard demo: {trouble}", file=sys.stderr, flush=True)
            return 1
        if deadline is not None and time.monotonic() >= deadline:
            break
    return 0


def _run_live(opts: DemoOptions, config: Path, logins: Logins, stop: threading.Event) -> int:
    chamber = LiveChamber(opts, config, stop)
    try:
        print(f"chamberguard demo: building the chamber (namespaces {chamber.net.prefix}-*)",
              file=opts.out, flush=True)
        chamber.build_network()
        chamber.start_services()
        chamber.start_traffic()
        _banner(opts, logins, f"a simulated chamber on real kernel networking — "
                f"{len(chamber.members)} members' devices and {len(chamber.guests)} guests, "
                "the gate enforcing in namespace " + chamber.net.gw)
        code = _wait(opts, stop, chamber.problem)
    finally:
        print("chamberguard demo: stopping; removing namespaces, tables and processes",
              file=opts.out, flush=True)
        chamber.close()
    left = [ns for ns in _netns_list() if ns.startswith(chamber.net.prefix + "-")]
    if left:
        print(f"chamberguard demo: could not remove {', '.join(left)}", file=sys.stderr)
        return 1
    print("chamberguard demo: stopped, nothing left behind", file=opts.out, flush=True)
    return code


def _run_replay(opts: DemoOptions, config: Path, settings: Settings, db: Database,
                logins: Logins, reason: str, stop: threading.Event) -> int:
    from monitor.events import EventWriter

    if opts.replay:
        print("--replay: replaying a bundled capture instead of building namespaces",
              file=opts.out, flush=True)
    else:
        print(f"namespaces unavailable ({reason}): replaying a bundled capture instead",
              file=opts.out, flush=True)
    web = start_web(config, opts.data_dir / "web.log")
    writer = EventWriter(db, room=settings.site.room)
    writer.start()
    totals = ReplayStats()

    def loop() -> None:
        while not stop.is_set():
            try:
                st = replay_capture(settings, db, DEMO_PCAP, pace=opts.pace * 0.5, stop=stop,
                                    writer=writer)
            except Exception:
                log.exception("replaying the demo capture failed")
                return
            totals.attempts += st.attempts
            totals.bypasses += st.bypasses
            totals.passes += st.passes
            stop.wait(20 * opts.pace)

    worker = threading.Thread(target=loop, name="demo-replay", daemon=True)

    def problem() -> str | None:
        if web.poll() is not None:
            return f"the web app exited; its log:\n{_tail(opts.data_dir / 'web.log')}"
        return None

    try:
        wait_until(lambda: web_up(opts.port), "the web app", 45, problem, stop)
        worker.start()
        _banner(opts, logins, f"replaying {DEMO_PCAP.name} through the monitor (monitor-only: "
                "nothing is enforced)")
        code = _wait(opts, stop, problem)
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(10)
        writer.flush()
        writer.stop()
        stop_process(web)
    print(f"chamberguard demo: stopped ({totals.passes} replays, {totals.attempts} attempts, "
          f"{totals.bypasses} bypasses recorded)", file=opts.out, flush=True)
    return code


def _netns_list() -> list[str]:
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def clean_leftovers(out: TextIO = sys.stdout, prefix: str = PREFIX) -> int:
    """Remove namespaces a killed demo left behind (``cgdemo*``), and what runs in them."""
    from monitor.chamber_sim.netns import _run

    if not prefix.startswith(PREFIX):
        raise DemoError(f"only demo namespaces ({PREFIX}*) are ever removed")
    n = 0
    for ns in _netns_list():
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
