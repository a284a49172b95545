"""Issue 24: identity from the Wi-Fi. FreeRADIUS's own ``radclient`` plays the access point
sending RADIUS accounting (RFC 2866) to the gate; a member's phone that changes its private
MAC between two sessions stays restricted in the meeting and appears under their name."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest

from monitor.chamber_sim.netns import GATE_IP, SimDevice
from monitor.counters import GateCounters
from tests.netns.harness import FACEBOOK, Chamber

SECRET = "chamber-accounting-7Hq2"
AP_MAC = "02:00:5e:30:00:03"  # the access point / controller that sends accounting
PHONE_MAC_1 = "06:00:5e:40:00:04"  # the member's phone, first private address
PHONE_MAC_2 = "0a:00:5e:50:00:05"  # the same phone on another day: a new private address
GRACE = "Cllr Grace Hopper"
LOGIN = "grace.hopper@council.example"


def radclient(c: Chamber, ap: SimDevice, attrs: dict[str, str], *,
              secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    lines = "\n".join(f"{k} = {v}" for k, v in attrs.items()) + "\n"
    proc = subprocess.run(
        ["ip", "netns", "exec", ap.ns, "radclient", "-x", "-r", "1", "-t", "3",
         f"{GATE_IP}:1813", "acct", secret],
        input=lines, capture_output=True, text=True, timeout=30, check=False)
    with open(c.tmp / "radclient.txt", "a") as f:
        f.write(f"$ radclient -x -r 1 -t 3 {GATE_IP}:1813 acct <secret>  (exit "
                f"{proc.returncode})\n{proc.stdout}{proc.stderr}\n")
    return proc


def session(status: str, mac: str, ip: str, sid: str) -> dict[str, str]:
    return {"Acct-Status-Type": status, "User-Name": f'"{LOGIN}"',
            "Calling-Station-Id": f'"{mac.upper().replace(":", "-")}"',
            "Framed-IP-Address": ip, "Acct-Session-Id": f'"{sid}"',
            "NAS-Identifier": '"chamber-ap"'}


def query(c: Chamber, sql: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute(sql))
    finally:
        db.close()


@pytest.fixture
def radius_chamber(chamber: Chamber) -> Chamber:
    if shutil.which("radclient") is None:
        pytest.skip("radclient is not installed (deploy/bootstrap.sh test installs "
                    "freeradius-utils)")
    secret = chamber.tmp / "radius.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    assert chamber.config is not None
    with open(chamber.config, "a") as f:
        f.write(f"""
[identity]
radius_listen = "{GATE_IP}"

[[identity.radius_clients]]
address = "198.51.100.13"
secret_file = "{secret}"
""")
    chamber.cli("member", "add", GRACE, "--email", LOGIN)
    return chamber


def test_a_rotating_mac_through_radius_accounting_stays_restricted_and_named(
        radius_chamber: Chamber) -> None:
    c = radius_chamber
    ap = c.net.add_device("ap", AP_MAC, 3)
    phone1 = c.net.add_device("phone1", PHONE_MAC_1, 4)
    phone2 = c.net.add_device("phone2", PHONE_MAC_2, 5)
    c.start_gate()
    grace = query(c, f"SELECT id FROM members WHERE name = '{GRACE}'")[0]["id"]

    # Before the Wi-Fi says who it is, the phone is a guest: nothing restricts it.
    assert c.resolve(phone1, FACEBOOK)["rcode"] == "NOERROR"

    # Session 1: Start, Interim-Update, Stop — each answered with an Accounting-Response.
    for status in ("Start", "Interim-Update"):
        out = radclient(c, ap, session(status, PHONE_MAC_1, phone1.ip, "S1"))
        assert out.returncode == 0 and "Received Accounting-Response" in out.stdout, out
    Chamber.wait_until(lambda: c.resolve(phone1, FACEBOOK)["rcode"] == "NXDOMAIN",
                       what="the first MAC restricted", timeout=15)
    out = radclient(c, ap, session("Stop", PHONE_MAC_1, phone1.ip, "S1"))
    assert out.returncode == 0 and "Received Accounting-Response" in out.stdout, out

    # Session 2, another day: the phone has a new private address. The login is the same.
    assert c.resolve(phone2, FACEBOOK)["rcode"] == "NOERROR"  # not yet known: a guest
    out = radclient(c, ap, session("Start", PHONE_MAC_2, phone2.ip, "S2"))
    assert out.returncode == 0 and "Received Accounting-Response" in out.stdout, out
    Chamber.wait_until(lambda: c.resolve(phone2, FACEBOOK)["rcode"] == "NXDOMAIN",
                       what="the new MAC restricted", timeout=15)

    devices = {r["mac"]: r for r in query(c, "SELECT * FROM devices")}
    for mac, ip in ((PHONE_MAC_1, phone1.ip), (PHONE_MAC_2, phone2.ip)):
        assert devices[mac]["member_id"] == grace
        assert devices[mac]["identity"] == "radius-user"
        assert devices[mac]["last_ip"] == ip

    # The refused lookup from the new MAC is recorded against the member.
    def recorded() -> bool:
        return bool(query(c, f"SELECT * FROM events WHERE kind = 'attempt' AND mac = "
                             f"'{PHONE_MAC_2}' AND member_id = {grace}"))

    Chamber.wait_until(recorded, what="the attempt recorded for the member", timeout=15)

    # A wrong shared secret: refused (no Accounting-Response) and counted.
    out = radclient(c, ap, session("Start", "0e:00:5e:60:00:06", "198.51.100.16", "S3"),
                    secret="not-the-secret")
    assert out.returncode != 0 and "Received Accounting-Response" not in out.stdout
    assert not query(c, "SELECT * FROM devices WHERE mac = '0e:00:5e:60:00:06'")

    def identity_counters() -> dict[str, int]:
        rows = query(c, "SELECT counters FROM gate_heartbeats")
        if not rows or rows[0]["counters"] is None:
            return {}
        return GateCounters.from_json(json.loads(rows[0]["counters"])).identity

    Chamber.wait_until(lambda: identity_counters().get("radius_bad_authenticator") == 1,
                       what="the bad authenticator counted", timeout=15)
    counted = identity_counters()
    assert counted["radius_accepted"] == 4, counted

    # The meeting report lists the new MAC under the member's name, saying how it was tied.
    doc = json.loads(c.cli("report", str(c.ids["meeting"]), "--format", "json"))["report"]
    entry = next(m for m in doc["members"] if m["name"] == GRACE)
    by_mac = {d["mac"]: d for d in entry["devices"]}
    assert by_mac[PHONE_MAC_2]["identified_by"] == "RADIUS user"
    assert entry["lookups"] >= 1
    print((c.tmp / "radclient.txt").read_text())


