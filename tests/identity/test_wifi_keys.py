"""``chamberguard wifi keys``: one passphrase per member, a file hostapd itself accepts."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from api.wifi.service import ALPHABET, wifi_qr_svg
from dashboard.main.cli import main
from tests.identity.test_hostapd import hostapd_conf, run_hostapd, stop


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cfg = tmp_path / "chamberguard.toml"
    cfg.write_text(f"""
[site]
data_dir = "{tmp_path / "data"}"
[identity]
wifi_ssid = "Chamber"
wpa_psk_file = "{tmp_path / "hostapd" / "chamberguard.wpa_psk"}"
""")
    return cfg


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(config), *args]) == 0
    return capsys.readouterr().out


def keys(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict]:
    out = json.loads(run(config, capsys, "wifi", "keys", "--json", "--show", *args))
    return {k["member"]: k for k in out["keys"]}


def test_keys_file_rotation_and_hostapd_accepts_it(config: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Cllr Ada Lovelace", "Cllr Bob O'Neill"):
        run(config, capsys, "member", "add", name)
    first = keys(config, capsys)
    ada, bob = first["Cllr Ada Lovelace"], first["Cllr Bob O'Neill"]
    assert ada["changed"] == bob["changed"] == "created"
    assert ada["passphrase"] != bob["passphrase"]
    groups = ada["passphrase"].split("-")
    assert len(groups) == 5 and all(len(g) == 5 and set(g) <= set(ALPHABET) for g in groups)
    psk = tmp_path / "hostapd" / "chamberguard.wpa_psk"
    assert stat.S_IMODE(psk.stat().st_mode) == 0o600
    lines = [x for x in psk.read_text().splitlines() if not x.startswith("#")]
    assert lines == [f"keyid={ada['key_id']} 00:00:00:00:00:00 {ada['passphrase']}",
                     f"keyid={bob['key_id']} 00:00:00:00:00:00 {bob['passphrase']}"]

    # Run again: nothing changes. Rotate one member: only theirs changes.
    again = keys(config, capsys)
    assert again["Cllr Ada Lovelace"]["passphrase"] == ada["passphrase"]
    assert again["Cllr Ada Lovelace"]["changed"] is None
    rotated = keys(config, capsys, "--rotate", "Cllr Ada Lovelace")
    assert rotated["Cllr Ada Lovelace"]["changed"] == "rotated"
    assert rotated["Cllr Ada Lovelace"]["passphrase"] != ada["passphrase"]
    assert rotated["Cllr Bob O'Neill"]["passphrase"] == bob["passphrase"]
    assert rotated["Cllr Ada Lovelace"]["passphrase"] in psk.read_text()
    # Without --show the passphrases stay off the terminal.
    assert ada["passphrase"][:11] not in run(config, capsys, "wifi", "keys")

    # hostapd's own parser reads the file (driver "none": no radio needed).
    proc, out = run_hostapd(hostapd_conf(tmp_path, psk))
    try:
        if not any("AP-ENABLED" in line for line in out):
            pytest.skip(f"hostapd could not start here: {' / '.join(out[-3:])}")
    finally:
        stop(proc)


def test_hostapd_refuses_what_it_should(tmp_path: Path) -> None:
    """The control for the test above: hostapd really parses the file (a short key fails)."""
    psk = tmp_path / "bad.wpa_psk"
    psk.write_text("keyid=m1 00:00:00:00:00:00 short\n")
    proc, out = run_hostapd(hostapd_conf(tmp_path, psk))
    stop(proc)
    assert any("Invalid PSK" in line for line in out), out


def test_wifi_qr_code_is_an_accessible_svg() -> None:
    svg = wifi_qr_svg('Chamber "<guest>"', "abcde-fghij")
    assert svg.startswith("<svg") and "<title>QR code to join the Wi-Fi network Chamber" in svg
    assert "<guest>" not in svg  # the SSID is escaped in the title


def test_the_deploy_snippet_with_generated_keys_passes_hostapd(
        tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """deploy/hostapd/hostapd-chamber-member-keys.conf as shipped, but for the radio: the
    "none" driver, no bridge, and paths under the test's directory."""
    run(config, capsys, "member", "add", "Cllr Ada Lovelace")
    keys(config, capsys)
    psk = tmp_path / "hostapd" / "chamberguard.wpa_psk"
    snippet = Path(__file__).parents[2] / "deploy" / "hostapd" / "hostapd-chamber-member-keys.conf"
    text = snippet.read_text()
    assert "wpa_psk_file=/etc/hostapd/chamberguard.wpa_psk" in text  # = [identity] default
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        if key in ("bridge", "hw_mode", "channel", "ieee80211n", "ieee80211ac", "ieee80211d",
                   "country_code"):
            continue  # radio settings the "none" driver has no radio for
        line = {"driver": "driver=none", "ctrl_interface": f"ctrl_interface={tmp_path}/ctrl",
                "wpa_psk_file": f"wpa_psk_file={psk}", "interface": "interface=cgtest1"
                }.get(key, line)
        lines.append(line)
    conf = tmp_path / "snippet.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc, out = run_hostapd(conf)
    stop(proc)
    if not any("AP-ENABLED" in line for line in out):
        if any("Invalid" in line or "Line " in line for line in out):
            raise AssertionError(out)
        pytest.skip(f"hostapd could not start here: {' / '.join(out[-3:])}")


