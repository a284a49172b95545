"""Registration codes and redeeming them, at the service level: format and entropy, hashing
at rest, expiry, single use, conflicts, the device's name, and who may remove what."""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from api.devices.service import register_device
from api.errors import Conflict, Invalid, NotFound
from api.meetings.service import create_meeting
from api.members.service import update_member
from api.registration import service
from api.registration.service import CodeProblem, CodeRefused, RegistrationConflict
from monitor.store.models import AuditRow, Base, Device, RegistrationCode
from monitor.store.revision import current_revision
from tests.registration.conftest import PHONE_MAC, TABLET_MAC, Chamber

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
FORMAT = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")


# -- the code itself ---------------------------------------------------------------------------
def test_codes_are_three_groups_of_four_from_an_unambiguous_alphabet() -> None:
    assert not set("0O1IL") & set(service.ALPHABET)
    assert len(set(service.ALPHABET)) == len(service.ALPHABET) == 31
    assert service.CODE_BITS >= 50
    assert math.isclose(service.CODE_BITS, 12 * math.log2(31))
    codes = [service.new_code() for _ in range(3000)]
    assert all(FORMAT.match(c) for c in codes)
    assert len(set(codes)) == len(codes)
    # Every symbol turns up, none far more than its share (36 000 symbols, ~1161 each).
    counts = Counter("".join(codes).replace("-", ""))
    assert set(counts) == set(service.ALPHABET)
    assert max(counts.values()) < 1.25 * min(counts.values())


def test_what_a_member_types_is_normalised_and_nonsense_is_not_a_code() -> None:
    assert service.normalise_code(" abcd efgh-2345 ") == "ABCDEFGH2345"
    assert service.normalise_code("ABCD_EFGH.2345") == "ABCDEFGH2345"
    for bad in ("", "ABCD-EFGH-234", "ABCD-EFGH-23456", "ABCD-EFGH-234O", "ABCD-EFGH-2341",
                "ÄBCD-EFGH-2345", "ABCD-EFGH-23" + "\u0664" + "5"):
        assert service.normalise_code(bad) is None, bad
    with pytest.raises(ValueError):
        service.hash_code("not a code")


def test_the_database_never_holds_the_plain_code(chamber: Chamber) -> None:
    member = chamber.member()
    with chamber.env.db.session() as s:
        issued = service.issue_code(s, member_id=member, actor="it")
    bare = issued.code.replace("-", "")
    with chamber.env.db.session() as s:
        row = s.execute(select(RegistrationCode)).scalar_one()
        assert row.code_hash == hashlib.sha256(bare.encode()).hexdigest()
        assert row.member_id == member and row.created_by == "it" and row.used_at is None
        audit = s.execute(select(AuditRow).where(AuditRow.action == "issue-registration-code")
                          ).scalar_one()
        assert audit.actor == "it" and audit.entity_id == str(member)
    chamber.env.db.dispose()  # checkpoint the WAL so the file holds everything
    db_path = chamber.env.settings.database_url.split("///", 1)[1]
    raw = open(db_path, "rb").read()  # noqa: SIM115
    for form in (issued.code, bare, bare.lower()):
        assert form.encode() not in raw
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert issued.code not in dump and bare not in dump


def test_a_code_lives_the_hours_it_was_given(chamber: Chamber) -> None:
    member = chamber.member()
    with chamber.env.db.session() as s:
        issued = service.issue_code(s, member_id=member, hours=2, actor="it", now=T0)
        assert issued.expires_at == T0 + timedelta(hours=2)
    with chamber.env.db.session() as s, pytest.raises(CodeRefused) as exc:
        service.redeem_code(s, raw_code=issued.code, mac=PHONE_MAC, now=T0 + timedelta(hours=2))
    assert exc.value.problem is CodeProblem.EXPIRED and "expired" in exc.value.message
    with chamber.env.db.session() as s:
        got = service.redeem_code(s, raw_code=issued.code, mac=PHONE_MAC,
                                  now=T0 + timedelta(hours=1, minutes=59))
    assert got.member_id == member
    for hours in (0, -1, service.MAX_HOURS + 1):
        with chamber.env.db.session() as s, pytest.raises(Invalid):
            service.issue_code(s, member_id=member, hours=hours, actor="it")


