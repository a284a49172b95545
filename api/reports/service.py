"""Reports as a service: build, sign and register; verify; subject access; chain; purge.

Shared by the CLI, the JSON API and the report pages, so every door produces the same
signed bytes for the same data. Every issued file is entered in the register
(``reports_issued``: id, who, when, digest — never the content); a subject-access export
leaves an audit row (who looked at whose data).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.errors import Invalid, NotFound
from dashboard.reports import builder, render, signing, subject
from monitor.evidence import chain
from monitor.evidence.collapse import collapse_after_report
from monitor.evidence.retention import PurgeResult, purge
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import AuditRow, IssuedReport

KINDS = ("meeting", "member", "site")


def parse_bound(value: str | date | datetime, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` is a whole London day (``end``: the day is included, so the bound is
    the next midnight); an ISO time without a zone is London time. Returns aware UTC."""
    from allowlist.clock import LONDON

    if isinstance(value, datetime):
        t = value
    elif isinstance(value, date):
        t = datetime(value.year, value.month, value.day)
        if end:
            t += timedelta(days=1)
    else:
        try:
            if len(value) == 10:
                d = date.fromisoformat(value)
                t = datetime(d.year, d.month, d.day) + (timedelta(days=1) if end
                                                        else timedelta(0))
            else:
                t = datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(f"{value!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    if not 1900 <= t.year <= 2999:
        raise Invalid("dates must be between the years 1900 and 2999")
    if t.tzinfo is None:
        t = t.replace(tzinfo=LONDON)
    return t.astimezone(UTC)


def period(since: str | date | datetime, until: str | date | datetime
           ) -> tuple[datetime, datetime]:
    lo, hi = parse_bound(since), parse_bound(until, end=True)
    if hi <= lo:
        raise Invalid("--to is before --from")
    return lo, hi


# ---------------------------------------------------------------------------- building
def build(db: Database, settings: Settings, kind: str, *, actor: str,
          meeting_id: int | None = None, member: str | int | None = None,
          since: datetime | None = None, until: datetime | None = None,
          now: datetime | None = None) -> dict[str, Any]:
    """The report document (see dashboard.reports.builder)."""
    try:
        with db.session() as s:
            if kind == "meeting":
                assert meeting_id is not None
                return builder.meeting_report(s, settings, meeting_id, now=now, actor=actor)
            assert since is not None and until is not None
            if kind == "member":
                assert member is not None
                return builder.member_report(s, settings, member, since, until, now=now,
                                             actor=actor)
            if kind == "site":
                return builder.site_report(s, settings, since, until, now=now, actor=actor)
    except builder.ReportError as exc:
        raise NotFound(str(exc)) from None
    raise Invalid(f"unknown report kind {kind!r}")


def signing_key(settings: Settings) -> Any:
    return signing.load_or_create_key(settings.site.data_dir)


def issue(db: Database, settings: Settings, doc: dict[str, Any], fmt: str, *,
          actor: str) -> bytes:
    """The signed file, entered in the register of issued reports."""
    if fmt not in render.FORMATS:
        raise Invalid(f"unknown format {fmt!r}: html, pdf, csv or json")
    key = signing_key(settings)
    if doc["report_id"] in _issued:  # one document issued again (another format)
        doc = {**doc, "report_id": str(uuid.uuid4())}
    data = render.signed(doc, fmt, key)
    body, block, _ = signing.split(data)
    ev = doc["evidence"]
    params = {k: doc[k] for k in ("period",) if k in doc}
    if doc["kind"] == "meeting":
        params["meeting_id"] = doc["meeting"]["id"]
    elif doc["kind"] == "member":
        params["member_id"] = doc["member"]["id"]
    with db.session() as s:
        s.add(IssuedReport(
            id=doc["report_id"], kind=doc["kind"], subject=str(doc["subject"])[:300],
            params=params, format=fmt,
            generated_at=datetime.fromisoformat(doc["generated_at"]).astimezone(UTC),
            generated_by=actor[:100], sha256=hashlib.sha256(body).hexdigest(),
            key_id=str(block["key_id"]), chain_event_id=ev["chain_head_id"],
            chain_hash=ev["chain_head_hash"]))
    _issued[doc["report_id"]] = None
    while len(_issued) > 1000:
        _issued.pop(next(iter(_issued)))
    if doc["kind"] == "meeting":  # "counts": the signed report is the last use of the events
        collapse_after_report(db, doc["meeting"]["id"], report_id=doc["report_id"],
                              actor=actor, report_covers_whole_meeting=not doc["meeting"].get(
                                  "in_session_at_report", True))
    return data


# Report ids this process has registered (a document is built with a fresh uuid4, so only
# issuing the same document twice can collide); saves a look-up per issued report.
_issued: dict[str, None] = {}


def report_file(db: Database, settings: Settings, kind: str, fmt: str, *, actor: str,
                **params: Any) -> tuple[dict[str, Any], bytes]:
    doc = build(db, settings, kind, actor=actor, **params)
    return doc, issue(db, settings, doc, fmt, actor=actor)


# ---------------------------------------------------------------------------- verifying
@dataclass(slots=True)
class Verification:
    ok: bool
    reason: str
    details: list[str] = field(default_factory=list)
    signature: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "details": self.details,
                "signature": self.signature}


