"""RADIUS accounting (RFC 2866), sans I/O: datagram in → verdict, reply and record out.

pyrad parses the packet and checks the Request Authenticator (MD5 over the packet and the
client's shared secret, compared in constant time). What this module adds is policy:

* only configured clients are heard (by source address); everything else is silently
  discarded as RFC 2865 §3 says, and counted — a wrong secret most of all, since it means a
  misconfigured controller or someone forging sessions;
* a retransmission (same client address and port, identifier and authenticator: RFC 5080
  §2.2.2) gets the same Accounting-Response again and is not recorded twice;
* a reply is built only for a request whose record the caller can store; the caller sends it
  once stored (RFC 2866 §2: no response unless the record was kept), or calls
  :meth:`AccountingReceiver.forget` so the client's retransmission is tried again.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum, StrEnum
from functools import cache
from pathlib import Path

from pyrad import packet as rp
from pyrad.dictionary import Dictionary

from allowlist.identity import IdentitySource
from allowlist.macs import MacError, normalise_mac
from monitor.identity.sighting import Sighting, in_subnets

log = logging.getLogger(__name__)
DICTIONARY = Path(__file__).with_name("dictionary")
DUPLICATE_SECONDS = 30.0  # how long a reply is kept for a retransmission (RFC 5080 §2.2.2)
MAX_REMEMBERED = 4096
MAX_TEXT = 253  # RADIUS attribute payloads are at most 253 octets
CLASS_PREFIX = b"cg:"  # Class attribute naming a member's key id (see deploy/radius/)


@cache
def dictionary() -> Dictionary:
    return Dictionary(str(DICTIONARY))


class Status(IntEnum):
    START = 1
    STOP = 2
    INTERIM = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNKNOWN_CLIENT = "unknown_client"
    BAD_AUTHENTICATOR = "bad_authenticator"  # wrong shared secret, or a forged/damaged packet
    MALFORMED = "malformed"
    NOT_ACCOUNTING = "not_accounting"  # another packet type sent to the accounting port


@dataclass
class RadiusStats:
    """Counters for the gate's heartbeat (never a log line per packet)."""

    radius_received: int = 0
    radius_accepted: int = 0
    radius_duplicate: int = 0
    radius_unknown_client: int = 0
    radius_bad_authenticator: int = 0
    radius_malformed: int = 0
    radius_not_accounting: int = 0

    def count(self, verdict: Verdict) -> None:
        name = f"radius_{verdict.value}"
        setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Accounting:
    """What one Accounting-Request says about one Wi-Fi session (only what we need: who,
    which device, which address — never traffic counters or locations)."""

    client: str  # the access point / controller that sent it
    status: Status | None  # None: a status type this receiver does not know
    user_name: str | None
    mac: str | None  # Calling-Station-Id, normalised; None if absent or not a MAC
    ip: str | None  # Framed-IP-Address or Framed-IPv6-Address
    session_id: str | None
    # A per-member key id the RADIUS server put in the Class attribute as "cg:<key id>" when it
    # accepted the device (iPSK/MPSK/PPSK); the NAS echoes Class in accounting (RFC 2865 §5.25).
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Handled:
    verdict: Verdict
    reply: bytes | None = None  # the Accounting-Response to send (once the record is stored)
    accounting: Accounting | None = None  # None for a duplicate: it was recorded already
    key: tuple[str, int, int, bytes] | None = None


@dataclass(frozen=True, slots=True)
class Client:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    secret: bytes


def clients(pairs: Iterable[tuple[str, bytes]]) -> list[Client]:
    """Configured clients, most specific network first (a host beats its subnet)."""
    out = [Client(ipaddress.ip_network(a, strict=False), s) for a, s in pairs]
    return sorted(out, key=lambda c: -c.network.prefixlen)


