"""Member self-registration on a real chamber (DESIGN §11): the web app runs inside the
gateway namespace on the gate's chamber address, so a phone's request arrives with its own
address and the kernel's neighbour table names its MAC. The phone registers with IT's code
and from then on is restricted during the meeting; the page stays reachable while it is
(the gateway's own INPUT path, which our nftables table does not filter)."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from typing import Any

from monitor.chamber_sim.netns import CHAMBER_IF, GATE_IP, SimDevice
from tests.netns.harness import AGENDA, AGENDA_IP, CLI, FACEBOOK, FACEBOOK_IP, Chamber

PORT = 8080
PHONE_MAC = "02:5e:30:00:00:03"  # a phone's private (randomised) address

# Runs inside a namespace with the venv's python: a browser's steps — open the form (cookie +
# token), post the code, follow the redirect — printed as one JSON object.
BROWSER = r"""
import http.client, json, re, sys, urllib.parse
host, port, code, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def req(method, path, form=None, cookie=""):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.getheader("Location"), r.getheader("Set-Cookie") or "", r.read().decode()

def alert(text):
    m = re.search(r'role="alert">\s*<p>(.*?)</p>', text, re.S)
    return " ".join(m.group(1).split()) if m else None

out = {}
status, _, set_cookie, text = req("GET", "/register")
cookie = set_cookie.split(";", 1)[0]
token = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
out["form"] = {"status": status, "alert": alert(text)}
if code:
    status, location, set_cookie, text = req("POST", "/register",
                                             {"code": code, "name": name, "csrf_token": token},
                                             cookie)
    out["post"] = {"status": status, "location": location, "alert": alert(text)}
    device = re.search(r"cg_device=[^;,]+", set_cookie)  # the secret "my devices" wants
    if location:
        status, _, _, text = req("GET", location,
                                 cookie=cookie + ("; " + device.group(0) if device else ""))
        out["mine"] = {"status": status, "text": " ".join(re.sub("<[^>]+>", " ", text).split())}
print(json.dumps(out))
"""


def browse(c: Chamber, ns: str, code: str = "", name: str = "",
           host: str = GATE_IP) -> dict[str, Any]:
    proc = c.net.run(ns, sys.executable, "-c", BROWSER, host, str(PORT), code, name,
                     timeout=30)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def start_chamber_web(c: Chamber, dev: SimDevice) -> None:
    """``chamberguard web`` in the gateway namespace, on the gate's chamber address."""
    c.net.popen(c.net.gw, CLI, "web", "--host", GATE_IP, "--port", str(PORT),
                log=c.tmp / "chamber-web.log", env=c.env())

    def up() -> bool:
        try:
            return browse(c, dev.ns)["form"]["status"] == 200
        except (AssertionError, ValueError, IndexError):
            return False

    c.wait_until(up, what="registration page on the chamber address", timeout=30, every=0.5)


def add_phone(c: Chamber) -> SimDevice:
    """A third device on the chamber bridge. The bridge's MAC is pinned first: Linux gives an
    unpinned bridge the lowest MAC among its ports, so a new port could change it under the
    other devices' ARP entries for the gate (a real gateway's address does not move)."""
    link = json.loads(c.net.run(c.net.gw, "ip", "-j", "link", "show", CHAMBER_IF,
                                check=True).stdout)
    c.net.run(c.net.gw, "ip", "link", "set", CHAMBER_IF, "address", link[0]["address"],
              check=True)
    return c.net.add_device("phone", PHONE_MAC, 3)


def test_a_member_registers_a_phone_on_the_chamber_wifi(chamber: Chamber) -> None:
    c = chamber
    c.start_gate()
    phone = add_phone(c)
    start_chamber_web(c, phone)

    # Not registered yet: a guest, never restricted, even mid-meeting.
    assert c.resolve(phone, FACEBOOK)["addresses"] == [FACEBOOK_IP]
    code = json.loads(c.cli("member", "code", "Cllr Ada Lovelace", "--hours", "1"))["code"]

    got = browse(c, phone.ns, code.lower().replace("-", " "), "Ada's phone")
    assert got["form"] == {"status": 200, "alert": None}, got  # identified at once
    assert got["post"]["status"] == 303, got
    assert got["post"]["location"] == "/register/mine?registered=1"
    registered_at = time.monotonic()
    mine = got["mine"]
    assert mine["status"] == 200, got
    assert "This device is now registered to you." in mine["text"]
    assert "Cllr Ada Lovelace" in mine["text"] and "this device" in mine["text"]
    assert "A meeting is in session now (Full Council)" in mine["text"]

    # The gate picks the registration up through the policy revision (polled every second).
    c.wait_until(lambda: c.resolve(phone, FACEBOOK).get("rcode") == "NXDOMAIN",
                 what="phone restricted after registering", timeout=5, every=0.1)
    took = time.monotonic() - registered_at
    assert took < 3.0, f"restriction took {took:.2f}s"
    print(f"registration → restricted in {took:.2f}s")
    assert c.resolve(phone, AGENDA)["addresses"] == [AGENDA_IP]  # the papers still open
    assert not c.fetch(phone, FACEBOOK_IP, FACEBOOK)["ok"]
    # Restricted, yet the page is still there: it is the gateway's own address.
    again = browse(c, phone.ns)
    assert again["form"]["status"] == 200 and again["form"]["alert"] is None

    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    row = db.execute("SELECT d.label, d.randomised, m.name FROM devices d "
                     "JOIN members m ON m.id = d.member_id WHERE d.mac = ?",
                     (PHONE_MAC,)).fetchone()
    assert row == ("Ada's phone", 1, "Cllr Ada Lovelace")
    audit = db.execute("SELECT actor, after FROM audit WHERE action = 'register' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    assert audit[0] == "self-registration"
    assert json.loads(audit[1])["mac"] == PHONE_MAC
    assert json.loads(audit[1])["member_id"] == c.ids["member"]

    # The same code a second time (from the guest's phone): refused, clearly.
    second = browse(c, c.guest.ns, code)
    assert second["post"]["status"] == 400
    assert "already been used" in second["post"]["alert"]
    assert c.resolve(c.guest, FACEBOOK)["addresses"] == [FACEBOOK_IP]  # still a guest

    # A device already registered to another member: refused, and IT is told.
    c.cli("member", "add", "Cllr Bob Babbage")
    bobs = json.loads(c.cli("member", "code", "Cllr Bob Babbage"))["code"]
    conflict = browse(c, c.member.ns, bobs)
    assert conflict["post"]["status"] == 409
    assert "already registered to another member" in conflict["post"]["alert"]
    assert db.execute("SELECT count(*) FROM audit WHERE action = 'registration-conflict'"
                      ).fetchone()[0] == 1

    # A client the gateway cannot place on the chamber Wi-Fi (here: from the upstream side,
    # which has a neighbour entry but is no chamber device): told so, nothing guessed.
    stranger = browse(c, c.net.inet, bobs)
    assert stranger["form"]["status"] == 200
    assert "could not identify this device on the chamber Wi-Fi" in stranger["form"]["alert"]
    assert stranger["post"]["status"] == 403
    assert "Are you connected to the chamber Wi-Fi?" in stranger["post"]["alert"]
    assert db.execute("SELECT used_at FROM registration_codes WHERE member_id != ?",
                      (c.ids["member"],)).fetchone()[0] is None  # Bob's code is still unused
