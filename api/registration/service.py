"""Member self-registration (DESIGN §11): IT issues a one-time code, the member types it into
a page served on the chamber Wi-Fi, and the gateway's neighbour table says which MAC asked.

Codes are 12 symbols from a 31-symbol alphabet without look-alikes (no 0/O, 1/I/L), shown
as three groups of four: easy to type on a phone, about 59 bits. Only a SHA-256 of the
normalised code is stored. With that much entropy, a life of hours and a per-address limit on
wrong guesses, a slow hash would add nothing an attacker notices — and a keyed lookup by hash
needs no scan of every live code.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import logging
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from allowlist.clock import MeetingClock, meeting_in_session
from allowlist.identity import IdentitySource
from api.audit.service import record
from api.devices.service import register_device, revoke_device
from api.errors import Conflict, Invalid, NotFound, ServiceError
from api.members.service import get_member
from monitor.settings import Settings
from monitor.store.models import Device, Member, RegistrationCode
from monitor.store.policy_loader import load_meetings
from monitor.store.types import utcnow

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS = 3
GROUP_LEN = 4
CODE_LEN = GROUPS * GROUP_LEN
CODE_BITS = CODE_LEN * math.log2(len(ALPHABET))
DEFAULT_HOURS = 24
MAX_HOURS = 24 * 14
SELF = "self-registration"  # the audit actor for everything the member does on the page
NAME_MAX = 60
_SEPARATORS = re.compile(r"[\s\-_.]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- codes --------------------------------------------------------------------------------
def new_code() -> str:
    """A fresh code, e.g. ``K7QM-4TXR-9HWB`` (``secrets``: unpredictable, not just random)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))
    return "-".join(raw[i : i + GROUP_LEN] for i in range(0, CODE_LEN, GROUP_LEN))


def normalise_code(raw: str) -> str | None:
    """The 12 symbols of what the member typed (any case, spaces or dashes), or None if it
    cannot be a code at all — such input is never looked up, so it costs no attempt."""
    bare = _SEPARATORS.sub("", raw or "").upper()
    if len(bare) != CODE_LEN or any(ch not in ALPHABET for ch in bare):
        return None
    return bare


def hash_key(key: str) -> str:
    """What the database holds instead of a device's secret."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def hash_code(code: str) -> str:
    """What the database holds instead of the code."""
    bare = normalise_code(code)
    if bare is None:
        raise ValueError("not a registration code")
    return hashlib.sha256(bare.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """The only time the plain code exists outside the member's hands."""

    id: int
    member_id: int
    member: str
    code: str
    expires_at: datetime


def issue_code(s: Session, *, actor: str, member_id: int | None = None, name: str | None = None,
               hours: int = DEFAULT_HOURS, now: datetime | None = None) -> IssuedCode:
    """A new one-time code for a member. Earlier codes stay valid until used or expired: a
    member with a phone and a tablet gets one code for each."""
    if not 1 <= hours <= MAX_HOURS:
        raise Invalid(f"a code lives between 1 and {MAX_HOURS} hours, not {hours}")
    m = get_member(s, member_id=member_id, name=name)
    if not m.active:
        raise Conflict(f"{m.name} is inactive; reactivate the member before issuing a code")
    now = now or utcnow()
    code = new_code()
    digest = hash_code(code)
    while s.execute(select(RegistrationCode.id)
                    .where(RegistrationCode.code_hash == digest)).first() is not None:
        code = new_code()  # 2^-59 per live code; checked because UNIQUE would 500 otherwise
        digest = hash_code(code)
    row = RegistrationCode(member_id=m.id, code_hash=digest, created_at=now, created_by=actor,
                           expires_at=now + timedelta(hours=hours))
    s.add(row)
    s.flush()
    record(s, actor=actor, action="issue-registration-code", entity="member", entity_id=m.id,
           after={"code_id": row.id, "expires_at": row.expires_at.isoformat()})
    return IssuedCode(row.id, m.id, m.name, code, row.expires_at)


CodeState = Literal["unused", "used", "expired"]


def code_state(row: RegistrationCode, now: datetime | None = None) -> CodeState:
    if row.used_at is not None:
        return "used"
    return "expired" if row.expires_at <= (now or utcnow()) else "unused"


