"""Learn sessions and the rules they propose."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.catalogue import load_catalogue
from allowlist.categories import ALLOWED_CATEGORIES
from allowlist.decision import Policy
from allowlist.macs import MacError, normalise_mac
from api.audit.service import record
from api.errors import Invalid, NotFound
from monitor.store.models import Device, LearnedName, LearnSession
from monitor.store.revision import bump_revision
from monitor.store.types import utcnow

MAX_MINUTES = 24 * 60


@cache
def _extract():
    import tldextract

    # The bundled public-suffix snapshot: never fetched from the network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable(name: str) -> str:
    ext = _extract()(name)
    top = getattr(ext, "top_domain_under_public_suffix", None) or ext.registered_domain
    return top or name


def start_learning(
    s: Session, *, mac: str, minutes: int, actor: str, now: datetime | None = None
) -> LearnSession:
    try:
        mac = normalise_mac(mac)
    except MacError as exc:
        raise Invalid(str(exc)) from None
    if not 1 <= minutes <= MAX_MINUTES:
        raise Invalid(f"learning lasts 1 to {MAX_MINUTES} minutes")
    dev = s.execute(select(Device).where(Device.mac == mac)).scalar_one_or_none()
    if dev is None:
        dev = Device(mac=mac, label="learn mode")
        s.add(dev)
        s.flush()
    now = now or utcnow()
    ls = LearnSession(
        device_id=dev.id, started_at=now, until=now + timedelta(minutes=minutes), started_by=actor
    )
    s.add(ls)
    s.flush()
    record(
        s,
        actor=actor,
        action="learn-start",
        entity="device",
        entity_id=dev.id,
        after={"mac": mac, "until": ls.until.isoformat(), "session": ls.id},
    )
    bump_revision(s)
    return ls


def stop_learning(s: Session, *, mac: str, actor: str) -> int:
    mac = normalise_mac(mac)
    now = utcnow()
    rows = (
        s.execute(
            select(LearnSession)
            .join(Device, Device.id == LearnSession.device_id)
            .where(Device.mac == mac, LearnSession.until > now)
        )
        .scalars()
        .all()
    )
    if not rows:
        raise NotFound(f"{mac} is not in learn mode")
    for ls in rows:
        ls.until = now
    record(s, actor=actor, action="learn-stop", entity="device", entity_id=rows[0].device_id)
    bump_revision(s)
    return len(rows)


@dataclass
class Proposal:
    """One registrable domain the device needed, and the rule that would cover it."""

    registrable: str
    names: list[str] = field(default_factory=list)
    lookups: int = 0
    already_allowed: list[str] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)
    proposed_rules: list[dict[str, object]] = field(default_factory=list)


def proposals(s: Session, *, policy: Policy, session_id: int | None = None) -> list[Proposal]:
    q = select(LearnedName)
    if session_id is not None:
        q = q.where(LearnedName.session_id == session_id)
    shared = set(load_catalogue().shared_infrastructure)
    groups: dict[str, Proposal] = {}
    counts: dict[str, int] = defaultdict(int)
    for row in s.execute(q).scalars():
        counts[row.name] += row.lookups
    for name, n in sorted(counts.items()):
        reg = registrable(name)
        p = groups.setdefault(reg, Proposal(reg))
        p.names.append(name)
        p.lookups += n
        _, category = policy.classify(name)
        p.categories[name] = category.value
        if category in ALLOWED_CATEGORIES:
            p.already_allowed.append(name)
    for p in groups.values():
        missing = [n for n in p.names if n not in p.already_allowed]
        if not missing:
            continue
        if p.registrable in shared or any(p.registrable.endswith("." + sh) for sh in shared):
            # Shared CDN: a suffix rule would open the whole CDN; propose exact names.
            p.proposed_rules = [{"domain": n, "exact": True} for n in missing]
        else:
            p.proposed_rules = [{"domain": p.registrable, "exact": False}]
    return sorted(groups.values(), key=lambda p: -p.lookups)
