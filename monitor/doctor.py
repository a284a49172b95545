"""``chamberguard doctor``: what this host is missing to run the gate, in plain words.

Every check looks, it never changes anything (the nftables check creates a scratch table and
deletes it again). A check is *required* when the configured topology cannot work without
it; any required check that fails makes the exit status 1. Best-effort checks (DHCP, clock)
say "unknown" rather than guess.

The only packet the doctor sends is one DNS query to the configured upstream resolver
(``--offline`` skips it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from monitor.settings import Settings

Status = Literal["ok", "warn", "fail", "unknown", "skip"]

CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_NAMES = {CAP_NET_ADMIN: "CAP_NET_ADMIN", CAP_NET_RAW: "CAP_NET_RAW",
             CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE"}
DEFAULT_DHCP_CONFIGS = ("/etc/dnsmasq.conf", "/etc/dnsmasq.d", "/etc/kea/kea-dhcp4.conf",
                        "/etc/kea/kea-dhcp6.conf")
UPSTREAM_TIMEOUT = 2.0
REQUIRED_PRESETS = ("moderngov",)  # without it members cannot reach their papers
RECOMMENDED_PRESETS = ("public-i", "os-connectivity", "certificates")


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    required: bool = False

    @property
    def failed(self) -> bool:
        return self.required and self.status == "fail"


# -- capabilities ---------------------------------------------------------------------------
def effective_capabilities(status_text: str | None = None) -> int:
    """The CapEff mask of this process (from /proc/self/status)."""
    if status_text is None:
        status_text = Path("/proc/self/status").read_text()
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def needed_capabilities(settings: Settings) -> list[int]:
    topo = settings.site.topology
    if topo == "inline":
        return [CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE]
    caps = []
    if topo == "resolver-only" and settings.dns.port < 1024:
        caps.append(CAP_NET_BIND_SERVICE)
    if settings.capture.enabled or topo == "mirror":
        caps.append(CAP_NET_RAW)
    return caps


def check_capabilities(settings: Settings, status_text: str | None = None) -> Check:
    eff = effective_capabilities(status_text)
    need = needed_capabilities(settings)
    missing = [CAP_NAMES[c] for c in need if not eff >> c & 1]
    have = [n for c, n in CAP_NAMES.items() if eff >> c & 1]
    if missing:
        return Check("capabilities", "fail",
                     f"missing {', '.join(missing)} (uid {os.geteuid()}); the gate gets them "
                     "from chamberguard-gate.service (AmbientCapabilities) or runs as root",
                     True)
    return Check("capabilities", "ok", "effective: " + (", ".join(have) or "none needed"),
                 bool(need))


# -- nftables -------------------------------------------------------------------------------
def check_nftables(settings: Settings) -> Check:
    if settings.site.topology != "inline" or not settings.nftables.enabled:
        why = ("nftables disabled in [nftables]" if settings.site.topology == "inline"
               else f"topology {settings.site.topology}: no IP-level enforcement")
        return Check("nftables", "skip", why)
    from monitor.nft.libnft import Nftables, NftError

    name = f"cgdoctor{os.getpid()}"
    t = {"family": "inet", "table": name}
    try:
        nft = Nftables()
    except NftError as exc:
        return Check("nftables", "fail", str(exc), True)
    try:
        # What the gate's table needs: a nat hook, a filter hook, a set with timeouts.
        nft.run([
            {"add": {"table": {"family": "inet", "name": name}}},
            {"add": {"chain": {**t, "name": "pre", "type": "nat", "hook": "prerouting",
                               "prio": -100, "policy": "accept"}}},
            {"add": {"chain": {**t, "name": "fwd", "type": "filter", "hook": "forward",
                               "prio": 0, "policy": "accept"}}},
            {"add": {"set": {**t, "name": "s", "type": ["ether_addr", "ipv4_addr"],
                             "flags": ["timeout"]}}},
        ])
    except NftError as exc:
        return Check("nftables", "fail", f"cannot create a table: {exc}", True)
    finally:
        try:
            nft.run([{"add": {"table": {"family": "inet", "name": name}}},
                     {"delete": {"table": {"family": "inet", "name": name}}}])
        except NftError:
            pass
        nft.close()
    return Check("nftables", "ok", f"created and deleted a scratch table (inet {name}) with "
                 "nat and filter hooks and a timeout set", True)


# -- interface and addresses ----------------------------------------------------------------
def _addresses(iface: str) -> list[str]:
    import netifaces

    out: list[str] = []
    info = netifaces.ifaddresses(iface)
    for fam in (netifaces.AF_INET, netifaces.AF_INET6):
        out += [a["addr"].split("%")[0] for a in info.get(fam, []) if a.get("addr")]
    return out


def check_interface(settings: Settings) -> list[Check]:
    import netifaces

    topo = settings.site.topology
    iface = (settings.capture.interface or settings.chamber.interface) if topo == "mirror" \
        else settings.chamber.interface
    key = "[capture] interface" if topo == "mirror" and settings.capture.interface \
        else "[chamber] interface"
    if not iface:
        return [Check("interface", "fail", f"{key} is empty: `chamberguard run` would start "
                      "the simulated chamber; name the chamber Wi-Fi/VLAN interface", True)]
    names = netifaces.interfaces()
    if iface not in names:
        return [Check("interface", "fail", f"no interface {iface!r} on this host "
                      f"(there are: {', '.join(names)})", True)]
    try:
        state = Path(f"/sys/class/net/{iface}/operstate").read_text().strip()
    except OSError:
        state = "unknown"
    addrs = _addresses(iface)
    checks = [Check("interface", "warn" if state == "down" else "ok",
                    f"{iface} exists, link {state}, addresses {', '.join(addrs) or 'none'}",
                    True)]
    if topo == "mirror":
        return checks
    local = {a for n in names for a in _addresses(n)}
    gate, listen = settings.chamber.gate_address, settings.dns.listen
    if listen not in local and listen not in ("0.0.0.0", "::"):
        checks.append(Check("gate address", "fail", f"[dns] listen {listen} is not an address "
                            "of this host: the gate cannot listen there", True))
    elif gate not in addrs:
        checks.append(Check("gate address", "warn", f"[chamber] gate_address {gate} is not on "
                            f"{iface}; devices must be able to reach it as their resolver"))
    else:
        checks.append(Check("gate address", "ok", f"{gate} on {iface}; DNS listens on {listen}",
                            True))
    return checks


def check_forwarding(settings: Settings) -> Check:
    if settings.site.topology != "inline":
        return Check("ip forwarding", "skip", f"topology {settings.site.topology}: routing "
                     "stays on the council's equipment")
    try:
        v = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    except OSError as exc:
        return Check("ip forwarding", "unknown", f"cannot read net.ipv4.ip_forward: {exc}")
    if v == "1":
        return Check("ip forwarding", "ok", "net.ipv4.ip_forward = 1", True)
    return Check("ip forwarding", "fail", "net.ipv4.ip_forward = 0: an inline gateway must "
                 "route (install deploy/sysctl.d/60-chamberguard.conf)", True)


# -- DHCP -----------------------------------------------------------------------------------
def _dhcp_files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
    return out


_IPISH = re.compile(r"^[0-9a-fA-F:.]+$")


def dnsmasq_dns_servers(text: str) -> tuple[list[str], bool]:
    """DNS servers a dnsmasq config hands out, and whether it serves DHCP at all."""
    servers: list[str] = []
    serves = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("dhcp-range", "dhcp-host")):
            serves = True
        if not line.startswith(("dhcp-option=", "dhcp-option-force=")):
            continue
        parts = [p.strip() for p in line.split("=", 1)[1].split(",")]
        for i, p in enumerate(parts):
            if p in ("6", "option:dns-server", "option6:dns-server", "option6:23"):
                servers += [v.strip("[]") for v in parts[i + 1:] if _IPISH.match(v.strip("[]"))]
                break
    return servers, serves


def _strip_json_comments(text: str) -> str:
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i) or c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def kea_dns_servers(text: str) -> list[str]:
    """``domain-name-servers`` (v4) / ``dns-servers`` (v6) anywhere in a Kea config."""
    try:
        doc: Any = json.loads(_strip_json_comments(text))
    except json.JSONDecodeError:
        doc = None
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("name") in ("domain-name-servers", "dns-servers") or (
                    node.get("code") in (6, 23) and "data" in node):
                found.extend(s.strip() for s in str(node.get("data", "")).split(",") if s.strip())
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    if doc is not None:
        walk(doc)
    else:  # not JSON after all: a best-effort look for the option
        for m in re.finditer(r'"(?:domain-name-servers|dns-servers)"[^}]*?"data"\s*:\s*"([^"]*)"',
                             text):
            found += [s.strip() for s in m.group(1).split(",") if s.strip()]
    return found


def check_dhcp(settings: Settings, paths: Iterable[str] | None = None) -> Check:
    if settings.site.topology == "mirror":
        return Check("dhcp", "skip", "topology mirror: devices keep their own resolver")
    gate = settings.chamber.gate_address
    gate6 = settings.chamber.gate_address6
    files = _dhcp_files(paths if paths is not None else DEFAULT_DHCP_CONFIGS)
    seen: list[str] = []
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        if "kea" in f.name.lower() or '"Dhcp4"' in text or '"Dhcp6"' in text:
            servers, kind = kea_dns_servers(text), "Kea"
        else:
            servers, serves = dnsmasq_dns_servers(text)
            kind = "dnsmasq"
            if serves and not servers:
                seen.append(f"{f} (dnsmasq hands out its own address: set "
                            f"dhcp-option=option:dns-server,{gate} and port=0)")
                continue
        if not servers:
            continue
        if gate in servers or (gate6 and gate6 in servers):
            return Check("dhcp", "ok", f"{kind} config {f} hands out {', '.join(servers)} as DNS")
        seen.append(f"{f} hands out {', '.join(servers)}")
    if seen:
        return Check("dhcp", "warn", f"no DHCP config here hands out the gate {gate} as DNS: "
                     + "; ".join(seen))
    return Check("dhcp", "unknown", f"unknown — check your DHCP server hands out {gate} as DNS "
                 "(no dnsmasq or Kea config on this host)")


# -- database, presets, gate heartbeat ------------------------------------------------------
def check_data_dir(settings: Settings) -> Check:
    d = settings.site.data_dir
    if not d.exists():
        return Check("data dir", "fail", f"{d} does not exist (systemd-tmpfiles --create "
                     "deploy/tmpfiles.d/chamberguard.conf)", True)
    if not os.access(d, os.W_OK | os.X_OK):
        return Check("data dir", "fail", f"{d} is not writable by uid {os.geteuid()}", True)
    return Check("data dir", "ok", f"{d.resolve()} writable", True)


def check_database(settings: Settings) -> tuple[Check, Any]:
    """(check, Database or None). Never creates a database that is not there."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from monitor.store.db import Database
    from monitor.store.migrate import alembic_config

    url = settings.database_url
    kind = url.split(":", 1)[0]
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return Check("database", "fail", f"no database at {path}: run "
                         "`chamberguard db upgrade`", True), None
    try:
        db = Database(url)
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:  # noqa: BLE001 - any driver error means "unreachable"
        msg = str(exc).splitlines()[0][:200]
        return Check("database", "fail", f"{kind} database unreachable: {msg}", True), None
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if current != heads:
        return Check("database", "fail", f"{kind} database at revision "
                     f"{', '.join(sorted(current)) or 'none'}, code expects "
                     f"{', '.join(sorted(heads))}: run `chamberguard db upgrade`", True), db
    return Check("database", "ok", f"{kind} database reachable, migrations at head "
                 f"({', '.join(sorted(heads))})", True), db