def list_codes(s: Session, *, member_id: int) -> list[RegistrationCode]:
    get_member(s, member_id=member_id)
    q = (select(RegistrationCode).where(RegistrationCode.member_id == member_id)
         .order_by(RegistrationCode.id.desc()))
    return list(s.execute(q).scalars())


# -- which device is asking ---------------------------------------------------------------
def client_address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The request's peer as an address (IPv4-mapped IPv6 unwrapped, zone dropped)."""
    if not host:
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def mac_for_client(host: str | None, subnets: Iterable[str],
                   neighbours: Callable[[], Mapping[str, str]]) -> str | None:
    """The MAC behind a chamber address, from a fresh neighbour-table dump — never a cache:
    addresses are reused as leases change hands, and a stale entry would bind the wrong phone.

    None when the address is outside the chamber subnets (the upstream router has a neighbour
    entry too, and is nobody's device) or the kernel has no complete entry for it (a client
    behind another router). We explain rather than guess."""
    ip = client_address(host)
    if ip is None:
        return None
    if not any(ip in ipaddress.ip_network(net, strict=False) for net in subnets):
        log.info("registration from %s refused: outside the chamber subnets", ip)
        return None
    try:
        table = neighbours()
    except OSError as exc:
        log.warning("registration: neighbour table unreadable: %s", exc)
        return None
    mac = table.get(str(ip))
    if mac is None:
        log.info("registration from %s refused: no neighbour entry", ip)
    return mac


# -- redeeming a code ---------------------------------------------------------------------
class CodeProblem(enum.StrEnum):
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


CODE_MESSAGES: dict[CodeProblem, str] = {
    CodeProblem.MALFORMED: ("That is not a registration code. A code has 12 letters and numbers, "
                            "like ABCD-EFGH-2345."),
    CodeProblem.UNKNOWN: ("That code is not right. Check it against the one IT gave you and "
                          "try again."),
    CodeProblem.EXPIRED: "That code has expired. Please ask IT for a new one.",
    CodeProblem.USED: ("That code has already been used. Each code registers one device; "
                       "please ask IT for a new one."),
}


class CodeRefused(ServiceError):
    """The code cannot be used; ``problem`` says why and the message says it to a member."""

    status = 400
    code = "code_refused"

    def __init__(self, problem: CodeProblem) -> None:
        super().__init__(CODE_MESSAGES[problem])
        self.problem = problem


class RegistrationConflict(Conflict):
    """The MAC belongs to another member. The refusal is audited for IT to sort out."""


CONFLICT_MESSAGE = ("This device is already registered to another member, so it has not been "
                    "changed. IT have been told; please speak to them. Your code has not been "
                    "used up.")


@dataclass(frozen=True, slots=True)
class Registered:
    device_id: int
    mac: str
    label: str
    member_id: int
    member: str
    randomised: bool
    already: bool  # this device was registered to this member before
    key: str = ""  # the device's secret for its "my devices" page: a cookie, shown once


def clean_name(raw: str | None) -> str:
    """A device name as typed on a phone: one line, no control characters, short."""
    return " ".join(_CONTROL.sub(" ", raw or "").split())[:NAME_MAX]


