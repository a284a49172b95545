"""The /register pages and the IT API over HTTP (in-process): a member's phone registers with
a code, sees and removes its devices; bad input gets a clear page; wrong codes are limited
per address; only IT issues codes, and the code is in the one response that creates it."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from api.auth.roles import Role
from api.devices.service import register_device
from api.meetings.service import create_meeting
from monitor.store.models import AuditRow, Device, RegistrationCode
from tests.api.conftest import assert_error
from tests.registration.conftest import (
    PHONE_IP,
    PHONE_MAC,
    STRANGER_IP,
    TABLET_IP,
    TABLET_MAC,
    Chamber,
    alert,
    csrf_of,
    register,
)


def _device(chamber: Chamber, mac: str) -> Device | None:
    with chamber.env.db.session() as s:
        return s.execute(select(Device).where(Device.mac == mac)).scalar_one_or_none()


def test_the_form_is_safe_to_serve_and_explains_the_policy(chamber: Chamber) -> None:
    phone = chamber.device(PHONE_IP)
    r = phone.get("/register")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert "cg_register_csrf=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/register" in cookie
    assert "Secure" not in cookie  # plain HTTP to the gate's address must still work
    assert csrf_of(r) == phone.cookies["cg_register_csrf"]
    assert 'role="alert"' not in r.text  # the device is known: no warning
    text = " ".join(r.text.split())
    assert "democracy.example.gov.uk" in text and "example.public-i.tv" in text
    assert "We never record what you read, type, send or watch" in text
    assert "kept for 365 days" in text


def test_a_phone_registers_itself_with_a_code(chamber: Chamber) -> None:
    member = chamber.member()
    code = chamber.code(member)
    phone = chamber.device(PHONE_IP)
    r = register(phone, code.lower(), name="Ada's phone")
    assert r.status_code == 303 and r.headers["location"] == "/register/mine?registered=1"
    dev = _device(chamber, PHONE_MAC)
    assert dev is not None and dev.member_id == member and dev.label == "Ada's phone"
    page = phone.get(r.headers["location"])
    assert page.status_code == 200
    text = html.unescape(" ".join(page.text.split()))
    assert "This device is now registered to you." in text
    assert "Cllr Ada Lovelace" in text and "Ada's phone" in text and "this device" in text
    assert "private Wi-Fi address" in text  # 02:…: a randomised MAC, explained
    # The form now says so too, and the code is spent.
    assert "already registered to Cllr Ada Lovelace" in phone.get("/register").text
    again = register(chamber.device(TABLET_IP), code)
    assert again.status_code == 400 and "already been used" in alert(again)
    assert _device(chamber, TABLET_MAC) is None


def test_the_form_needs_its_token(chamber: Chamber) -> None:
    code = chamber.code(chamber.member())
    phone = chamber.device(PHONE_IP)
    phone.get("/register")
    r = phone.post("/register", data={"code": code, "csrf_token": "forged"})
    assert r.status_code == 400 and "expired" in alert(r)
    other = chamber.device(PHONE_IP)  # no cookie at all (a cross-site form)
    r = other.post("/register", data={"code": code, "csrf_token": "x"})
    assert r.status_code == 400
    r = phone.post("/register", data={"code": code, "csrf_token": "ü" * 10})  # not ASCII
    assert r.status_code == 400
    assert _device(chamber, PHONE_MAC) is None


def test_an_unidentified_device_is_told_why_and_nothing_is_guessed(chamber: Chamber) -> None:
    code = chamber.code(chamber.member())
    for ip in (STRANGER_IP, "203.0.113.2"):
        stranger = chamber.device(ip)
        form = stranger.get("/register")
        assert "could not identify this device on the chamber Wi-Fi" in alert(form)
        r = stranger.post("/register", data={"code": code, "csrf_token": csrf_of(form)})
        assert r.status_code == 403
        assert "Are you connected to the chamber Wi-Fi?" in alert(r)
        mine = stranger.get("/register/mine")
        assert mine.status_code == 403 and "could not identify" in alert(mine)
    with chamber.env.db.session() as s:
        assert s.execute(select(RegistrationCode.used_at)).scalar_one() is None
        assert s.execute(select(Device)).first() is None


def test_five_wrong_codes_per_address_then_a_pause(chamber: Chamber) -> None:
    code = chamber.code(chamber.member())
    phone = chamber.device(PHONE_IP)
    token = csrf_of(phone.get("/register"))

    def post(value: str) -> httpx.Response:
        return phone.post("/register", data={"code": value, "csrf_token": token},
                          follow_redirects=False)

    for _ in range(3):
        r = post("nonsense")  # never looked up: costs no attempt
        assert r.status_code == 400 and "12 letters" in alert(r)
    for _ in range(5):
        r = post("ABCD-EFGH-2345")
        assert r.status_code == 400 and "not right" in alert(r)
    r = post(code)  # even the right code waits now
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 800
    assert "Too many wrong codes" in alert(r) and "15 minutes" in alert(r)
    assert _device(chamber, PHONE_MAC) is None
    # Another device is not punished for this one, and the window passes.
    tablet = chamber.device(TABLET_IP)
    assert register(tablet, "ABCD-EFGH-2345").status_code == 400
    limiter = chamber.env.app.state.registration_throttle
    limiter.clock = lambda: 10**9  # far beyond the window
    assert post(code).status_code == 303


def test_a_device_of_another_member_is_refused_with_a_clear_page(chamber: Chamber) -> None:
    ada, bob = chamber.member(), chamber.member("Cllr Bob Babbage")
    with chamber.env.db.session() as s:
        register_device(s, mac=PHONE_MAC, member_id=bob, actor="it")
    r = register(chamber.device(PHONE_IP), chamber.code(ada))
    assert r.status_code == 409
    assert "already registered to another member" in alert(r) and "IT" in alert(r)
    with chamber.env.db.session() as s:
        row = s.execute(select(AuditRow).where(AuditRow.action == "registration-conflict")
                        ).scalar_one()
        assert row.actor == "self-registration" and row.after is not None
        assert row.after["mac"] == PHONE_MAC and row.after["attempted_by"] == ada


def test_a_member_removes_a_device_but_not_during_a_meeting(chamber: Chamber) -> None:
    member = chamber.member()
    with chamber.env.db.session() as s:
        old = register_device(s, mac=TABLET_MAC, member_id=member, label="Old tablet",
                              actor="it").id
    phone = chamber.device(PHONE_IP)
    assert register(phone, chamber.code(member)).status_code == 303
    page = phone.get("/register/mine")
    assert "Old tablet" in page.text and "Remove Old tablet" in page.text
    token = csrf_of(page)
    # Not without the form's token, and not someone else's device.
    r = phone.post("/register/mine/remove", data={"device_id": str(old), "csrf_token": "x"})
    assert r.status_code == 400
    r = phone.post("/register/mine/remove", data={"device_id": "999", "csrf_token": token})
    assert r.status_code == 404 and "not one of your devices" in alert(r)
    r = phone.post("/register/mine/remove", data={"device_id": "١٢", "csrf_token": token})
    assert r.status_code == 404
    # Mid-meeting: refused (removing a device would lift its restriction).
    now = datetime.now(UTC)
    with chamber.env.db.session() as s:
        meeting = create_meeting(s, title="Full Council", start=now - timedelta(minutes=30),
                                 end=now + timedelta(hours=2), room="chamber", actor="t").id
    page = phone.get("/register/mine")
    assert "A meeting is in session now (Full Council)" in " ".join(page.text.split())
    assert "/register/mine/remove" not in page.text
    r = phone.post("/register/mine/remove", data={"device_id": str(old), "csrf_token": token})
    assert r.status_code == 409 and "in session" in alert(r)
    # After the meeting: removed (revoked; the row stays for the reports).
    chamber.env.client.post(f"/api/v1/meetings/{meeting}/end",
                            headers=chamber.env.auth(Role.CLERK))
    r = phone.post("/register/mine/remove", data={"device_id": str(old), "csrf_token": token},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/register/mine?removed=1"
    dev = _device(chamber, TABLET_MAC)
    assert dev is not None and dev.member_id is None
    assert "Old tablet" not in phone.get("/register/mine").text


def test_an_unregistered_device_sees_no_devices(chamber: Chamber) -> None:
    page = chamber.device(PHONE_IP).get("/register/mine")
    assert page.status_code == 200 and "not registered to anyone" in page.text
    page = chamber.device(PHONE_IP).get("/register/mine?registered=1")  # a stale link
    assert "now registered" not in page.text and "not registered to anyone" in page.text


# -- the IT API ---------------------------------------------------------------------------------
def test_it_issues_a_code_shown_once(chamber: Chamber) -> None:
    env = chamber.env
    member = chamber.member()
    url = f"/api/v1/members/{member}/registration-codes"
    r = env.client.post(url, json={"hours": 2}, headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["cache-control"] == "no-store"
    assert body["member"] == "Cllr Ada Lovelace" and body["member_id"] == member
    code = body["code"]
    assert len(code) == 14 and code.count("-") == 2
    r = env.client.post(url, headers=env.auth(Role.IT_ADMIN))  # no body: 24 hours
    assert r.status_code == 201
    listed = env.client.get(url, headers=env.auth(Role.IT_ADMIN))
    assert listed.status_code == 200
    assert [c["state"] for c in listed.json()] == ["unused", "unused"]
    assert code not in listed.text and code.replace("-", "") not in listed.text
    # The code works on the page, and the listing then says by which device.
    assert register(chamber.device(PHONE_IP), code).status_code == 303
    used = env.client.get(url, headers=env.auth(Role.IT_ADMIN)).json()[1]
    assert used["state"] == "used" and used["device_id"] == _device(chamber, PHONE_MAC).id  # type: ignore[union-attr]


def test_only_it_issues_codes(chamber: Chamber) -> None:
    env = chamber.env
    member = chamber.member()
    url = f"/api/v1/members/{member}/registration-codes"
    assert_error(env.client.post(url), 401, "unauthenticated")
    for role in (Role.CLERK, Role.MONITORING_OFFICER, Role.VIEWER):
        assert_error(env.client.post(url, headers=env.auth(role)), 403, "forbidden")
        assert_error(env.client.get(url, headers=env.auth(role)), 403, "forbidden")
    admin = env.auth(Role.IT_ADMIN)
    assert_error(env.client.post("/api/v1/members/9999/registration-codes", headers=admin),
                 404, "not_found")
    assert_error(env.client.post(url, json={"hours": 0}, headers=admin), 422, "invalid")
    assert_error(env.client.post(url, json={"hours": 24, "x": 1}, headers=admin), 422)
    env.client.patch(f"/api/v1/members/{member}", json={"active": False}, headers=admin)
    assert_error(env.client.post(url, headers=admin), 409, "conflict")


def test_fault_7_a_copied_mac_without_the_device_secret_sees_and_removes_nothing(
        chamber: Chamber) -> None:
    """Issue 20, fault 7: "my devices" trusted the MAC alone, so a device copying a member's
    MAC could see and remove that member's devices. Now it also wants the secret cookie the
    phone was given when it registered itself."""
    member = chamber.member()
    with chamber.env.db.session() as s:
        old = register_device(s, mac=TABLET_MAC, member_id=member, label="Old tablet",
                              actor="it").id
    phone = chamber.device(PHONE_IP)
    r = register(phone, chamber.code(member))
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("cg_device=")]
    assert cookie and "HttpOnly" in cookie[0] and "Path=/register" in cookie[0]
    assert "SameSite=strict" in cookie[0]
    with chamber.env.db.session() as s:
        dev = s.execute(select(Device).where(Device.mac == PHONE_MAC)).scalar_one()
        assert dev.self_key_hash and phone.cookies["cg_device"] not in dev.self_key_hash
    assert "Old tablet" in phone.get("/register/mine").text
    # The impostor: the same address, so the same MAC in the neighbour table — no cookie.
    impostor = chamber.device(PHONE_IP)
    page = impostor.get("/register/mine")
    assert "Old tablet" not in page.text and "Cllr Ada Lovelace" not in page.text
    form = impostor.get("/register")
    assert "Cllr Ada Lovelace" not in form.text
    token = csrf_of(form)
    r = impostor.post("/register/mine/remove", data={"device_id": str(old), "csrf_token": token})
    assert r.status_code == 404
    impostor.cookies.set("cg_device", "a-guess", path="/register")
    r = impostor.post("/register/mine/remove", data={"device_id": str(old), "csrf_token": token})
    assert r.status_code == 404
    dev2 = _device(chamber, TABLET_MAC)
    assert dev2 is not None and dev2.member_id == member