def check_presets(settings: Settings, db: Any) -> Check:
    if db is None:
        return Check("presets", "unknown", "database unavailable", True)
    from monitor.store.policy_loader import enabled_presets

    with db.session() as s:
        on = enabled_presets(s, settings)
    missing = [p for p in REQUIRED_PRESETS if p not in on]
    if missing:
        return Check("presets", "fail", f"preset {', '.join(missing)} is off: members cannot "
                     f"reach their papers during meetings (on: {', '.join(on) or 'none'})", True)
    notes = []
    off = [p for p in RECOMMENDED_PRESETS if p not in on]
    if off:
        notes.append(f"off: {', '.join(off)}")
    default = type(settings.policy)()
    for key in ("democracy_host", "webcast_host"):
        if getattr(settings.policy, key) == getattr(default, key):
            notes.append(f"[policy] {key} is still the example {getattr(default, key)}")
    detail = f"on: {', '.join(on)}" + (f"; {'; '.join(notes)}" if notes else "")
    return Check("presets", "warn" if notes else "ok", detail, True)


def check_gate(settings: Settings, db: Any) -> Check:
    if db is None:
        return Check("gate", "unknown", "database unavailable")
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.heartbeat import GateState, read_heartbeat

    now = datetime.now(UTC)
    try:  # a database behind the code fails here; the database check says to upgrade it
        with db.session() as s:
            hb = read_heartbeat(s, settings.site.room)
    except SQLAlchemyError as exc:
        return Check("gate", "unknown", f"cannot read the heartbeat: {type(exc).__name__}")
    if hb is None:
        return Check("gate", "warn", f"no gate has run for room {settings.site.room!r} yet")
    age = (now - hb.seen_at).total_seconds()
    if hb.state(now) is GateState.DOWN:
        why = "stopped" if hb.stopped else "no heartbeat"
        return Check("gate", "warn", f"not running: last seen {hb.seen_at:%Y-%m-%d %H:%M:%S} "
                     f"UTC ({why})")
    return Check("gate", "ok", f"running (pid {hb.pid}, seen {age:.0f} s ago, "
                 f"{'enforcing' if hb.enforcing else 'not enforcing'})")


