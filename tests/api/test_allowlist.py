"""Rules, presets, platforms and explain: IT's view of the allowlist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from api.auth.roles import Role
from monitor.store.models import AuditRow
from monitor.store.revision import current_revision
from tests.api.conftest import Env, assert_error

MAC = "02:00:5e:10:00:01"


def revision(env: Env) -> int:
    with env.db.session() as s:
        return current_revision(s)


def audit(env: Env, entity: str) -> list[AuditRow]:
    with env.db.session() as s:
        q = select(AuditRow).where(AuditRow.entity == entity).order_by(AuditRow.id)
        return list(s.execute(q).scalars())


# -- rules ---------------------------------------------------------------------------------
def test_rule_crud_is_audited_and_bumps_the_revision(env: Env, admin: dict[str, str]) -> None:
    rev = revision(env)
    r = env.client.post("/api/v1/rules", headers=admin,
                        json={"domain": "Papers.Example.GOV.UK.", "category": "agenda",
                              "note": "committee papers"})
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["domain"] == "papers.example.gov.uk" and rule["exact"] is False
    assert revision(env) > rev
    got = env.client.get(f"/api/v1/rules/{rule['id']}", headers=admin).json()
    assert got == rule
    r = env.client.put(f"/api/v1/rules/{rule['id']}", headers=admin,
                       json={"domain": "papers.example.gov.uk", "category": "blocked"})
    assert r.status_code == 200 and r.json()["category"] == "blocked"
    page = env.client.get("/api/v1/rules?category=blocked&q=papers", headers=admin).json()
    assert page["total"] == 1 and page["items"][0]["id"] == rule["id"]
    assert env.client.delete(f"/api/v1/rules/{rule['id']}", headers=admin).status_code == 204
    assert_error(env.client.get(f"/api/v1/rules/{rule['id']}", headers=admin), 404)
    rows = audit(env, "rule")
    assert [a.action for a in rows] == ["create", "update", "delete"]
    assert rows[1].before == rows[0].after and (rows[1].after or {})["category"] == "blocked"
    assert rows[2].actor == "it_admin-user"


@pytest.mark.parametrize("domain, words", [
    ("https://instagram.com/x", "looks like a URL"),
    ("*.example.com", "wildcards"),
    ("198.51.100.9", "IP address"),
    ("exa mple.com", "spaces"),
    ("com", "top-level"),
])
def test_rule_domain_is_validated_with_the_normaliser_message(
        env: Env, admin: dict[str, str], domain: str, words: str) -> None:
    err = assert_error(env.client.post("/api/v1/rules", headers=admin,
                                       json={"domain": domain, "category": "agenda"}), 422)
    assert words in str(err["message"])


def test_rule_platform_and_duplicates(env: Env, admin: dict[str, str]) -> None:
    bad = env.client.post("/api/v1/rules", headers=admin,
                          json={"domain": "ig.example", "category": "platform"})
    assert "platform key" in str(assert_error(bad, 422)["message"])
    unknown = env.client.post("/api/v1/rules", headers=admin, json={
        "domain": "ig.example", "category": "platform", "platform": "myspace"})
    assert "unknown platform" in str(assert_error(unknown, 422)["message"])
    assert_error(env.client.post("/api/v1/rules", headers=admin, json={
        "domain": "ig.example", "category": "bypass"}), 422)
    ok = env.client.post("/api/v1/rules", headers=admin, json={
        "domain": "ig.example", "category": "platform", "platform": "instagram"})
    assert ok.status_code == 201
    dup = env.client.post("/api/v1/rules", headers=admin, json={
        "domain": "IG.example", "category": "blocked"})
    assert_error(dup, 409, "conflict")
    exact = env.client.post("/api/v1/rules", headers=admin, json={
        "domain": "ig.example", "category": "blocked", "exact": True})
    assert exact.status_code == 201  # an exact rule is a different rule


def test_rules_are_it_only(env: Env) -> None:
    for role in (Role.CLERK, Role.MONITORING_OFFICER, Role.VIEWER):
        assert_error(env.client.get("/api/v1/rules", headers=env.auth(role)), 403)
        assert_error(env.client.post("/api/v1/rules", headers=env.auth(role),
                                     json={"domain": "a.example", "category": "agenda"}), 403)


# -- presets -------------------------------------------------------------------------------
def test_presets_list_their_rules_and_switch(env: Env, admin: dict[str, str]) -> None:
    presets = {p["key"]: p for p in env.client.get("/api/v1/presets", headers=admin).json()}
    assert {"moderngov", "public-i", "os-connectivity", "certificates"} <= set(presets)
    mg = presets["moderngov"]
    assert mg["enabled"] and mg["category"] == "agenda" and mg["problem"] is None
    assert "democracy.example.gov.uk" in [r["domain"] for r in mg["rules"]]
    rev = revision(env)
    r = env.client.put("/api/v1/presets/public-i", headers=admin, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert revision(env) > rev
    after = {p["key"]: p["enabled"]
             for p in env.client.get("/api/v1/presets", headers=admin).json()}
    # Switching one off keeps every other preset as it was.
    assert after == {k: (k != "public-i") and v["enabled"] for k, v in presets.items()}
    [row] = audit(env, "preset")
    assert (row.action, row.entity_id, row.before, row.after) == (
        "disable", "public-i", {"enabled": True}, {"enabled": False})
    # The policy follows: the webcast is no longer an allowed category.
    verdict = env.client.get("/api/v1/explain?domain=example.public-i.tv", headers=admin).json()
    assert verdict["category"] == "unlisted"


def test_preset_errors_and_permissions(env: Env, admin: dict[str, str]) -> None:
    assert_error(env.client.put("/api/v1/presets/nope", headers=admin, json={"enabled": True}),
                 404)
    assert_error(env.client.put("/api/v1/presets/moderngov", headers=admin,
                                json={"enabled": "perhaps"}), 422)
    assert_error(env.client.put("/api/v1/presets/moderngov", headers=env.auth(Role.CLERK),
                                json={"enabled": False}), 403)


# -- platforms -----------------------------------------------------------------------------
def test_platform_catalogue_and_it_additions(env: Env, admin: dict[str, str]) -> None:
    platforms = {p["key"]: p for p in env.client.get("/api/v1/platforms", headers=admin).json()}
    assert "instagram.com" in platforms["instagram"]["suffixes"]
    assert platforms["instagram"]["added_by_it"] == []
    r = env.client.post("/api/v1/platforms", headers=admin, json={
        "key": "parishchat", "name": "Parish Chat", "suffixes": ["ParishChat.example"]})
    assert r.status_code == 201, r.text
    assert r.json()["added_by_it"] == ["parishchat.example"]
    more = env.client.post("/api/v1/platforms", headers=admin, json={
        "key": "instagram", "suffixes": ["ig-cdn.example"]})
    assert more.status_code == 201 and "ig-cdn.example" in more.json()["suffixes"]
    # The policy (and so the gate and explain) sees both.
    verdict = env.client.get("/api/v1/explain?domain=www.parishchat.example",
                             headers=admin).json()
    assert (verdict["platform"], verdict["platform_name"]) == ("parishchat", "Parish Chat")
    assert env.client.get("/api/v1/explain?domain=ig-cdn.example",
                          headers=admin).json()["platform"] == "instagram"
    # IT rules can now name the new platform.
    assert env.client.post("/api/v1/rules", headers=admin, json={
        "domain": "chat.example.org", "category": "platform",
        "platform": "parishchat"}).status_code == 201
    assert env.client.delete("/api/v1/platforms/instagram/domains/ig-cdn.example",
                             headers=admin).status_code == 204
    assert "ig-cdn.example" not in env.client.get("/api/v1/platforms/instagram",
                                                  headers=admin).json()["suffixes"]
    assert [a.action for a in audit(env, "platform")] == [
        "add-domains", "add-domains", "remove-domain"]


def test_platform_additions_are_validated(env: Env, admin: dict[str, str]) -> None:
    taken = env.client.post("/api/v1/platforms", headers=admin, json={
        "key": "mine", "name": "Mine", "suffixes": ["instagram.com"]})
    assert "already listed under platform 'instagram'" in str(assert_error(taken, 422)["message"])
    nameless = env.client.post("/api/v1/platforms", headers=admin, json={
        "key": "mine", "suffixes": ["mine.example"]})
    assert "display name" in str(assert_error(nameless, 422)["message"])
    assert_error(env.client.post("/api/v1/platforms", headers=admin, json={
        "key": "mine", "name": "Mine", "suffixes": ["http://mine.example/"]}), 422)
    assert_error(env.client.post("/api/v1/platforms", headers=admin, json={
        "key": "Bad Key", "name": "Mine", "suffixes": ["mine.example"]}), 422)
    shipped = env.client.delete("/api/v1/platforms/instagram/domains/instagram.com",
                                headers=admin)
    assert_error(shipped, 409, "conflict")
    assert_error(env.client.get("/api/v1/platforms/nope", headers=admin), 404)
    assert_error(env.client.get("/api/v1/platforms", headers=env.auth(Role.VIEWER)), 403)


# -- explain -------------------------------------------------------------------------------
def test_explain_matches_the_cli_shape(env: Env, admin: dict[str, str]) -> None:
    with env.db.session() as s:
        from api.devices.service import register_device
        from api.meetings.service import create_meeting
        from api.members.service import create_member

        m = create_member(s, name="Cllr Ada Lovelace", actor="test")
        register_device(s, mac=MAC, member_id=m.id, label="iPad", actor="test")
        start = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
        create_meeting(s, title="Full Council", start=start, end=start + timedelta(hours=3),
                       actor="test")
    r = env.client.get("/api/v1/explain", headers=admin, params={
        "domain": "WWW.Instagram.com.", "device": "02-00-5E-10-00-01", "at": "2026-11-26T19:30"})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["domain"] == "www.instagram.com" and v["device"] == MAC
    assert (v["action"], v["kind"], v["platform"], v["platform_name"]) == (
        "refuse", "platform", "instagram", "Instagram")
    assert v["restricted"] is True and v["mode"] == "enforce" and v["meeting_id"] == 1
    assert v["at"] == "2026-11-26T19:30:00+00:00"  # London in November is UTC
    # Naive times are London: in June 19:30 London is 18:30 UTC.
    june = env.client.get("/api/v1/explain", headers=admin,
                          params={"domain": "example.com", "at": "2026-06-01T19:30"}).json()
    assert june["at"] == "2026-06-01T18:30:00+00:00"
    officer = env.client.get("/api/v1/explain?domain=example.com",
                             headers=env.auth(Role.MONITORING_OFFICER))
    assert officer.status_code == 200 and officer.json()["kind"] == "unrestricted"


def test_explain_validation_and_permissions(env: Env, admin: dict[str, str]) -> None:
    err = assert_error(env.client.get("/api/v1/explain?domain=example.com&device=zz:zz",
                                      headers=admin), 422)
    assert "'zz:zz' is not a MAC address" in str(err["message"])
    assert_error(env.client.get("/api/v1/explain?domain=https://x.example/", headers=admin), 422)
    assert_error(env.client.get("/api/v1/explain?domain=x.example&at=yesterday",
                                headers=admin), 422)
    assert_error(env.client.get("/api/v1/explain", headers=admin), 422)
    assert_error(env.client.get("/api/v1/explain?domain=x.example",
                                headers=env.auth(Role.CLERK)), 403)