def test_no_code_for_an_unknown_or_inactive_member(chamber: Chamber) -> None:
    member = chamber.member()
    with chamber.env.db.session() as s:
        update_member(s, member_id=member, active=False, actor="it")
    with chamber.env.db.session() as s, pytest.raises(Conflict, match="inactive"):
        service.issue_code(s, member_id=member, actor="it")
    with chamber.env.db.session() as s, pytest.raises(NotFound):
        service.issue_code(s, name="Cllr Nobody", actor="it")


# -- redeeming -------------------------------------------------------------------------------
def test_a_code_registers_one_device_once(chamber: Chamber) -> None:
    member = chamber.member()
    code = chamber.code(member)
    with chamber.env.db.session() as s:
        before = current_revision(s)
        got = service.redeem_code(s, raw_code=code.lower(), mac=PHONE_MAC, name=" Ada's\tphone ")
    assert (got.member, got.label, got.randomised, got.already) == (
        "Cllr Ada Lovelace", "Ada's phone", True, False)
    with chamber.env.db.session() as s:
        dev = s.execute(select(Device).where(Device.mac == PHONE_MAC)).scalar_one()
        assert dev.member_id == member and dev.randomised
        row = s.execute(select(RegistrationCode)).scalar_one()
        assert row.used_at is not None and row.device_id == dev.id
        audit = s.execute(select(AuditRow).where(AuditRow.action == "register")).scalar_one()
        assert audit.actor == "self-registration"
        assert audit.after == {"mac": PHONE_MAC, "member_id": member, "label": "Ada's phone",
                               "identity": "registration-code"}
        assert dev.identity == "registration-code"
        assert current_revision(s) > before  # the gate picks the device up
    # Used: refused for this device and any other, with a message that says so.
    for mac in (PHONE_MAC, TABLET_MAC):
        with chamber.env.db.session() as s, pytest.raises(CodeRefused) as exc:
            service.redeem_code(s, raw_code=code, mac=mac)
        assert exc.value.problem is CodeProblem.USED and "already been used" in str(exc.value)
    with chamber.env.db.session() as s:
        assert s.execute(select(Device).where(Device.mac == TABLET_MAC)).first() is None


def test_wrong_and_malformed_codes_are_told_apart(chamber: Chamber) -> None:
    chamber.code(chamber.member())
    with chamber.env.db.session() as s, pytest.raises(CodeRefused) as exc:
        service.redeem_code(s, raw_code="ABCD-EFGH-2345", mac=PHONE_MAC)
    assert exc.value.problem is CodeProblem.UNKNOWN and "not right" in exc.value.message
    with chamber.env.db.session() as s, pytest.raises(CodeRefused) as exc:
        service.redeem_code(s, raw_code="hello", mac=PHONE_MAC)
    assert exc.value.problem is CodeProblem.MALFORMED and "12 letters" in exc.value.message


def test_a_device_of_another_member_is_refused_and_it_is_told(chamber: Chamber) -> None:
    ada, bob = chamber.member(), chamber.member("Cllr Bob Babbage")
    with chamber.env.db.session() as s:
        register_device(s, mac=TABLET_MAC, member_id=bob, label="Bob's tablet", actor="it")
    code = chamber.code(ada)
    with chamber.env.db.session() as s, pytest.raises(RegistrationConflict) as exc:
        service.redeem_code(s, raw_code=code, mac=TABLET_MAC)
    assert exc.value.status == 409 and "another member" in exc.value.message
    with chamber.env.db.session() as s:
        dev = s.execute(select(Device).where(Device.mac == TABLET_MAC)).scalar_one()
        assert dev.member_id == bob and dev.label == "Bob's tablet"
        row = s.execute(select(AuditRow).where(AuditRow.action == "registration-conflict")
                        ).scalar_one()  # kept, although the request failed
        assert row.actor == "self-registration" and row.entity_id == str(dev.id)
        assert row.after is not None
        assert row.after["registered_to"] == bob and row.after["attempted_by"] == ada
        code_row = s.execute(select(RegistrationCode)).scalar_one()
        assert code_row.used_at is None  # still usable once IT has revoked the old binding


def test_registering_again_to_the_same_member_is_fine(chamber: Chamber) -> None:
    member = chamber.member()
    with chamber.env.db.session() as s:
        register_device(s, mac=PHONE_MAC, member_id=member, label="iPhone", actor="it")
    with chamber.env.db.session() as s:
        got = service.redeem_code(s, raw_code=chamber.code(member), mac=PHONE_MAC)
    assert got.already and got.label == "iPhone"  # no name typed: IT's label stays


