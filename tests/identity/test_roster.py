"""Roster import from modern.gov GetCouncillorsByWard: all or nothing, idempotent, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from api.errors import Invalid
from api.meetings.sources.model import SourceError
from api.members.roster import import_roster, parse_roster
from api.members.service import create_member
from monitor.store.models import AuditRow, Member
from tests.api.conftest import Env

ROSTER = b"""<?xml version="1.0" encoding="utf-8"?>
<councillorsbyward>
  <wards>
    <ward>
      <wardtitle>Central</wardtitle>
      <councillors>
        <councillor>
          <councillorid>7377</councillorid>
          <fullusername>Councillor Jane Example</fullusername>
          <politicalpartytitle>Example Party</politicalpartytitle>
          <workaddress><email>jane@council.example</email></workaddress>
          <homeaddress><line1>1 Private Street</line1><phone>01234 567890</phone></homeaddress>
        </councillor>
        <councillor>
          <councillorid>7378</councillorid>
          <fullusername>Cllr Ada Lovelace</fullusername>
        </councillor>
      </councillors>
    </ward>
    <ward>
      <wardtitle>North &amp;amp; East</wardtitle>
      <councillors>
        <councillor>
          <councillorid>7400</councillorid>
          <fullusername>Councillor Bob O&apos;Neill</fullusername>
        </councillor>
      </councillors>
    </ward>
  </wards>
</councillorsbyward>
"""


def test_parse_reads_names_emails_and_wards_never_home_details() -> None:
    got = parse_roster(ROSTER)
    assert [(c.moderngov_id, c.name, c.email, c.ward) for c in got] == [
        ("7377", "Councillor Jane Example", "jane@council.example", "Central"),
        ("7378", "Cllr Ada Lovelace", None, "Central"),
        ("7400", "Councillor Bob O'Neill", None, "North & East"),
    ]
    assert got[0].line == 7


def test_import_is_idempotent_and_links_members_typed_by_hand(env: Env) -> None:
    with env.db.session() as s:
        ada = create_member(s, name="Cllr Ada Lovelace", actor="it").id
        create_member(s, name="Cllr Retired Member", actor="it")
    with env.db.session() as s:
        out = import_roster(s, councillors=parse_roster(ROSTER), actor="it-admin")
    assert out.created == ["Councillor Jane Example", "Councillor Bob O'Neill"]
    assert out.updated == ["Cllr Ada Lovelace"]  # linked to its modern.gov id
    assert out.not_in_roster == ["Cllr Retired Member"]
    with env.db.session() as s:
        assert s.get(Member, ada).moderngov_id == "7378"  # type: ignore[union-attr]
        audits = s.execute(select(func.count()).select_from(AuditRow)
                           .where(AuditRow.action == "import")).scalar_one()
    with env.db.session() as s:
        again = import_roster(s, councillors=parse_roster(ROSTER), actor="it-admin")
        assert (again.created, again.updated, again.unchanged) == ([], [], 3)
        assert s.execute(select(func.count()).select_from(AuditRow)
                         .where(AuditRow.action == "import")).scalar_one() == audits
    # A rename in modern.gov follows the id.
    renamed = ROSTER.replace(b"Councillor Jane Example", b"Councillor Jane Example-Smith")
    with env.db.session() as s:
        assert import_roster(s, councillors=parse_roster(renamed), actor="it").updated == [
            "Councillor Jane Example-Smith"]


def test_a_name_clash_imports_nothing(env: Env) -> None:
    with env.db.session() as s:
        import_roster(s, councillors=parse_roster(ROSTER), actor="it")
    clash = ROSTER.replace(b"<councillorid>7400</councillorid>",
                           b"<councillorid>9999</councillorid>").replace(
        b"Councillor Bob O&apos;Neill", b"Cllr Ada Lovelace")
    with env.db.session() as s:
        before = s.execute(select(func.count()).select_from(Member)).scalar_one()
    with env.db.session() as s, pytest.raises(Invalid) as err:
        import_roster(s, councillors=parse_roster(clash), actor="it")
    assert err.value.details == [
        "line 23: 'Cllr Ada Lovelace' is already a member linked to modern.gov councillor 7378"]
    with env.db.session() as s:
        assert s.execute(select(func.count()).select_from(Member)).scalar_one() == before


def test_every_bad_councillor_is_named_by_line() -> None:
    bad = ROSTER.replace(b"<councillorid>7378</councillorid>", b"<councillorid>x</councillorid>"
                         ).replace(b"jane@council.example", b"not an address")
    with pytest.raises(SourceError) as err:
        parse_roster(bad)
    assert err.value.details == [  # type: ignore[attr-defined]
        "line 7: councillor 7377's email 'not an address' is not an address",
        "line 14: <councillorid> 'x' is not a modern.gov id"]


@pytest.mark.parametrize("doc, words", [
    (b"<html><title>Sign in</title></html>", "HTML"),
    (b"<getmeetings/>", "not a GetCouncillorsByWard answer"),
    (b"<councillorsbyward><wards>", "line 1"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><councillorsbyward>&a;</councillorsbyward>',
     "refused for safety"),
    (b"<councillorsbyward><wards/></councillorsbyward>", "no councillors"),
])
def test_unusable_documents_say_why(doc: bytes, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        parse_roster(doc)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_are_a_source_error(data: bytes) -> None:
    try:
        parse_roster(data)
    except SourceError:
        pass


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_rosters_parse_or_say_why(data: st.DataObject) -> None:
    raw = bytearray(ROSTER)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        got = parse_roster(bytes(raw))
    except SourceError:
        return
    assert all(c.name and c.moderngov_id.isdigit() for c in got)
