"""Reports as a service: build, sign and register; subject access; purge (verifying and the
chain checkpoints: api.reports.verification, re-exported here).

Shared by the CLI, the JSON API and the report pages, so every door produces the same
signed bytes for the same data. Every issued file is entered in the register
(``reports_issued``: id, who, when, digest — never the content); a subject-access export
leaves an audit row (who looked at whose data).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.errors import Invalid, NotFound
from api.reports import builder, formats, schemas, signing, subject
from api.reports.formats import Renderer
from api.reports.verification import (
    Verification,
    after_purge,
    checkpoint_now,
    checkpoint_problems,
    signing_key,
    verify_events,
    verify_file,
)
from monitor.evidence.collapse import collapse_after_report
from monitor.evidence.retention import PurgeResult, purge
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import AuditRow, IssuedReport

__all__ = ["Verification", "after_purge", "build", "checkpoint_now", "checkpoint_problems",
           "issue", "period", "report_file", "run_purge", "signing_key", "subject_access",
           "verify_events", "verify_file"]

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
def build(*, db: Database, settings: Settings, kind: str, actor: str,
          meeting_id: int | None = None, member: str | int | None = None,
          since: datetime | None = None, until: datetime | None = None,
          now: datetime | None = None, lookups: bool = False) -> dict[str, Any]:
    """The report document (see api.reports.builder); ``lookups``: a meeting's
    document with every single lookup (for the per-lookup CSV)."""
    if kind not in KINDS:
        raise Invalid(f"unknown report kind {kind!r}")
    try:
        with db.session() as s:
            if kind == "meeting":
                assert meeting_id is not None
                doc = builder.meeting_report(s, settings, meeting_id, now=now, actor=actor,
                                             lookups=lookups)
            else:
                assert since is not None and until is not None
                if kind == "member":
                    assert member is not None
                    doc = builder.member_report(s, settings, member, since, until, now=now,
                                                actor=actor)
                else:
                    doc = builder.site_report(s, settings, since, until, now=now, actor=actor)
    except builder.ReportError as exc:
        raise NotFound(str(exc)) from None
    schemas.check(doc)  # the typed model (api.reports.schemas): docs/report-schema.json
    return doc


def issue(*, db: Database, settings: Settings, doc: dict[str, Any], fmt: str, actor: str,
          render: Renderer = formats.body) -> bytes:
    """The signed file, entered in the register of issued reports; ``render`` draws the
    body (api.reports.formats for the data formats; the dashboard's for HTML and PDF)."""
    if fmt not in formats.ALL_FORMATS:
        raise Invalid(f"unknown format {fmt!r}: html, pdf, csv, json or lookups")
    if fmt == "lookups" and "lookups" not in doc:
        raise Invalid("the per-lookup CSV is made for a meeting report (built with its "
                      "lookups)")
    key = signing_key(settings)
    if doc["report_id"] in _issued:  # one document issued again (another format)
        doc = {**doc, "report_id": str(uuid.uuid4())}
    data = formats.signed(doc, fmt, key, render)
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
    checkpoint_now(db, settings, "report")  # after any collapse: the chain as it now is
    return data


# Report ids this process has registered (a document is built with a fresh uuid4, so only
# issuing the same document twice can collide); saves a look-up per issued report.
_issued: dict[str, None] = {}


def report_file(*, db: Database, settings: Settings, kind: str, fmt: str, actor: str,
                render: Renderer = formats.body, **params: Any
                ) -> tuple[dict[str, Any], bytes]:
    # The per-lookup CSV, and the HTML and PDF whose appendix lists every lookup.
    doc = build(db=db, settings=settings, kind=kind, actor=actor,
                lookups=fmt in ("lookups", "html", "pdf"),
                **params)
    return doc, issue(db=db, settings=settings, doc=doc, fmt=fmt, actor=actor, render=render)


# ---------------------------------------------------------------------------- subject access
def subject_access(*, db: Database, settings: Settings, member: str | int, fmt: str,
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


def run_purge(*, db: Database, settings: Settings, actor: str) -> PurgeResult:
    res = purge(db, settings, actor=actor)
    after_purge(db, settings, res)
    return res
