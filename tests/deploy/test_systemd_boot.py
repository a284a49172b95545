"""The gateway install under real systemd: a fresh Debian 12 root, the one-command installer,
an upgrade from the previous release with data kept, then a boot with ``systemd-nspawn -b``.

From inside the booted machine it checks what `systemd-analyze verify` cannot: both units run;
the gate has exactly CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE; the hardening leaves
AF_PACKET capture, libnftables and the C fast path working (the gate answers a chamber client's
DNS, the sensor captures); ``systemctl kill -s KILL`` leaves the fail-open table within 10 s
with the outage recorded; the restart restores enforcement.

The machine's network is its own (``--private-network``): a veth pair inside it joins a client
namespace (198.51.100.10) to the gate's chamber interface (198.51.100.1), and a dnsmasq on
203.0.113.53 stands in for the council's resolver. Nothing leaves it. Only the installer's
package downloads, before the boot, use the host's network (the package registries).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import wait_for
from tests.deploy.nspawn import Machine, unavailable_reason

REPO = Path(__file__).resolve().parents[2]
# The release before the installer existed (its own deploy/README.md was the manual install).
PREVIOUS_RELEASE = "b37d39f448ef977a6697f8dd2809eb503aa6ac20"
GATE_CAPS = (1 << 10) | (1 << 12) | (1 << 13)  # NET_BIND_SERVICE, NET_ADMIN, NET_RAW
DB = "/var/lib/chamberguard/chamberguard.db"
ADMIN_PASSWORD = "deployment-test-password-1"

pytestmark = pytest.mark.systemd

TEST_CONFIG = """\
[site]
name = "Deployment Test Council"
room = "chamber"
mode = "enforce"
topology = "inline"
data_dir = "/var/lib/chamberguard"

[chamber]
interface = "chamber0"
subnets = ["198.51.100.0/24"]
gate_address = "198.51.100.1"

[dns]
listen = "198.51.100.1"
upstream = "203.0.113.53:53"

[capture]
enabled = true
"""

# Stands in for the chamber's Wi-Fi and the council's resolver (test scaffolding, not product).
TEST_NETWORK_UNIT = """\
[Unit]
Description=test chamber network: a client namespace on a veth, a stand-in upstream resolver
Before=chamberguard-gate.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip link add chamber0 type veth peer name client0
ExecStart=/usr/sbin/ip addr add 198.51.100.1/24 dev chamber0
ExecStart=/usr/sbin/ip link set chamber0 up
ExecStart=/usr/sbin/ip netns add client
ExecStart=/usr/sbin/ip link set client0 netns client
ExecStart=/usr/sbin/ip -n client addr add 198.51.100.10/24 dev client0
ExecStart=/usr/sbin/ip -n client link set client0 up
ExecStart=/usr/sbin/ip -n client link set lo up
ExecStart=/usr/sbin/ip addr add 203.0.113.53/32 dev lo
ExecStart=/usr/sbin/dnsmasq --listen-address=203.0.113.53 --bind-interfaces --no-resolv \
  --no-hosts --address=/#/203.0.113.80 --pid-file=/run/test-upstream.pid
[Install]
WantedBy=multi-user.target
"""

# One A query from the client namespace to the gate; prints the rcode and the answer count.
DNS_QUERY = r"""
import socket, struct, sys
name = sys.argv[1]
q = struct.pack(">HHHHHH", 0x2a2a, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, ("198.51.100.1", 53))
r, _ = s.recvfrom(4096)
print(r[3] & 15, struct.unpack(">H", r[6:8])[0])
"""


def _copy_tree(src: Path, dst: Path) -> None:
    """The working tree as a user would have it (no venv, build output or git metadata)."""
    ignore = shutil.ignore_patterns(".venv", "var", ".git", "build", "*.so", "__pycache__",
                                    "*.egg-info", ".pytest_cache", ".mypy_cache", ".hypothesis")
    shutil.copytree(src, dst, ignore=ignore, symlinks=True)


def _previous_release(dst: Path) -> str | None:
    """Unpack the previous release; the reason if this clone does not have it."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS_RELEASE],
                             capture_output=True, timeout=120, check=False)
    if archive.returncode != 0:
        return (f"previous release {PREVIOUS_RELEASE[:10]} is not in this clone "
                f"({archive.stderr.decode(errors='replace').strip()})")
    dst.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive.stdout, check=True, timeout=120)
    return None