def check_components(settings: Settings, db: Any, now: datetime | None = None) -> list[Check]:
    """One line per supervised part, from the typed health in the gate's heartbeat. A part
    that is down fails (required) when it leaves nothing recorded; otherwise it warns."""
    if db is None:
        return []
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.health import Component, State, not_recording, read_components
    from monitor.heartbeat import STALE_AFTER, read_heartbeat

    now = now or datetime.now(UTC)
    try:
        with db.session() as s:
            hb = read_heartbeat(s, settings.site.room)
    except SQLAlchemyError:
        return []  # a database behind the code: the database check says to upgrade it
    if hb is None:
        return []  # check_gate says so
    raw, seen = hb.components, hb.seen_at
    comps = [h for h in read_components(raw, seen_at=seen, now=now,
                                        stale_after=STALE_AFTER)
             if h.component is not Component.GATE]
    silent = not_recording(comps, settings.site.topology)
    out = []
    by_state: dict[State, Status] = {State.UP: "ok", State.DEGRADED: "warn",
                                     State.DOWN: "fail", State.OFF: "ok"}
    for h in comps:
        status = by_state[h.state]
        if h.state is State.OFF and h.component is Component.SENSOR:
            status = "fail" if settings.site.topology == "mirror" else "warn"
        since = "" if h.state is State.UP else f" since {h.since:%Y-%m-%d %H:%M:%S} UTC"
        out.append(Check(str(h.component), status, f"{h.state}{since}: {h.why}".rstrip(": "),
                         required=silent is not None and h.component is Component.SENSOR))
    return out