def redeem_code(s: Session, *, raw_code: str, mac: str, name: str = "",
                now: datetime | None = None) -> Registered:
    """Bind ``mac`` to the code's member and use the code up, in one transaction.

    The code is checked before anything changes and consumed with a conditional UPDATE, so
    two simultaneous submissions of one code register one device. A MAC already bound to a
    different member is refused and the refusal recorded ("registration-conflict"); the
    code stays usable for when IT has revoked the old binding."""
    now = now or utcnow()
    bare = normalise_code(raw_code)
    if bare is None:
        raise CodeRefused(CodeProblem.MALFORMED)
    row = s.execute(select(RegistrationCode)
                    .where(RegistrationCode.code_hash == hash_code(bare))).scalar_one_or_none()
    if row is None:
        raise CodeRefused(CodeProblem.UNKNOWN)
    if row.used_at is not None:
        raise CodeRefused(CodeProblem.USED)
    if row.expires_at <= now:
        raise CodeRefused(CodeProblem.EXPIRED)
    member = s.get(Member, row.member_id)
    assert member is not None  # ON DELETE CASCADE: a code never outlives its member
    existing = s.execute(select(Device).where(Device.mac == mac)).scalar_one_or_none()
    if existing is not None and existing.member_id not in (None, member.id):
        record(s, actor=SELF, action="registration-conflict", entity="device",
               entity_id=existing.id,
               after={"mac": mac, "registered_to": existing.member_id,
                      "attempted_by": member.id, "code_id": row.id})
        s.commit()  # the refusal is the record IT needs; it must survive the error
        log.warning("registration conflict: %s is registered to member %s, code of member %s",
                    mac, existing.member_id, member.id)
        raise RegistrationConflict(CONFLICT_MESSAGE)
    taken = s.execute(update(RegistrationCode)
                      .where(RegistrationCode.id == row.id, RegistrationCode.used_at.is_(None))
                      .values(used_at=now))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise CodeRefused(CodeProblem.USED)  # lost the race to a simultaneous submission
    already = existing is not None and existing.member_id == member.id
    # The name typed wins; else what IT called it; else the DHCP hostname the gate saw.
    label = clean_name(name) or ((existing.label or existing.hostname or "") if existing else "")
    dev = register_device(s, mac=mac, member_id=member.id, label=label, actor=SELF,
                          identity=IdentitySource.REGISTRATION_CODE)
    key = secrets.token_urlsafe(32)
    dev.self_key_hash = hash_key(key)  # a new registration replaces any earlier secret
    row.device_id = dev.id
    s.flush()
    log.info("self-registration: device %s (%s) registered to member %s", dev.id, mac, member.id)
    return Registered(dev.id, dev.mac, dev.label, member.id, member.name, dev.randomised, already,
                      key)


# -- the member's own devices ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MyDevices:
    member: Member
    this: Device
    devices: list[Device]


def my_devices(s: Session, *, mac: str, key: str) -> MyDevices | None:
    """The devices of the member who owns the asking device, or None if it is not registered
    or cannot prove it is that device.

    The MAC says which device is asking, but anyone can copy a MAC; the proof is ``key``, the
    secret this device was given when it registered itself (issue 20). A device registered
    by IT has no secret: its member registers it here with a code to see this page."""
    this = s.execute(select(Device).where(Device.mac == mac)).scalar_one_or_none()
    if this is None or this.member_id is None or not this.self_key_hash or not key:
        return None
    if not secrets.compare_digest(this.self_key_hash.encode(), hash_key(key).encode()):
        return None
    member = s.get(Member, this.member_id)
    assert member is not None
    devices = list(s.execute(select(Device).where(Device.member_id == member.id)
                             .order_by(Device.id)).scalars())
    return MyDevices(member, this, devices)


def meeting_now(s: Session, *, room: str | None, grace: timedelta,
                now: datetime | None = None) -> MeetingClock | None:
    now = now or utcnow()
    return meeting_in_session(load_meetings(s, room=room, around=now), now, grace)


def remove_own_device(s: Session, *, mac: str, key: str, device_id: int, room: str | None,
                      grace: timedelta, now: datetime | None = None) -> Device:
    """A member removes one of their devices (revoked, not deleted: reports keep it).

    Not while a meeting is in session: removing a device lifts its restriction, and opting
    out mid-meeting is exactly what the policy forbids. IT can still revoke at any time."""
    mine = my_devices(s, mac=mac, key=key)
    if mine is None:
        raise NotFound("this device is not registered, so it has no devices to show")
    target = next((d for d in mine.devices if d.id == device_id), None)
    if target is None:
        raise NotFound("that is not one of your devices")
    meeting = meeting_now(s, room=room, grace=grace, now=now)
    if meeting is not None:
        raise Conflict(f"A meeting is in session ({meeting.title}), so devices cannot be "
                       "removed until it ends. Please ask IT if this is urgent.")
    return revoke_device(s, device_id=target.id, actor=SELF)


def slip_urls(web_host: str, port: int) -> dict[str, str]:
    """What the registration slip given with a code points at: the page to register on and
    the notice for members (what is recorded, how long, who sees it), both on the
    chamber-side listener."""
    host = f"[{web_host}]" if ":" in web_host else web_host
    base = f"http://{host}:{port}"
    return {"register_url": f"{base}/register", "notice_url": f"{base}/register/privacy"}


def registration_address(settings: Settings) -> str:
    """Where a member's device opens the registration page on the chamber Wi-Fi: the
    chamber-side listener (``[web] registration_host``), else the gate's chamber address."""
    host = settings.web.registration_host or settings.dns.listen
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{settings.web.registration_port}/register"