def verify_file(data: bytes, settings: Settings, db: Database | None = None,
                public_key: Path | None = None) -> Verification:
    """Signature and content first (the verdict); then, where the database is at hand, what
    it still knows: the register entry and whether the events covered are unchanged."""
    pub: Ed25519PublicKey
    try:
        pub = signing.load_public(public_key) if public_key is not None else \
            signing.installation_public(settings.site.data_dir)
    except (OSError, ValueError, signing.VerifyFailed) as exc:
        raise Invalid(f"no key to verify with: {exc}") from None
    v = signing.verify(data, pub)
    out = Verification(v.ok, v.reason, signature=v.as_dict()["signature"])
    if not v.ok or db is None:
        return out
    try:
        out.details.extend(_database_checks(db, v))
    except SQLAlchemyError as exc:
        out.details.append(f"database not consulted ({type(exc).__name__})")
    return out


def _database_checks(db: Database, v: signing.Verified) -> list[str]:
    """What the database still knows of a verified report: its register entry, and
    whether the events it covers are unchanged."""
    details: list[str] = []
    block = v.block
    digest = hashlib.sha256(v.body).hexdigest()
    with db.session() as s:
        reg = s.execute(select(IssuedReport).where(IssuedReport.sha256 == digest)).scalars(
        ).first()
        if reg is not None:
            details.append(f"register: issued {builder.london(reg.generated_at)} by "
                           f"{reg.generated_by} ({reg.kind}, {reg.format})")
        else:
            details.append("register: no entry (issued by another installation, or "
                           "purged after the retention period)")
        ch = block.get("chain") or {}
        conn = s.connection()
        for label, eid, h in (("last event covered", ch.get("last_event_id"),
                               ch.get("last_event_hash")),
                              ("chain head", ch.get("head_id"), ch.get("head_hash"))):
            if eid is None or h is None:
                continue
            now_h = chain.event_hash(conn, int(eid))
            if now_h is None:
                state = chain.read_state(conn)
                gone = ("purged under the retention policy" if int(eid)
                        <= state.anchor_event_id else
                        "removed under the counts privacy level (its place in the chain is "
                        "recorded)" if chain.in_gap(conn, int(eid))
                        else "no longer in the database")
                details.append(f"chain: {label} (event {eid}) is {gone}")
            elif now_h == h:
                details.append(f"chain: {label} (event {eid}) is unchanged")
            else:
                details.append(f"chain: {label} (event {eid}) has a different hash now: "
                               "the events were altered after this report was made")
    return details


def verify_events(db: Database) -> chain.ChainReport:
    with db.engine.connect() as conn:
        rep = chain.verify_chain(conn)
        conn.rollback()
    return rep


# ---------------------------------------------------------------------------- subject access
def subject_access(db: Database, settings: Settings, member: str | int, fmt: str, *,
                   actor: str) -> tuple[dict[str, Any], bytes]:
    """Everything held about a member, as JSON or CSV; the export is audited."""
    if fmt not in ("json", "csv"):
        raise Invalid(f"unknown format {fmt!r}: json or csv")
    try:
        with db.session() as s:
            doc = subject.export(s, settings, member, actor=actor)
            s.add(AuditRow(ts=datetime.now(UTC), actor=actor, action="subject-access-export",
                           entity="member", entity_id=str(doc["member"]["id"]), before=None,
                           after={"format": fmt, "counts": doc["counts"]}))
    except builder.ReportError as exc:
        raise NotFound(str(exc)) from None
    return doc, subject.to_json(doc) if fmt == "json" else subject.to_csv(doc)


def run_purge(db: Database, settings: Settings, *, actor: str) -> PurgeResult:
    return purge(db, settings, actor=actor)