# -- clock ----------------------------------------------------------------------------------
TIME_ERROR = 5
STA_UNSYNC = 0x0040


def adjtimex_synchronised() -> bool | None:
    """The kernel's view (what NTP daemons set): True/False, None if it cannot be asked."""
    if sys.platform != "linux" or ctypes.sizeof(ctypes.c_long) != 8:
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
    state = libc.adjtimex(buf)
    if state < 0:
        return None
    status = int.from_bytes(buf.raw[40:44], sys.byteorder)  # LP64 offset of 'status'
    return state != TIME_ERROR and not status & STA_UNSYNC


def check_clock(run: Callable[..., Any] = subprocess.run) -> Check:
    why = "reports and evidence carry times: keep NTP on (systemd-timesyncd or chrony)"
    if shutil.which("timedatectl"):
        try:
            p = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                    capture_output=True, text=True, timeout=5, check=False)
            if p.returncode == 0 and p.stdout.strip() in ("yes", "no"):
                ok = p.stdout.strip() == "yes"
                return Check("clock", "ok" if ok else "warn",
                             "synchronised (timedatectl)" if ok else f"not synchronised "
                             f"(timedatectl); {why}")
        except (OSError, subprocess.TimeoutExpired):
            pass
    synced = adjtimex_synchronised()
    if synced is None:
        return Check("clock", "unknown", f"cannot tell; {why}")
    return Check("clock", "ok" if synced else "warn",
                 "synchronised (kernel adjtimex)" if synced
                 else f"not synchronised (kernel adjtimex says unsynchronised); {why}")


