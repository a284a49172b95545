"""systemd units, sysusers and tmpfiles snippets: verified by systemd's own tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import CLI, DEPLOY, REPO

UNITS = DEPLOY / "systemd"
GATE_CAPS = {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"}


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def directives(path: Path) -> dict[str, list[str]]:
    """key → values, in order (systemd allows repeated keys)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def installed_copies(tmp: Path) -> list[Path]:
    """The units as installed from this checkout: /opt/chamberguard → the repository, so the
    ExecStart binaries exist (systemd-analyze verify checks they are executable)."""
    out = []
    for unit in sorted(UNITS.iterdir()):
        dst = tmp / unit.name
        text = unit.read_text().replace("/opt/chamberguard/.venv/bin/chamberguard", CLI)
        dst.write_text(text.replace("/opt/chamberguard", str(REPO)))
        out.append(dst)
    return out


@pytest.mark.skipif(not have("systemd-analyze"), reason="systemd-analyze is not installed "
                    "(apt-get install systemd; the test command installs it as root)")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert Path(CLI).exists()
    units = installed_copies(tmp_path)
    assert {u.name for u in units} >= {"chamberguard-gate.service", "chamberguard-web.service",
                                       "chamberguard-backup.service",
                                       "chamberguard-backup.timer"}
    proc = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True,
                          text=True, timeout=60, check=False)
    # verify only warns (exit 0) about unknown keys: any output at all is a failure here.
    assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), \
        proc.stderr + proc.stdout


@pytest.mark.skipif(not have("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit,limit", [("chamberguard-gate.service", 3.0),
                                        ("chamberguard-web.service", 2.5)])
def test_units_are_hardened(tmp_path: Path, unit: str, limit: float) -> None:
    path = next(u for u in installed_copies(tmp_path) if u.name == unit)
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout + proc.stderr)
    if m is None:
        pytest.skip(f"systemd-analyze security --offline unsupported here: {proc.stderr[:200]}")
    assert float(m.group(1)) <= limit, proc.stdout


def test_gate_unit_has_exactly_its_three_capabilities_and_fails_open() -> None:
    d = directives(UNITS / "chamberguard-gate.service")
    assert set(d["AmbientCapabilities"][0].split()) == GATE_CAPS
    assert set(d["CapabilityBoundingSet"][0].split()) == GATE_CAPS
    assert d["User"] == ["chamberguard"]
    assert d["ExecStart"][0].endswith("/chamberguard gate")
    assert d["ExecStopPost"][0].endswith("/chamberguard gate --fail-open")
    assert d["Restart"] == ["always"] and d["StartLimitIntervalSec"] == ["0"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ReadWritePaths": "/var/lib/chamberguard", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "ProtectKernelTunables": "yes",
                       "SystemCallFilter": "@system-service", "KillMode": "mixed"}.items():
        assert d[key] == [value], key
    assert set(d["RestrictAddressFamilies"][0].split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"}
    # systemd's watchdog: the guard notifies READY/WATCHDOG (monitor/sdnotify.py) while the
    # worker's heartbeat is fresh.
    assert d["Type"] == ["notify"] and d["WatchdogSec"] == ["30s"]


def test_web_unit_is_unprivileged() -> None:
    d = directives(UNITS / "chamberguard-web.service")
    assert d["CapabilityBoundingSet"] == [""] and d["AmbientCapabilities"] == [""]
    assert d["User"] == ["chamberguard-web"] and d["Group"] == ["chamberguard"]
    assert d["ExecStart"][0].endswith("/chamberguard web")
    assert d["PrivateNetwork"] == ["no"] and d["ProtectSystem"] == ["strict"]
    assert d["NoNewPrivileges"] == ["yes"]
    assert "AF_NETLINK" not in d["RestrictAddressFamilies"][0]
    assert "AF_PACKET" not in d["RestrictAddressFamilies"][0]


@pytest.mark.skipif(not (have("systemd-sysusers") and have("systemd-tmpfiles")),
                    reason="systemd-sysusers/systemd-tmpfiles are not installed")
def test_sysusers_and_tmpfiles_create_users_and_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "chamberguard").mkdir(parents=True)
    (root / "etc" / "chamberguard" / "chamberguard.toml").write_text("")
    p = subprocess.run(["systemd-sysusers", f"--root={root}",
                        str(DEPLOY / "sysusers.d" / "chamberguard.conf")],
                       capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    passwd = {ln.split(":")[0]: ln.split(":") for ln in
              (root / "etc" / "passwd").read_text().splitlines()}
    groups = {ln.split(":")[0]: ln.split(":") for ln in
              (root / "etc" / "group").read_text().splitlines()}
    assert {"chamberguard", "chamberguard-web"} <= passwd.keys()
    assert "chamberguard-web" in groups["chamberguard"][3].split(",")
    assert passwd["chamberguard"][6] == "/usr/sbin/nologin"
    p = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create",
                        str(DEPLOY / "tmpfiles.d" / "chamberguard.conf")],
                       capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    uid = int(passwd["chamberguard"][2])
    gid = int(groups["chamberguard"][2])
    data = (root / "var" / "lib" / "chamberguard").stat()
    assert oct(data.st_mode & 0o7777) == "0o2770" and (data.st_uid, data.st_gid) == (uid, gid)
    cfg = (root / "etc" / "chamberguard" / "chamberguard.toml").stat()
    assert oct(cfg.st_mode & 0o777) == "0o640" and cfg.st_gid == gid
    assert (root / "var" / "backups" / "chamberguard").is_dir()