def _ok(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("systemd-boot")
    previous = base / "previous"
    reason = _previous_release(previous)
    if reason:
        pytest.skip(reason)
    root = base / "root"
    m = Machine.create(root, "systemd,systemd-sysv,dbus,iproute2,ca-certificates")
    try:
        shutil.move(previous, root / "usr/src/previous")
        _copy_tree(REPO, root / "usr/src/chamberguard")
        m.facts.update(_install_previous_then_current(m))
        (root / "etc/chamberguard/chamberguard.toml").write_text(TEST_CONFIG)
        (root / "etc/systemd/system/test-chamber-net.service").write_text(TEST_NETWORK_UNIT)
        (root / "root/dns_query.py").write_text(DNS_QUERY)
        _ok(m.run("systemctl", "enable", "test-chamber-net.service"), "enable the test network")
        m.boot()
        yield m
    finally:
        m.shutdown()
        shutil.rmtree(base, ignore_errors=True)


def _install_previous_then_current(m: Machine) -> dict[str, str]:
    """Install the previous release, add data with its CLI, then install this tree over it."""
    installer = "/usr/src/chamberguard/deploy/install.sh"
    first = _ok(m.run("bash", installer, "--source", "/usr/src/previous", "--topology", "inline",
                      "--password-stdin", "--no-start", input=ADMIN_PASSWORD + "\n"),
                "install of the previous release")
    cg = "runuser -u chamberguard -- env CHAMBERGUARD_CONFIG=/etc/chamberguard/chamberguard.toml " \
         "/opt/chamberguard/.venv/bin/chamberguard"
    _ok(m.run("sh", "-c", f'{cg} member add "Cllr Upgrade Test" && '
                          f'{cg} device add 02:00:5e:10:00:99 --member "Cllr Upgrade Test" '
                          f'--label phone && '
                          f'{cg} meetings add --title "Before the upgrade" '
                          f'--start 2027-01-12T19:00 --end 2027-01-12T21:00'),
        "adding data with the previous release")
    second = _ok(m.run("bash", installer, "--no-start"), "install of this tree over it")
    listing = _ok(m.run("sh", "-c", f"{cg} meetings list --json"), "meetings list")
    member = _ok(m.run("sh", "-c", f'{cg} member export "Cllr Upgrade Test" --format json'),
                 "member export")
    return {"first": first, "second": second, "meetings": listing, "member": member}


def _gate_pids(m: Machine) -> list[int]:
    main = int(_ok(m.sh("systemctl show -p MainPID --value chamberguard-gate"), "MainPID"))
    children = m.sh(f"cat /proc/{main}/task/{main}/children").stdout.split()
    return [main, *map(int, children)]


def _table(m: Machine) -> str:
    return m.sh("nft list table inet chamberguard").stdout


def _enforcing(m: Machine) -> bool:
    table = _table(m)
    return "set restricted" in table and "fail-open" not in table


def _outages(m: Machine) -> int:
    out = _ok(m.sh(f"sqlite3 {DB} \"select count(*) from events where kind = 'outage'\""),
              "count outages")
    return int(out)


def test_upgrade_from_the_previous_release_keeps_the_data(machine: Machine) -> None:
    log = machine.facts
    assert "first IT login: it-admin" in log["first"]
    assert "IT login it-admin exists: left as it is" in log["second"]
    assert "database at revision head" in log["second"]
    assert "Before the upgrade" in log["meetings"]
    assert "02:00:5e:10:00:99" in log["member"]


def test_both_units_run(machine: Machine) -> None:
    for unit in ("chamberguard-gate", "chamberguard-web"):
        assert wait_for(lambda u=unit: machine.sh(f"systemctl is-active {u}").stdout.strip()
                        == "active", timeout=60), machine.sh(f"journalctl -u {unit} -n 40").stdout


def test_gate_has_exactly_its_three_capabilities(machine: Machine) -> None:
    pids = _gate_pids(machine)
    assert len(pids) >= 2, "the guard runs the gate worker as its child"
    for pid in pids:
        status = machine.sh(f"cat /proc/{pid}/status").stdout
        caps = {k: int(v, 16) for k, v in
                (line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))}
        assert caps["CapEff"] == GATE_CAPS, status
        assert caps["CapBnd"] == GATE_CAPS, status


def test_hardened_gate_answers_dns_through_the_c_fast_path(machine: Machine) -> None:
    assert wait_for(lambda: _enforcing(machine), timeout=60), _table(machine)
    worker = _gate_pids(machine)[1]
    assert "_fastgate" in machine.sh(f"cat /proc/{worker}/maps").stdout, \
        "the C fast path did not load under the unit's SystemCallFilter"
    query = "ip netns exec client /opt/chamberguard/.venv/bin/python /root/dns_query.py"
    for _ in range(2):  # the second is answered from the verdict the first one decided
        out = _ok(machine.sh(f"{query} democracy.example.gov.uk"), "DNS query to the gate")
        assert out.split() == ["0", "1"], out  # NOERROR, one answer (from the stand-in upstream)
    journal = machine.sh("journalctl -u chamberguard-gate -b").stdout
    assert "gate fast path: native UDP" in journal, journal[-3000:]


def test_sensor_captures_under_the_hardening(machine: Machine) -> None:
    assert wait_for(lambda: "sensor capturing on chamber0" in
                    machine.sh("journalctl -u chamberguard-gate -b").stdout, timeout=60), \
        machine.sh("journalctl -u chamberguard-gate -b -n 60").stdout


def test_kill_fails_open_records_the_outage_and_restart_restores_enforcement(
        machine: Machine) -> None:
    assert wait_for(lambda: _enforcing(machine), timeout=60), _table(machine)
    before = _outages(machine)
    _ok(machine.sh("systemctl kill -s KILL chamberguard-gate"), "systemctl kill")
    assert wait_for(lambda: "fail-open" in _table(machine), timeout=10), _table(machine)
    assert wait_for(lambda: _outages(machine) > before, timeout=10)
    assert wait_for(lambda: _enforcing(machine), timeout=60), \
        machine.sh("journalctl -u chamberguard-gate -n 60").stdout
    assert machine.sh("systemctl is-active chamberguard-gate").stdout.strip() == "active"


def test_stop_fails_open_promptly_and_start_enforces_again(machine: Machine) -> None:
    """An upgrade or `systemctl stop` must not leave the chamber in limbo: the stop finishes
    well inside the unit's TimeoutStopSec with the fail-open table in place."""
    assert wait_for(lambda: _enforcing(machine), timeout=60), _table(machine)
    stop = machine.sh("start=$(date +%s%N); systemctl stop chamberguard-gate; "
                      "echo $(( ($(date +%s%N) - start) / 1000000 ))", timeout=60)
    took_ms = int(_ok(stop, "systemctl stop").split()[-1])
    assert took_ms < 10_000, machine.sh("journalctl -u chamberguard-gate -n 40").stdout
    assert "fail-open" in _table(machine)
    _ok(machine.sh("systemctl start chamberguard-gate"), "systemctl start")
    assert wait_for(lambda: _enforcing(machine), timeout=60), _table(machine)