def test_member_login_is_set_and_unique(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(config, capsys, "member", "add", "Cllr Ada Lovelace")
    run(config, capsys, "member", "add", "Cllr Bob")
    out = json.loads(run(config, capsys, "member", "login", "Cllr Ada Lovelace", "ALovelace"))
    assert out["radius_user"] == "ALovelace"
    capsys.readouterr()
    assert main(["--config", str(config), "member", "login", "Cllr Bob", "alovelace"]) == 2
    assert "already has the RADIUS user name" in capsys.readouterr().err
    out = json.loads(run(config, capsys, "member", "login", "Cllr Ada Lovelace"))
    assert out["radius_user"] is None


def test_the_gate_tells_hostapd_when_the_command_rewrote_the_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`wifi keys` only writes the file (the web side never talks to hostapd); the gate's
    identity service asks hostapd to re-read it — also when the command, not the gate,
    wrote the new keys — and only when they changed."""
    from monitor.cli_support import ctx
    from monitor.identity.service import IdentityService
    from tests.identity.test_hostapd import FakeHostapd

    fake = FakeHostapd(tmp_path / "wlan0", [])
    cfg = tmp_path / "chamberguard.toml"
    cfg.write_text(f"""
[site]
data_dir = "{tmp_path / "data"}"
[identity]
wifi_ssid = "Chamber"
wpa_psk_file = "{tmp_path / "chamberguard.wpa_psk"}"
hostapd_ctrl = "{tmp_path / "wlan0"}"
""")
    try:
        run(cfg, capsys, "member", "add", "Cllr Ada Lovelace")
        out = json.loads(run(cfg, capsys, "wifi", "keys", "--json"))
        assert out["written"] and "the gate asks hostapd" in out["hostapd_reload"]
        assert "RELOAD_WPA_PSK" not in fake.seen  # the command itself never asks

        settings, db = ctx(argparse.Namespace(config=str(cfg)))
        svc = IdentityService(settings, db, lambda ip, mac: None)
        svc.poll_hostapd()  # the file is already current: hostapd is told anyway, once
        svc.poll_hostapd()
        assert fake.seen.count("RELOAD_WPA_PSK") == 1
        run(cfg, capsys, "wifi", "keys", "--rotate", "Cllr Ada Lovelace")
        svc.poll_hostapd()
        assert fake.seen.count("RELOAD_WPA_PSK") == 2
    finally:
        fake.close()