class AccountingReceiver:
    def __init__(self, known: Iterable[Client], *, stats: RadiusStats | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 keep_seconds: float = DUPLICATE_SECONDS) -> None:
        self.clients = list(known)
        self.stats = stats or RadiusStats()
        self._clock = clock
        self._keep = keep_seconds
        self._replies: OrderedDict[tuple[str, int, int, bytes], tuple[float, bytes]] = (
            OrderedDict())
        self._warned: set[str] = set()

    def _client(self, host: str) -> Client | None:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return next((c for c in self.clients if addr in c.network), None)

    def handle(self, data: bytes, source: tuple[str, int]) -> Handled:
        """One datagram from ``source`` (host, port). Never raises on bad input."""
        self.stats.radius_received += 1
        got = self._handle(data, source)
        self.stats.count(got.verdict)
        return got

    def _handle(self, data: bytes, source: tuple[str, int]) -> Handled:
        host, port = source[0], source[1]
        client = self._client(host)
        if client is None:
            return Handled(Verdict.UNKNOWN_CLIENT)
        if len(data) < 20:
            return Handled(Verdict.MALFORMED)
        if data[0] != rp.AccountingRequest:
            return Handled(Verdict.NOT_ACCOUNTING)
        key = (host, port, data[1], bytes(data[4:20]))
        self._expire()
        cached = self._replies.get(key)
        if cached is not None:
            return Handled(Verdict.DUPLICATE, reply=cached[1], key=key)
        try:
            pkt = rp.AcctPacket(packet=bytes(data), secret=client.secret, dict=dictionary())
        except (rp.PacketError, ValueError, KeyError, IndexError, TypeError):
            return Handled(Verdict.MALFORMED)
        if not pkt.VerifyAcctRequest() or (
            pkt.message_authenticator and not _message_authenticator_ok(pkt)
        ):
            if host not in self._warned:  # once per sender: a flood must not flood the log
                self._warned.add(host)
                log.warning("RADIUS accounting from %s failed authentication (wrong shared "
                            "secret?); discarded", host)
            return Handled(Verdict.BAD_AUTHENTICATOR)
        try:
            record = _record(pkt, host)
            reply = pkt.CreateReply().ReplyPacket()
        except (rp.PacketError, ValueError, KeyError, IndexError, TypeError, UnicodeError):
            return Handled(Verdict.MALFORMED)
        self._replies[key] = (self._clock(), reply)
        while len(self._replies) > MAX_REMEMBERED:
            self._replies.popitem(last=False)
        return Handled(Verdict.ACCEPTED, reply=reply, accounting=record, key=key)

    def forget(self, key: tuple[str, int, int, bytes] | None) -> None:
        """The record could not be stored: let the client's retransmission be handled anew."""
        if key is not None:
            self._replies.pop(key, None)

    def _expire(self) -> None:
        cutoff = self._clock() - self._keep
        while self._replies:
            first = next(iter(self._replies.values()))
            if first[0] >= cutoff:
                break
            self._replies.popitem(last=False)


def _message_authenticator_ok(pkt: rp.AcctPacket) -> bool:
    try:
        return bool(pkt.verify_message_authenticator())
    except Exception:  # noqa: BLE001 - pyrad raises assorted errors on a damaged attribute
        return False


def _one(pkt: rp.AcctPacket, name: str) -> object | None:
    if name not in pkt:
        return None
    values = pkt[name]
    return values[0] if values else None


def _text(value: object | None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    return text[:MAX_TEXT] or None


def _record(pkt: rp.AcctPacket, client: str) -> Accounting:
    raw_status = _one(pkt, "Acct-Status-Type")
    status: Status | None = None
    if isinstance(raw_status, str):
        status = {"Start": Status.START, "Stop": Status.STOP,
                  "Interim-Update": Status.INTERIM, "Accounting-On": Status.ACCOUNTING_ON,
                  "Accounting-Off": Status.ACCOUNTING_OFF}.get(raw_status)
    elif isinstance(raw_status, int) and raw_status in Status._value2member_map_:
        status = Status(raw_status)
    mac: str | None = None
    calling = _text(_one(pkt, "Calling-Station-Id"))
    if calling:
        try:
            mac = normalise_mac(calling)
        except MacError:
            mac = None
    ip = _text(_one(pkt, "Framed-IP-Address")) or _text(_one(pkt, "Framed-IPv6-Address"))
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            ip = None
    key_id = None
    for cls in pkt.get("Class", []) if "Class" in pkt else []:
        if isinstance(cls, bytes) and cls.startswith(CLASS_PREFIX):
            key_id = _text(cls[len(CLASS_PREFIX):].decode("ascii", errors="replace"))
            break
    return Accounting(client=client, status=status, user_name=_text(_one(pkt, "User-Name")),
                      mac=mac, ip=ip, session_id=_text(_one(pkt, "Acct-Session-Id")),
                      key_id=key_id)


def from_accounting(acc: Accounting, subnets: Sequence[str]) -> Sighting | None:
    """Start, Interim-Update and Stop all name the session's user and device (a Stop for a
    device never seen before still tells who used it). The IP is kept only when it is inside
    the chamber subnets: elsewhere it cannot be a chamber client."""
    if acc.status not in (Status.START, Status.INTERIM, Status.STOP):
        return None
    if acc.mac is None or not (acc.key_id or acc.user_name):
        return None
    ip = acc.ip if acc.ip is not None and in_subnets(acc.ip, subnets) else None
    if acc.key_id:  # the RADIUS server said which member's key the device used
        return Sighting(acc.mac, IdentitySource.WIFI_KEY, acc.key_id, ip, f"radius:{acc.client}")
    assert acc.user_name is not None
    return Sighting(acc.mac, IdentitySource.RADIUS_USER, acc.user_name, ip,
                    f"radius:{acc.client}")