# -- upstream resolver ----------------------------------------------------------------------
def query_upstream(host: str, port: int, name: str, timeout: float = UPSTREAM_TIMEOUT
                   ) -> tuple[int, int, float]:
    """(rcode, answers, seconds) for one A query; raises OSError/TimeoutError."""
    from monitor import dnswire

    qid = random.randrange(1, 65536)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        t0 = time.monotonic()
        s.sendto(dnswire.make_query(name, dnswire.TYPE_A, qid), (host, port))
        deadline = t0 + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data, _ = s.recvfrom(4096)
            msg = dnswire.parse_message(data)
            if msg.qid == qid:
                return msg.rcode, len(msg.answers), time.monotonic() - t0


def check_upstream(settings: Settings, offline: bool = False) -> Check:
    if settings.site.topology == "mirror":
        return Check("upstream dns", "skip", "topology mirror: the gate answers nobody")
    if offline:
        return Check("upstream dns", "skip", "--offline: nothing sent", True)
    from monitor.hostport import parse_hostport

    host, port = parse_hostport(settings.dns.upstream)
    name = settings.policy.democracy_host
    try:
        rcode, n, secs = query_upstream(host, port, name)
    except TimeoutError:
        return Check("upstream dns", "fail", f"no answer from {host}:{port} within "
                     f"{UPSTREAM_TIMEOUT:.0f} s", True)
    except OSError as exc:
        return Check("upstream dns", "fail", f"{host}:{port} unreachable: {exc}", True)
    except Exception as exc:  # noqa: BLE001 - garbage back
        return Check("upstream dns", "fail", f"{host}:{port} answered garbage: {exc}", True)
    words = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}.get(rcode, str(rcode))
    status: Status = "ok" if rcode == 0 else "warn"
    return Check("upstream dns", status, f"{host}:{port} answered {name} in {secs * 1000:.0f} ms "
                 f"({words}, {n} records)", True)


# -- the demo's simulated chamber --------------------------------------------------------------
def is_demo(settings: Settings) -> bool:
    """The configuration `chamberguard demo` (and `make run`) wrote for itself: its data
    directory carries the demo's marker."""
    from monitor.chamber_sim import is_demo_dir

    return is_demo_dir(settings.site.data_dir)


def check_demo_chamber(settings: Settings) -> Check:
    """What the demo itself needs: namespaces for the live chamber, nothing for the replay."""
    if not settings.chamber.interface:
        return Check("demo chamber", "ok", "replays a bundled capture through the monitor "
                     "(monitor-only): needs no namespaces or privileges", True)
    from monitor.chamber_sim.netns import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        return Check("demo chamber", "fail", f"the live demo cannot build its network "
                     f"namespaces here: {reason} (`chamberguard demo --replay` needs none)", True)
    missing = [p for p in ("dnsmasq", "nft")
               if not (shutil.which(p) or Path(f"/usr/sbin/{p}").exists())]
    if missing:
        return Check("demo chamber", "fail", f"the live demo needs {' and '.join(missing)} "
                     "(deploy/bootstrap.sh run installs them)", True)
    return Check("demo chamber", "ok", "network namespaces, dnsmasq and nftables available: "
                 "the demo builds its chamber on real kernel networking", True)