def test_the_dhcp_hostname_names_a_device_when_the_member_types_nothing(chamber: Chamber) -> None:
    member = chamber.member()
    with chamber.env.db.session() as s:
        s.add(Device(mac=PHONE_MAC, hostname="Adas-iPhone", last_seen=T0))  # seen by the gate
    with chamber.env.db.session() as s:
        got = service.redeem_code(s, raw_code=chamber.code(member), mac=PHONE_MAC)
    assert got.label == "Adas-iPhone"
    assert service.clean_name("a\x00b\nc " + "x" * 100) == ("a b c " + "x" * 100)[:60]


# -- which device is asking -------------------------------------------------------------------
def test_only_chamber_addresses_with_a_neighbour_entry_have_a_mac() -> None:
    table = {"198.51.100.23": PHONE_MAC, "203.0.113.2": "02:aa:bb:cc:dd:ee",
             "2001:db8:c::17": TABLET_MAC}
    subnets = ["198.51.100.0/24", "2001:db8:c::/64"]

    def mac(host: str | None) -> str | None:
        return service.mac_for_client(host, subnets, lambda: table)

    assert mac("198.51.100.23") == PHONE_MAC
    assert mac("::ffff:198.51.100.23") == PHONE_MAC  # a dual-stack listener
    assert mac("2001:db8:c::17") == TABLET_MAC
    assert mac("198.51.100.99") is None  # no entry: never guessed
    assert mac("203.0.113.2") is None  # the upstream router is in the table, not the chamber
    assert mac(None) is None and mac("testclient") is None

    def broken() -> dict[str, str]:
        raise OSError("netlink refused")

    assert service.mac_for_client("198.51.100.23", subnets, broken) is None


# -- the member's own devices -------------------------------------------------------------------
def test_members_see_and_remove_only_their_own_devices_and_not_mid_meeting(
        chamber: Chamber) -> None:
    ada, bob = chamber.member(), chamber.member("Cllr Bob Babbage")
    with chamber.env.db.session() as s:
        phone = register_device(s, mac=PHONE_MAC, member_id=ada, actor="it").id
        old = register_device(s, mac="02:00:00:00:00:01", member_id=ada, actor="it").id
        bobs = register_device(s, mac=TABLET_MAC, member_id=bob, actor="it").id
    with chamber.env.db.session() as s:
        # registered by IT: no secret, so the MAC alone shows nothing (issue 20)
        assert service.my_devices(s, mac=PHONE_MAC, key="") is None
        s.get(Device, phone).self_key_hash = service.hash_key("phone-secret")  # type: ignore[union-attr]
    with chamber.env.db.session() as s:
        mine = service.my_devices(s, mac=PHONE_MAC, key="phone-secret")
        assert mine is not None and mine.member.name == "Cllr Ada Lovelace"
        assert [d.id for d in mine.devices] == [phone, old]
        assert service.my_devices(s, mac=PHONE_MAC, key="") is None
        assert service.my_devices(s, mac=PHONE_MAC, key="guess") is None
        assert service.my_devices(s, mac="02:00:00:00:00:99", key="phone-secret") is None
    kw: dict[str, Any] = {"room": "chamber", "grace": timedelta(0), "key": "phone-secret"}
    with chamber.env.db.session() as s, pytest.raises(NotFound):
        service.remove_own_device(s, mac=PHONE_MAC, device_id=bobs, **kw)
    with chamber.env.db.session() as s:
        create_meeting(s, title="Full Council", start=T0, end=T0 + timedelta(hours=3),
                       room="chamber", actor="test")
    with chamber.env.db.session() as s, pytest.raises(Conflict, match="in session"):
        service.remove_own_device(s, mac=PHONE_MAC, device_id=old,
                                  now=T0 + timedelta(hours=1), **kw)
    with chamber.env.db.session() as s:
        service.remove_own_device(s, mac=PHONE_MAC, device_id=old,
                                  now=T0 + timedelta(hours=4), **kw)
    with chamber.env.db.session() as s:
        assert s.get(Device, old).member_id is None  # type: ignore[union-attr]
        audit = s.execute(select(AuditRow).where(AuditRow.action == "revoke")).scalar_one()
        assert audit.actor == "self-registration" and audit.entity_id == str(old)


def test_the_migration_matches_the_model(chamber: Chamber) -> None:
    with chamber.env.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if "registration_codes" in repr(d)]
    assert ours == []
