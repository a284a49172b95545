"""RFC 2866 accounting, sans I/O: authenticators, duplicates, clients, replies, fuzz."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as rp

from allowlist.identity import IdentitySource
from monitor.identity.radius import (
    AccountingReceiver,
    Status,
    Verdict,
    clients,
    dictionary,
    from_accounting,
)
from monitor.identity.sighting import Change, Current, decide
from tests.identity.packets import AP, SECRET, acct

SUBNETS = ["198.51.100.0/24"]


def receiver(*, host_secret: bool = False, **kw: Any) -> AccountingReceiver:
    """The chamber's first 16 addresses share a secret; with ``host_secret`` the AP itself
    has its own (the more specific entry wins)."""
    pairs = [("198.51.100.0/28", SECRET)]
    if host_secret:
        pairs.append(("198.51.100.2", b"the-ap-own-secret"))
    return AccountingReceiver(clients(pairs), **kw)


def test_start_is_verified_recorded_and_answered() -> None:
    r = receiver()
    raw = acct("Start")
    got = r.handle(raw, AP)
    assert got.verdict is Verdict.ACCEPTED
    acc = got.accounting
    assert acc is not None and acc.status is Status.START
    assert (acc.user_name, acc.mac, acc.ip, acc.client) == (
        "ada@council.example", "02:00:5e:10:00:09", "198.51.100.9", AP[0])
    # The reply is an Accounting-Response the sender accepts (pyrad checks the Response
    # Authenticator against its request).
    assert got.reply is not None
    request = rp.AcctPacket(packet=raw, secret=SECRET, dict=dictionary())
    reply = rp.AcctPacket(packet=got.reply, secret=SECRET, dict=dictionary())
    assert reply.code == rp.AccountingResponse and request.VerifyReply(reply, got.reply)
    assert r.stats.radius_accepted == 1


def test_interim_and_stop_name_the_session_too() -> None:
    r = receiver()
    for status, want in (("Interim-Update", Status.INTERIM), ("Stop", Status.STOP)):
        got = r.handle(acct(status, ident=9 if status == "Stop" else 8), AP)
        assert got.accounting is not None and got.accounting.status is want


def test_a_wrong_secret_is_refused_and_counted() -> None:
    r = receiver()
    got = r.handle(acct(secret=b"not-the-secret"), AP)
    assert got.verdict is Verdict.BAD_AUTHENTICATOR and got.reply is None
    assert got.accounting is None and r.stats.radius_bad_authenticator == 1


def test_a_tampered_packet_fails_its_authenticator() -> None:
    raw = bytearray(acct())
    raw[-1] ^= 0x01  # one bit of the last attribute (the Framed-IP-Address)
    assert receiver().handle(bytes(raw), AP).verdict is Verdict.BAD_AUTHENTICATOR


def test_the_most_specific_client_secret_applies() -> None:
    r = receiver(host_secret=True)
    assert r.handle(acct(), AP).verdict is Verdict.BAD_AUTHENTICATOR
    assert r.handle(acct(secret=b"the-ap-own-secret"), AP).verdict is Verdict.ACCEPTED
    assert r.handle(acct(), ("198.51.100.3", 1)).verdict is Verdict.ACCEPTED


def test_unknown_senders_are_discarded_silently() -> None:
    r = receiver()
    got = r.handle(acct(), ("203.0.113.200", 1813))
    assert got.verdict is Verdict.UNKNOWN_CLIENT and got.reply is None
    assert receiver().handle(acct(), ("198.51.100.99", 1)).verdict is Verdict.UNKNOWN_CLIENT


def test_a_retransmission_gets_the_same_reply_and_is_not_recorded_twice() -> None:
    now = [0.0]
    r = receiver(clock=lambda: now[0])
    raw = acct()
    first = r.handle(raw, AP)
    again = r.handle(raw, AP)
    assert again.verdict is Verdict.DUPLICATE and again.accounting is None
    assert again.reply == first.reply
    # Another source port is another request (RFC 5080 keys on address and port).
    assert r.handle(raw, (AP[0], AP[1] + 1)).verdict is Verdict.ACCEPTED
    # The memory lasts a while, then the same bytes are a new request.
    now[0] += 31
    assert r.handle(raw, AP).verdict is Verdict.ACCEPTED
    # A request whose record could not be stored is forgotten: its retransmission is retried.
    fresh = acct(ident=99)
    got = r.handle(fresh, AP)
    r.forget(got.key)
    assert r.handle(fresh, AP).verdict is Verdict.ACCEPTED
    assert r.stats.radius_duplicate == 1


def test_other_packet_types_and_runts_are_not_accounting() -> None:
    r = receiver()
    access = rp.AuthPacket(secret=SECRET, dict=dictionary(), id=3, User_Name="ada")
    assert r.handle(bytes(access.RequestPacket()), AP).verdict is Verdict.NOT_ACCOUNTING
    assert r.handle(b"\x04\x01\x00", AP).verdict is Verdict.MALFORMED


def test_mac_notations_and_junk() -> None:
    r = receiver()
    for raw_mac, want in (("02005E100009", "02:00:5e:10:00:09"),
                          ("02:00:5e:10:00:09", "02:00:5e:10:00:09"),
                          ("not-a-mac", None)):
        got = r.handle(acct(mac=raw_mac, ident=len(raw_mac)), AP)
        assert got.accounting is not None and got.accounting.mac == want


def test_sightings_keep_chamber_addresses_only() -> None:
    r = receiver()
    acc = r.handle(acct(ip="203.0.113.9"), AP).accounting
    assert acc is not None
    s = from_accounting(acc, SUBNETS)
    assert s is not None and s.ip is None and s.source is IdentitySource.RADIUS_USER
    on = r.handle(acct("Accounting-On", ident=2), AP).accounting
    assert on is not None and from_accounting(on, SUBNETS) is None  # a NAS reboot: nobody
    anon = r.handle(acct(user=None, ident=3), AP).accounting
    assert anon is not None and from_accounting(anon, SUBNETS) is None


def test_binding_decisions() -> None:
    radius = IdentitySource.RADIUS_USER
    assert decide(None, 1, radius) is Change.NEW
    assert decide(Current(None, IdentitySource.MAC_ONLY), 1, radius) is Change.BIND
    assert decide(Current(2, radius), 1, radius) is Change.BIND
    assert decide(Current(1, IdentitySource.MAC_ONLY), 1, radius) is Change.BIND
    assert decide(Current(1, radius), 1, radius) is Change.TOUCH


# -- fuzz -------------------------------------------------------------------------------------
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    got = receiver().handle(data, AP)
    assert got.verdict in set(Verdict) and got.verdict is not Verdict.ACCEPTED


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_packets_never_raise(data: st.DataObject) -> None:
    raw = bytearray(acct())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    got = receiver().handle(bytes(raw[:cut] if data.draw(st.booleans()) else raw), AP)
    assert got.verdict in set(Verdict)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(user=st.text(max_size=80).filter(lambda u: len(u.encode()) <= 253),
       mac=st.text(max_size=40).filter(lambda u: 0 < len(u.encode()) <= 253))
def test_signed_packets_with_odd_attributes_are_handled(user: str, mac: str) -> None:
    """Correctly signed, so the authenticator passes: the attribute values are the fuzz."""
    got = receiver().handle(acct(user=user or None, mac=mac), AP)
    assert got.verdict is Verdict.ACCEPTED and got.accounting is not None
    assert got.accounting.user_name is None or got.accounting.user_name.isprintable()


def test_a_class_attribute_names_the_member_key() -> None:
    """iPSK/MPSK behind RADIUS: the server put Class "cg:<key id>" in its Access-Accept and
    the controller echoes it in accounting, where User-Name is often just the MAC."""
    got = receiver().handle(acct(user="06005e400004", Class=b"cg:m7"), AP)
    acc = got.accounting
    assert acc is not None and acc.key_id == "m7"
    s = from_accounting(acc, SUBNETS)
    assert s is not None and (s.source, s.who) == (IdentitySource.WIFI_KEY, "m7")
    other = receiver().handle(acct(Class=b"someone-elses-class"), AP).accounting
    assert other is not None and other.key_id is None
