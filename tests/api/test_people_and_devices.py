"""Members and devices: CRUD, revoke, CSV import, seen-but-unregistered and claim."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.auth.roles import Role
from monitor.store.models import AuditRow, Device, Event
from monitor.store.revision import current_revision
from tests.api.conftest import Env, assert_error


def member(env: Env, admin: dict[str, str], name: str = "Cllr Ada Lovelace") -> int:
    r = env.client.post("/api/v1/members", headers=admin, json={"name": name})
    assert r.status_code == 201, r.text
    member_id: int = r.json()["id"]
    return member_id


# -- members -------------------------------------------------------------------------------
def test_member_crud(env: Env, admin: dict[str, str]) -> None:
    r = env.client.post("/api/v1/members", headers=admin,
                        json={"name": "  Cllr   Ada  Lovelace ", "email": "ada@example.gov.uk"})
    assert r.status_code == 201
    m = r.json()
    assert (m["name"], m["email"], m["active"]) == ("Cllr Ada Lovelace", "ada@example.gov.uk",
                                                    True)
    r = env.client.patch(f"/api/v1/members/{m['id']}", headers=admin,
                         json={"active": False, "email": None})
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["email"] is None
    page = env.client.get("/api/v1/members?active=false&q=Ada", headers=admin).json()
    assert page["total"] == 1
    assert env.client.delete(f"/api/v1/members/{m['id']}", headers=admin).status_code == 204
    assert_error(env.client.get(f"/api/v1/members/{m['id']}", headers=admin), 404)
    with env.db.session() as s:
        actions = list(s.execute(select(AuditRow.action).where(AuditRow.entity == "member")
                                 .order_by(AuditRow.id)).scalars())
    assert actions == ["create", "update", "delete"]


def test_member_validation(env: Env, admin: dict[str, str]) -> None:
    member(env, admin)
    assert_error(env.client.post("/api/v1/members", headers=admin,
                                 json={"name": "Cllr Ada Lovelace"}), 409, "conflict")
    assert_error(env.client.post("/api/v1/members", headers=admin, json={"name": "   "}), 422)
    assert_error(env.client.post("/api/v1/members", headers=admin,
                                 json={"name": "X", "email": "not-an-email"}), 422)
    assert_error(env.client.post("/api/v1/members", headers=admin, json={"nom": "X"}), 422)
    assert_error(env.client.post("/api/v1/members", headers=admin,
                                 json={"name": "X" * 201}), 422)


def test_a_member_with_devices_or_history_is_not_deleted(env: Env, admin: dict[str, str]) -> None:
    mid = member(env, admin)
    env.client.post("/api/v1/devices", headers=admin,
                    json={"mac": "02:00:5e:10:00:01", "member_id": mid})
    assert_error(env.client.delete(f"/api/v1/members/{mid}", headers=admin), 409)


def test_members_are_it_only(env: Env) -> None:
    for role in (Role.CLERK, Role.MONITORING_OFFICER, Role.VIEWER):
        assert_error(env.client.get("/api/v1/members", headers=env.auth(role)), 403)


# -- devices -------------------------------------------------------------------------------
@pytest.mark.parametrize("notation", ["02:00:5E:10:00:01", "02-00-5e-10-00-01",
                                      "0200.5e10.0001", "02005e100001", " 02:00:5e:10:00:01 "])
def test_device_mac_notations(env: Env, admin: dict[str, str], notation: str) -> None:
    r = env.client.post("/api/v1/devices", headers=admin, json={"mac": notation})
    assert r.status_code == 201, r.text
    assert r.json()["mac"] == "02:00:5e:10:00:01" and r.json()["randomised"] is True


def test_device_crud_revoke(env: Env, admin: dict[str, str]) -> None:
    mid = member(env, admin)
    with env.db.session() as s:
        rev = current_revision(s)
    r = env.client.post("/api/v1/devices", headers=admin,
                        json={"mac": "00:1a:2b:3c:4d:5e", "member_id": mid, "label": "iPad"})
    assert r.status_code == 201
    d = r.json()
    assert d["member_id"] == mid and d["randomised"] is False
    with env.db.session() as s:
        assert current_revision(s) > rev
    assert env.client.patch(f"/api/v1/devices/{d['id']}", headers=admin,
                            json={"label": "work iPad"}).json()["label"] == "work iPad"
    assert env.client.get(f"/api/v1/devices?member_id={mid}", headers=admin).json()["total"] == 1
    revoked = env.client.post(f"/api/v1/devices/{d['id']}/revoke", headers=admin).json()
    assert revoked["member_id"] is None
    assert env.client.get("/api/v1/devices?registered=false",
                          headers=admin).json()["total"] == 1
    assert env.client.delete(f"/api/v1/devices/{d['id']}", headers=admin).status_code == 204
    assert_error(env.client.get(f"/api/v1/devices/{d['id']}", headers=admin), 404)
    with env.db.session() as s:
        actions = list(s.execute(select(AuditRow.action).where(AuditRow.entity == "device")
                                 .order_by(AuditRow.id)).scalars())
    assert actions == ["register", "update", "revoke", "delete"]


def test_device_validation(env: Env, admin: dict[str, str]) -> None:
    err = assert_error(env.client.post("/api/v1/devices", headers=admin,
                                       json={"mac": "zz:zz"}), 422)
    assert "'zz:zz' is not a MAC address" in str(err["message"])
    assert_error(env.client.post("/api/v1/devices", headers=admin,
                                 json={"mac": "ff:ff:ff:ff:ff:ff"}), 422)
    assert_error(env.client.post("/api/v1/devices", headers=admin,
                                 json={"mac": "02:00:5e:10:00:01", "member_id": 99}), 422)
    env.client.post("/api/v1/devices", headers=admin, json={"mac": "02:00:5e:10:00:01"})
    assert_error(env.client.post("/api/v1/devices", headers=admin,
                                 json={"mac": "02-00-5E-10-00-01"}), 409, "conflict")
    assert_error(env.client.get("/api/v1/devices", headers=env.auth(Role.CLERK)), 403)


def test_unregistered_seen_list_and_claim(env: Env, admin: dict[str, str]) -> None:
    mid = member(env, admin)
    seen = datetime(2026, 11, 26, 19, 5, tzinfo=UTC)
    with env.db.session() as s:
        s.add_all([
            Device(mac="02:00:5e:10:00:0a", hostname="Adas-iPhone", last_seen=seen,
                   last_ip="198.51.100.23"),
            Device(mac="02:00:5e:10:00:0b"),  # typed in by IT, never seen: not listed
            Device(mac="02:00:5e:10:00:0c", member_id=mid, last_seen=seen),  # registered
        ])
    page = env.client.get("/api/v1/devices/unregistered", headers=admin).json()
    assert [d["mac"] for d in page["items"]] == ["02:00:5e:10:00:0a"]
    dev = page["items"][0]
    assert dev["hostname"] == "Adas-iPhone" and dev["last_ip"] == "198.51.100.23"
    claimed = env.client.post(f"/api/v1/devices/{dev['id']}/claim", headers=admin,
                              json={"member_id": mid, "label": "iPhone"})
    assert claimed.status_code == 200 and claimed.json()["member_id"] == mid
    assert env.client.get("/api/v1/devices/unregistered", headers=admin).json()["total"] == 0
    again = env.client.post(f"/api/v1/devices/{dev['id']}/claim", headers=admin,
                            json={"member_id": mid})
    assert_error(again, 409, "conflict")
    assert_error(env.client.post("/api/v1/devices/99/claim", headers=admin,
                                 json={"member_id": mid}), 404)


def test_a_device_in_recorded_events_is_revoked_not_deleted(env: Env,
                                                            admin: dict[str, str]) -> None:
    d = env.client.post("/api/v1/devices", headers=admin, json={"mac": "02:00:5e:10:00:01"}).json()
    with env.db.session() as s:
        s.add(Event(ts=datetime(2026, 11, 26, 19, 5, tzinfo=UTC), kind="attempt",
                    action="refused", device_id=d["id"]))
    assert_error(env.client.delete(f"/api/v1/devices/{d['id']}", headers=admin), 409)


# -- CSV import ----------------------------------------------------------------------------
def test_csv_import_creates_and_updates(env: Env, admin: dict[str, str]) -> None:
    member(env, admin)
    member(env, admin, "Cllr Grace Hopper")
    env.client.post("/api/v1/devices", headers=admin, json={"mac": "02:00:5e:10:00:03"})
    csv = ("\ufeffMAC,Member,Label\n"
           "02-00-5E-10-00-01,Cllr Ada Lovelace,iPad\n"
           "\n"
           "0200.5e10.0002,Cllr Grace Hopper,\"Phone, work\"\n"
           "02005e100003,Cllr Ada Lovelace,\n"
           "02:00:5e:10:00:04,,spare\n")
    dry = env.client.post("/api/v1/devices/import", headers=admin,
                          json={"csv": csv, "dry_run": True}).json()
    assert dry == {"rows": 4, "created": 3, "updated": 1, "dry_run": True}
    assert env.client.get("/api/v1/devices", headers=admin).json()["total"] == 1
    r = env.client.post("/api/v1/devices/import", headers=admin, json={"csv": csv})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 3
    devices = {d["mac"]: d for d in
               env.client.get("/api/v1/devices", headers=admin).json()["items"]}
    assert devices["02:00:5e:10:00:02"]["label"] == "Phone, work"
    assert devices["02:00:5e:10:00:03"]["member_id"] is not None
    assert devices["02:00:5e:10:00:04"]["member_id"] is None


def test_csv_import_is_all_or_nothing_with_line_numbers(env: Env, admin: dict[str, str]) -> None:
    member(env, admin)
    csv = ("mac,member,label\n"                       # line 1
           "02:00:5e:10:00:01,Cllr Ada Lovelace,ok\n"  # line 2: fine
           "02:00:5e:10:00:02,,ok\n"                   # line 3: fine
           "\n"                                        # line 4: blank, skipped
           "02:00:5e:10:00:03,Cllr Nobody,\n"          # line 5
           "02:00:5e:10:00:01,,\n"                     # line 6: repeat of line 2
           "zz:zz,,\n"                                 # line 7
           "02:00:5e:10:00:05\n")                      # line 8: too few columns
    r = env.client.post("/api/v1/devices/import", headers=admin, json={"csv": csv})
    err = assert_error(r, 422, "invalid")
    details = err["details"]
    assert isinstance(details, list)
    assert details[0] == "line 5: no member called 'Cllr Nobody'"
    assert details[1] == "line 6: 02:00:5e:10:00:01 is already on line 2"
    assert details[2].startswith("line 7: 'zz:zz' is not a MAC address")
    assert details[3] == "line 8: expected 3 columns, found 1"
    assert str(err["message"]).startswith("nothing imported: line 5:")
    assert env.client.get("/api/v1/devices", headers=admin).json()["total"] == 0


@pytest.mark.parametrize("csv, words", [
    ("", "empty"),
    ("member,label\nx,y\n", "header"),
    ("mac,mac\n", "header"),
    ("mac,colour\n", "header"),
])
def test_csv_import_header_errors(env: Env, admin: dict[str, str], csv: str, words: str) -> None:
    err = assert_error(env.client.post("/api/v1/devices/import", headers=admin,
                                       json={"csv": csv}), 422)
    assert words in str(err["message"]) and "line 1" in str(err["message"])


def test_csv_import_refuses_to_move_a_device_between_members(env: Env,
                                                             admin: dict[str, str]) -> None:
    ada = member(env, admin)
    member(env, admin, "Cllr Grace Hopper")
    env.client.post("/api/v1/devices", headers=admin,
                    json={"mac": "02:00:5e:10:00:01", "member_id": ada})
    r = env.client.post("/api/v1/devices/import", headers=admin,
                        json={"csv": "mac,member\n02:00:5e:10:00:01,Cllr Grace Hopper\n"})
    assert "line 2" in str(assert_error(r, 422)["message"])
    assert_error(env.client.post("/api/v1/devices/import", headers=env.auth(Role.CLERK),
                                 json={"csv": "mac\n"}), 403)


def test_fault_3_csv_import_unclosed_quote_is_refused_not_swallowed(
        env: Env, admin: dict[str, str]) -> None:
    """Issue 20, fault 3: an unclosed quote used to swallow the next row (200, "rows: 1"),
    leaving that device unregistered and so never restricted."""
    member(env, admin)
    member(env, admin, "Cllr Grace Hopper")
    csv = ('mac,member,label\n'
           '02:00:5e:10:00:01,Cllr Ada Lovelace,"iPad\n'   # line 2: quote never closed
           '02:00:5e:10:00:02,Cllr Grace Hopper,phone\n')
    err = assert_error(env.client.post("/api/v1/devices/import", headers=admin,
                                       json={"csv": csv}), 422)
    assert str(err["message"]).startswith("nothing imported: line 2:")
    assert "quote" in str(err["message"])
    # A quote closed further down still spans lines: refused with both line numbers.
    csv2 = ('mac,member,label\n'
            '02:00:5e:10:00:01,Cllr Ada Lovelace,"iPad\n'
            '02:00:5e:10:00:02,Cllr Grace Hopper,phone"\n'
            '02:00:5e:10:00:03,,ok\n')
    err = assert_error(env.client.post("/api/v1/devices/import", headers=admin,
                                       json={"csv": csv2}), 422)
    assert err["details"] == ["line 2: a quoted cell runs on to line 3; is a closing quote "
                              "missing?"]
    # Control characters and NULs are refused with the line, never stored.
    err = assert_error(env.client.post("/api/v1/devices/import", headers=admin, json={
        "csv": "mac,label\n02:00:5e:10:00:09,ok\n02:00:5e:10:00:01,x\x1b[2J\n"}), 422)
    assert str(err["message"]).startswith("nothing imported: line 3:")
    err = assert_error(env.client.post("/api/v1/devices/import", headers=admin, json={
        "csv": "mac,label\n02:00:5e:10:00:01,spare\x00\n"}), 422)  # refused at the edge
    assert err["message"] == "body.csv: text must not contain a NUL character"
    assert env.client.get("/api/v1/devices", headers=admin).json()["total"] == 0


_CELL = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_LINE = st.lists(st.one_of(_CELL, st.sampled_from(["02:00:5e:10:00:01", '"', '"x', "Cllr Ada"])),
                 max_size=4).map(",".join)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINE, max_size=6), st.sampled_from(["\n", "\r\n", "\r"]))
def test_device_csv_import_any_text_is_all_or_nothing(env: Env, admin: dict[str, str],
                                                       lines: list[str], eol: str) -> None:
    """Whatever the text: 200 and every data row counted, or 422 naming lines — and then
    nothing written. Never a 500, never a silently dropped row."""
    text = eol.join(["mac,member,label", *lines]) + eol
    r = env.client.post("/api/v1/devices/import", headers=admin, json={"csv": text})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        details = r.json()["error"]["details"]
        assert details and all(re.match(r"line \d+: ", d) for d in details), details
        assert env.client.get("/api/v1/devices", headers=admin).json()["total"] == 0
    else:
        data_rows = [ln for ln in lines if ln.strip(", \t")]
        assert r.json()["rows"] == len(data_rows)
        with env.db.session() as s:
            for d in s.execute(select(Device)).scalars():
                s.delete(d)
