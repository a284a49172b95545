"""Sightings bind devices to members in the database: new MAC, rotated MAC, key ids."""

from __future__ import annotations

from sqlalchemy import select

from allowlist.identity import IdentitySource
from api.devices.service import register_device
from api.members.service import create_member
from monitor.identity.sighting import Change, Sighting
from monitor.identity.store import apply
from monitor.store.models import AuditRow, Device, Member, WifiKey
from monitor.store.policy_loader import load_devices
from monitor.store.revision import current_revision
from tests.api.conftest import Env

RADIUS = IdentitySource.RADIUS_USER
OLD_MAC, NEW_MAC = "02:00:5e:10:00:09", "06:11:22:33:44:55"


def _ada(env: Env, **kw: str) -> int:
    with env.db.session() as s:
        m = create_member(s, name="Cllr Ada Lovelace", email="Ada@Council.example", actor="t")
        for k, v in kw.items():
            setattr(m, k, v)
        return m.id


def test_a_rotated_mac_is_bound_to_the_same_member(env: Env) -> None:
    ada = _ada(env)
    with env.db.session() as s:
        first = apply(s, Sighting(OLD_MAC, RADIUS, "ada@council.example", "198.51.100.9",
                                  "radius:198.51.100.2"))
        rev = current_revision(s)
    assert first.change is Change.NEW and first.member_id == ada
    with env.db.session() as s:
        second = apply(s, Sighting(NEW_MAC, RADIUS, "ADA@council.example", "198.51.100.10",
                                   "radius:198.51.100.2"))
        assert current_revision(s) == rev + 1  # gates reload and restrict the new MAC
        devices = load_devices(s)
        dev = s.get(Device, second.device_id)
        assert dev is not None and dev.identity is RADIUS and dev.last_ip == "198.51.100.10"
        audit = s.execute(select(AuditRow).where(AuditRow.action == "identify")
                          .order_by(AuditRow.id.desc())).scalars().first()
        assert audit is not None and audit.actor == "radius:198.51.100.2"
    assert second.change is Change.NEW and second.member_id == ada
    for mac in (OLD_MAC, NEW_MAC):
        owner = devices[mac].member
        assert owner is not None and owner.member_id == ada
    # The same session again only touches last seen: no new revision.
    with env.db.session() as s:
        rev = current_revision(s)
        assert apply(s, Sighting(NEW_MAC, RADIUS, "ada@council.example")).change is Change.TOUCH
        assert current_revision(s) == rev


def test_radius_user_then_email_then_key_id(env: Env) -> None:
    ada = _ada(env, radius_user="alovelace")
    with env.db.session() as s:
        bob = create_member(s, name="Cllr Bob", actor="t").id
        s.add(WifiKey(member_id=bob, key_id="m-bob", passphrase="x" * 20))
    with env.db.session() as s:
        assert apply(s, Sighting(OLD_MAC, RADIUS, "ALovelace")).member_id == ada
        assert apply(s, Sighting(NEW_MAC, RADIUS, "m-bob")).member_id == bob
        wifi = apply(s, Sighting("02:00:5e:00:00:77", IdentitySource.WIFI_KEY, "m-bob"))
        assert wifi.member_id == bob
        # A key id is never matched against logins or emails.
        assert apply(s, Sighting("02:00:5e:00:00:78", IdentitySource.WIFI_KEY,
                                 "alovelace")).change is None
        assert apply(s, Sighting("02:00:5e:00:00:79", RADIUS, "nobody")).change is None
        assert s.execute(select(Device).where(Device.mac == "02:00:5e:00:00:79")
                         ).scalar_one_or_none() is None


def test_the_network_login_outranks_a_mac_registration(env: Env) -> None:
    ada = _ada(env)
    with env.db.session() as s:
        bob = create_member(s, name="Cllr Bob", actor="t").id
        register_device(s, mac=OLD_MAC, member_id=bob, actor="it")
    with env.db.session() as s:
        got = apply(s, Sighting(OLD_MAC, RADIUS, "ada@council.example", via="radius:ap"))
        assert got.change is Change.BIND and got.member_id == ada
        audit = s.execute(select(AuditRow).where(AuditRow.action == "identify")
                          ).scalar_one()
        assert audit.before == {"member_id": bob, "identity": "mac-only"}
        assert s.get(Member, ada) is not None


def test_the_migration_matches_the_model(env: Env) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from monitor.store.models import Base

    with env.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if any(w in repr(d) for w in (
        "wifi_keys", "radius_user", "moderngov_id", "'identity'"))]
    assert ours == []