def diagnose_demo(settings: Settings) -> list[Check]:
    """The demo's checks. Its chamber interface, routing, DHCP and upstream resolver live
    inside its own network namespaces, so this host's are not asked about (and nothing is
    sent: the fake internet is not reachable from here)."""
    inside = ("the demo's chamber is simulated in its own network namespaces"
              if settings.chamber.interface else "the demo replays a capture, with no chamber "
              "network")
    checks = [check_demo_chamber(settings), check_nftables(settings),
              check_capabilities(settings),
              Check("interface", "skip", f"{inside}: this host needs no chamber interface"),
              Check("ip forwarding", "skip", f"{inside}: this host routes nothing for it"),
              Check("dhcp", "skip", "the demo's devices have fixed addresses"),
              check_data_dir(settings)]
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        db_check, db = Check("database", "fail", f"no database at {url.removeprefix('sqlite:///')}"
                             ": the demo creates it when it starts (`make run` or "
                             "`chamberguard demo`)", True), None
    else:
        db_check, db = check_database(settings)
    checks += [db_check, check_presets(settings, db), check_gate(settings, db),
               *check_components(settings, db), check_clock(),
               Check("upstream dns", "skip", f"{inside}: its resolver is the demo's own, "
                     "so nothing is sent from this host")]
    if db is not None:
        db.dispose()
    return checks


# -- all together ---------------------------------------------------------------------------
def diagnose(settings: Settings, *, dhcp_configs: Iterable[str] | None = None,
             offline: bool = False) -> list[Check]:
    if is_demo(settings):
        return diagnose_demo(settings)
    checks = [check_nftables(settings), check_capabilities(settings)]
    checks += check_interface(settings)
    checks += [check_forwarding(settings), check_dhcp(settings, dhcp_configs),
               check_data_dir(settings)]
    db_check, db = check_database(settings)
    checks += [db_check, check_presets(settings, db), check_gate(settings, db),
               *check_components(settings, db), check_clock(), check_upstream(settings, offline)]
    if db is not None:
        db.dispose()
    return checks


def render(settings: Settings, checks: list[Check], out: TextIO) -> None:
    s = settings.site
    demo = " (the demo's simulated chamber)" if is_demo(settings) else ""
    print(f"chamberguard doctor — {s.name}, room {s.room}, topology {s.topology}, "
          f"mode {s.mode.value}{demo}", file=out)
    w = max(len(c.name) for c in checks) + 2
    print(f"{'CHECK':<{w}}{'STATUS':<9}{'NEED':<10}DETAIL", file=out)
    for c in checks:
        print(f"{c.name:<{w}}{c.status:<9}{'required' if c.required else 'optional':<10}"
              f"{c.detail}", file=out)
    failed = [c.name for c in checks if c.failed]
    if failed:
        print(f"\n{len(failed)} required check(s) failed: {', '.join(failed)}", file=out)
    else:
        print("\nnothing required is missing", file=out)


def run_doctor(settings: Settings, *, as_json: bool = False,
               dhcp_configs: Iterable[str] | None = None, offline: bool = False,
               out: TextIO | None = None) -> int:
    out = out or sys.stdout
    checks = diagnose(settings, dhcp_configs=dhcp_configs, offline=offline)
    ok = not any(c.failed for c in checks)
    if as_json:
        json.dump({"ok": ok, "site": settings.site.name, "room": settings.site.room,
                   "topology": settings.site.topology, "mode": settings.site.mode.value,
                   "demo": is_demo(settings), "checks": [asdict(c) for c in checks]}, out, indent=2)
        out.write("\n")
    else:
        render(settings, checks, out)
    return 0 if ok else 1
