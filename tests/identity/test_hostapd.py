"""hostapd's control interface: parsing, a fake control socket, and the real hostapd."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.identity.hostapd import HostapdCtrl, HostapdError, Station, parse_event, parse_sta

STA_A = "02:00:5e:10:00:01\nflags=[AUTH][ASSOC][AUTHORIZED]\naid=1\nkeyid=m7\nrx_packets=10\n"
STA_B = "06:11:22:33:44:55\nflags=[AUTH][ASSOC]\naid=2\n"


def test_parse_sta_and_events() -> None:
    assert parse_sta(STA_A) == Station("02:00:5e:10:00:01", "m7")
    assert parse_sta(STA_B) == Station("06:11:22:33:44:55", None)
    assert parse_sta("") is None and parse_sta("FAIL\n") is None
    assert parse_event("<3>AP-STA-CONNECTED 02:00:5e:10:00:01 keyid=m7") == Station(
        "02:00:5e:10:00:01", "m7")
    assert parse_event("AP-STA-CONNECTED 02:00:5e:10:00:01") == Station(
        "02:00:5e:10:00:01", None)
    assert parse_event("<3>AP-STA-DISCONNECTED 02:00:5e:10:00:01") is None
    assert parse_event("<3>AP-STA-CONNECTED junk keyid=m7") is None


class FakeHostapd:
    """Answers like hostapd's ctrl_iface: to the sender's own bound address."""

    def __init__(self, path: Path, stations: list[str]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.stations = stations
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _answer(self, cmd: str) -> str:
        macs = [s.split("\n", 1)[0] for s in self.stations]
        if cmd == "PING":
            return "PONG\n"
        if cmd == "STA-FIRST":
            return self.stations[0] if self.stations else ""
        if cmd.startswith("STA-NEXT "):
            i = macs.index(cmd.split()[1]) + 1
            return self.stations[i] if i < len(self.stations) else ""
        return "UNKNOWN COMMAND\n"

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            cmd = data.decode()
            self.seen.append(cmd)
            self.sock.sendto(self._answer(cmd).encode(), addr)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeHostapd]:
    f = FakeHostapd(tmp_path / "wlan0", [STA_A, STA_B])
    yield f
    f.close()


def test_station_walk_against_a_fake_control_socket(fake: FakeHostapd, tmp_path: Path) -> None:
    ctrl = HostapdCtrl(tmp_path / "wlan0")
    assert ctrl.ping()
    assert ctrl.stations() == [Station("02:00:5e:10:00:01", "m7"),
                               Station("06:11:22:33:44:55", None)]
    assert fake.seen[-3:] == ["STA-FIRST", "STA-NEXT 02:00:5e:10:00:01",
                              "STA-NEXT 06:11:22:33:44:55"]


def test_a_missing_socket_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HostapdError, match="control socket"):
        HostapdCtrl(tmp_path / "absent", timeout=0.2).stations()


def hostapd_conf(tmp_path: Path, psk_file: Path) -> Path:
    """hostapd's "none" driver needs no radio: it reads the whole configuration, the
    wpa_psk_file included, sets the BSS up and opens its control interface."""
    conf = tmp_path / "hostapd.conf"
    conf.write_text(f"""interface=cgtest0
driver=none
ctrl_interface={tmp_path / "ctrl"}
ssid=chamber
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_psk_file={psk_file}
""")
    return conf


def run_hostapd(conf: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """Start hostapd and read its output until it says the AP is enabled or it failed."""
    if shutil.which("hostapd") is None:
        pytest.skip("hostapd is not installed (deploy/bootstrap.sh test installs it)")
    proc = subprocess.Popen(["hostapd", str(conf)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if "AP-ENABLED" in line or "failed" in line.lower():
            break
    return proc, lines


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_real_hostapd_answers_our_client(tmp_path: Path) -> None:
    psk = tmp_path / "psk"
    psk.write_text("keyid=m1 00:00:00:00:00:00 correct-horse-battery-staple\n")
    proc, lines = run_hostapd(hostapd_conf(tmp_path, psk))
    try:
        if not any("AP-ENABLED" in line for line in lines):
            pytest.skip(f"hostapd could not start here: {' / '.join(lines[-3:])}")
        ctrl = HostapdCtrl(tmp_path / "ctrl" / "cgtest0")
        assert ctrl.ping()
        assert ctrl.stations() == []  # no radio, no stations: the walk ends cleanly
        assert ctrl.request("RELOAD_WPA_PSK").strip() == "OK"
    finally:
        stop(proc)
