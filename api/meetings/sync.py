"""Imported meetings: the council's schedule (modern.gov or iCalendar) becomes Meeting rows.

The schedule drives the policy, so an import must be exact, repeatable and explainable:

* **Upsert on (source, source_id).** Re-importing updates times, status, titles, room and
  location in place, never duplicates; a cancellation is a status change ("cancelled"), which
  stops enforcement at once (policy_loader treats cancelled and removed meetings alike).
* **Idempotent.** An identical document changes nothing: no row, no audit entry, no policy
  revision bump — so a periodic sync that finds nothing new is invisible to the gates.
  Every changed meeting gets one audit row (before/after of the changed fields) and the
  revision is bumped once per import.
* **All-or-nothing.** Sources parse the whole document (or raise SourceError) before anything
  is written; everything here happens in the caller's transaction, so a database error rolls
  the whole import back (``Database.session`` does that).
* **Removal needs coverage.** Only an import that is *known to be complete* for a source and a
  time window can say a meeting disappeared: :class:`Coverage` says "these are all of
  ``source``'s meetings starting in ``[lo, hi)``". A meeting of that source starting in the
  window that is missing from the import is marked removed (``removed_at``; it then never
  restricts) when it has history — events or clerk actions that reports refer to — and deleted
  otherwise. A file import has no coverage and never removes: a hand-picked file says nothing
  about meetings it does not list. A source is a *kind* (one council per database), so a
  modern.gov file and the modern.gov sync update the same rows.
* **Scope** (does the meeting restrict at all) is the committee title judged by
  :mod:`api.meetings.scope` (``[meetings] committee_patterns``, empty = the defaults) unless IT
  has overridden that committee (:func:`set_committee_scope`); overrides are keyed by the
  normalised committee title, because that is what the rules judge, what IT sees, and what
  both modern.gov and calendars provide (calendars have no committee ids).
* **Room**: with ``[meetings] chamber_rooms`` empty every meeting is this site's room; else a
  meeting whose room or location contains one of them (case-insensitive) is, and any other
  keeps its own room text so it restricts no gate. A meeting that states no room or location
  at all (a GetMeetings listing never does) is taken to be in the chamber: the committees in
  scope meet there, and a wrongly restricted phone still reaches its agenda.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.errors import Invalid, NotFound
from api.meetings.scope import ScopeRule, matching_rule, normalise, rules_from_patterns
from api.meetings.sources import detect
from api.meetings.sources.model import (
    LONDON,
    SourceError,
    SourceMeeting,
    Window,
    london_day,
)
from api.meetings.sources.moderngov import ModernGovClient
from monitor.health import Component
from monitor.incidents import close_outages, open_outage
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import ClerkActionRow, CommitteeScopeRow, Event, Meeting
from monitor.store.revision import bump_revision
from monitor.store.types import utcnow

log = logging.getLogger("chamberguard.meetings.sync")

Outcome = Literal["created", "updated", "cancelled", "unchanged", "removed", "deleted"]
OUTCOMES: tuple[Outcome, ...] = (
    "created", "updated", "cancelled", "unchanged", "removed", "deleted",
)

# Column widths of the meetings table: longer source text is cut (deterministically, so the
# idempotency comparison still holds) rather than failing the whole import on PostgreSQL.
_WIDTH = {"committee_id": 50, "committee_title": 300, "title": 300, "room": 100, "location": 300}
_SOURCE_ID_WIDTH = 200
_KEY_WIDTH = 300

# The fields an import owns; anything else on a Meeting (clerk actions, id) is left alone.
_FIELDS = (
    "committee_id", "committee_title", "title", "start", "end", "status", "room", "location",
    "webcast", "in_scope", "removed_at", "end_guessed",
)

# GetMeeting is one request per meeting; only meetings that can restrict need their room, and
# a runaway listing must not turn one sync into thousands of requests.
MAX_DETAIL_REQUESTS = 200

ClientFactory = Callable[[str, float], ModernGovClient]


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Coverage:
    """The import lists *every* meeting of ``source`` starting in ``window`` = [lo, hi)."""

    source: str
    window: Window


@dataclass(frozen=True, slots=True)
class MeetingChange:
    """What one import did to one meeting (``changed``: the fields that changed)."""

    outcome: Outcome
    meeting_id: int
    source: str
    source_id: str
    committee: str
    title: str
    start: datetime
    end: datetime
    status: str
    room: str | None
    in_scope: bool
    changed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "id": self.meeting_id, "source": self.source,
            "source_id": self.source_id, "committee": self.committee, "title": self.title,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "status": self.status, "room": self.room, "in_scope": self.in_scope,
            "changed": list(self.changed),
        }


@dataclass(slots=True)
class ImportResult:
    """Summary of one import. ``cancelled`` counts known meetings that became cancelled
    (a meeting first seen already cancelled is "created"); ``removed`` ones were kept with
    ``removed_at`` because they have history, ``deleted`` ones had none."""

    source_label: str
    coverage: Coverage | None = None
    meetings: list[MeetingChange] = field(default_factory=list)
    revision_bumped: bool = False

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for m in self.meetings:
            out[m.outcome] += 1
        return out

    @property
    def changed(self) -> bool:
        return any(m.outcome != "unchanged" for m in self.meetings)

    def as_dict(self) -> dict[str, Any]:
        window = None
        if self.coverage is not None:
            window = [t.isoformat() for t in self.coverage.window]
        return {
            "source": self.source_label,
            "window": window,
            "counts": self.counts,
            "revision_bumped": self.revision_bumped,
            "meetings": [m.as_dict() for m in self.meetings],
        }


@dataclass(frozen=True, slots=True)
class CommitteeInfo:
    """A committee as IT sees it: imported meetings grouped by (normalised) committee title."""

    key: str
    title: str
    committee_ids: tuple[str, ...]
    sources: tuple[str, ...]
    meetings: int
    upcoming: int
    default_in_scope: bool
    rule: str | None  # the scope rule that matched, for "why is this covered?"
    override: bool | None
    override_by: str | None = None

    @property
    def in_scope(self) -> bool:
        return self.default_in_scope if self.override is None else self.override

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "title": self.title, "committee_ids": list(self.committee_ids),
            "sources": list(self.sources), "meetings": self.meetings, "upcoming": self.upcoming,
            "in_scope": self.in_scope, "default_in_scope": self.default_in_scope,
            "rule": self.rule, "override": self.override, "override_by": self.override_by,
        }


# ---------------------------------------------------------------------------- scope and room


@dataclass(frozen=True, slots=True)
class _Scope:
    rules: tuple[ScopeRule, ...] | None
    overrides: dict[str, bool]

    def default(self, committee_title: str) -> bool:
        return matching_rule(committee_title, self.rules) is not None

    def decide(self, committee_title: str) -> bool:
        override = self.overrides.get(committee_key(committee_title))
        return self.default(committee_title) if override is None else override


def committee_key(committee_title: str) -> str:
    """How overrides name a committee: its normalised title (see the module docstring)."""
    return normalise(committee_title)[:_KEY_WIDTH]


def _rules(settings: Settings | None) -> tuple[ScopeRule, ...] | None:
    patterns = settings.meetings.committee_patterns if settings is not None else []
    if not patterns:
        return None
    try:
        return rules_from_patterns(patterns)
    except ValueError as exc:
        raise Invalid(f"[meetings] committee_patterns: {exc}") from exc


def _load_scope(s: Session, settings: Settings | None) -> _Scope:
    rows = s.execute(select(CommitteeScopeRow)).scalars()
    return _Scope(_rules(settings), {r.committee_key: r.in_scope for r in rows})


def room_for(meeting: SourceMeeting, settings: Settings) -> str | None:
    """This gate's room, or the meeting's own room text when it is elsewhere (see module)."""
    chamber = [r.strip().casefold() for r in settings.meetings.chamber_rooms if r.strip()]
    if not chamber:
        return settings.site.room
    stated = [t for t in (meeting.room, meeting.location) if t]
    if not stated:
        return settings.site.room
    if any(c in t.casefold() for c in chamber for t in stated):
        return settings.site.room
    return _cut(stated[0], "room")


def _cut(text: str | None, name: str) -> str | None:
    return None if text is None else text[: _WIDTH[name]]


def stored_source_id(source_id: str) -> str:
    """A source id that fits the column: long calendar UIDs keep a prefix plus a hash."""
    if len(source_id) <= _SOURCE_ID_WIDTH:
        return source_id
    digest = hashlib.sha256(source_id.encode()).hexdigest()[:40]
    return f"{source_id[: _SOURCE_ID_WIDTH - 41]}~{digest}"


def _desired(m: SourceMeeting, settings: Settings, scope: _Scope) -> dict[str, Any]:
    committee_title = _cut(m.committee_title, "committee_title") or ""
    return {
        "committee_id": _cut(m.committee_id, "committee_id"),
        "committee_title": committee_title,
        "title": _cut(m.title, "title") or "",
        "start": m.start,
        "end": m.end,
        "status": m.status,
        "room": room_for(m, settings),
        "location": _cut(m.location, "location"),
        "webcast": m.webcast,
        "in_scope": scope.decide(committee_title),  # as stored, so overrides match rows
        "removed_at": None,  # listed again: a meeting marked removed comes back
        # No end in the source: DEFAULT_DURATION was assumed. Flagged for IT, never silent.
        "end_guessed": m.end_estimated,
    }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _snapshot(row: Meeting, fields: Iterable[str] = _FIELDS) -> dict[str, Any]:
    return {name: _jsonable(getattr(row, name)) for name in fields}


def _change(outcome: Outcome, row: Meeting, changed: Sequence[str] = ()) -> MeetingChange:
    return MeetingChange(
        outcome=outcome, meeting_id=row.id, source=row.source, source_id=row.source_id or "",
        committee=row.committee_title, title=row.title, start=row.start, end=row.end,
        status=row.status, room=row.room, in_scope=row.in_scope, changed=tuple(changed),
    )


# ---------------------------------------------------------------------------- import


def import_meetings(
    s: Session,
    *,
    meetings: list[SourceMeeting],
    settings: Settings,
    actor: str,
    source_label: str,
    coverage: Coverage | None = None,
) -> ImportResult:
    """Upsert ``meetings`` (parsed, complete) and, with ``coverage``, remove the missing ones.

    ``source_label`` (file, URL, "sync") goes into the audit rows. Runs in the caller's
    transaction and does not commit. Raises Invalid for a list that names one meeting twice
    with different details, and for unusable ``committee_patterns``.
    """
    unique: dict[tuple[str, str], SourceMeeting] = {}
    for m in meetings:
        key = (m.source, stored_source_id(m.source_id))
        seen = unique.get(key)
        if seen is not None and seen != m:
            raise Invalid(f"{m.source} meeting {m.source_id!r} is listed twice, differently")
        unique[key] = m
    scope = _load_scope(s, settings)
    result = ImportResult(source_label=source_label, coverage=coverage)
    existing = _existing(s, unique.keys())

    for (source, source_id), m in sorted(unique.items(), key=lambda kv: (kv[1].start, kv[0])):
        want = _desired(m, settings, scope)
        row = existing.get((source, source_id))
        if row is None:
            row = Meeting(source=source, source_id=source_id, **want)
            s.add(row)
            s.flush()
            record(s, actor=actor, action="import-create", entity="meeting", entity_id=row.id,
                   after={**_snapshot(row), "source": source, "source_id": source_id,
                          "via": source_label})
            result.meetings.append(_change("created", row))
            continue
        changed = [name for name in _FIELDS if getattr(row, name) != want[name]]
        if not changed:
            result.meetings.append(_change("unchanged", row))
            continue
        before = _snapshot(row, changed)
        became_cancelled = "status" in changed and want["status"] == "cancelled"
        for name in changed:
            setattr(row, name, want[name])
        s.flush()
        record(s, actor=actor, action="import-update", entity="meeting", entity_id=row.id,
               before=before, after={**_snapshot(row, changed), "via": source_label})
        result.meetings.append(_change("cancelled" if became_cancelled else "updated", row,
                                       changed))

    if coverage is not None:
        _remove_missing(s, coverage, unique.keys(), actor, source_label, result)
    if result.changed:
        bump_revision(s)
        result.revision_bumped = True
    s.flush()
    return result


def _existing(s: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Meeting]:
    by_source: dict[str, list[str]] = {}
    for source, source_id in keys:
        by_source.setdefault(source, []).append(source_id)
    out: dict[tuple[str, str], Meeting] = {}
    for source, ids in by_source.items():
        for i in range(0, len(ids), 500):  # stay far below every driver's parameter limit
            q = select(Meeting).where(Meeting.source == source,
                                      Meeting.source_id.in_(ids[i : i + 500]))
            for row in s.execute(q).scalars():
                out[(row.source, row.source_id or "")] = row
    return out


def _remove_missing(s: Session, coverage: Coverage, present: Iterable[tuple[str, str]],
                    actor: str, source_label: str, result: ImportResult) -> None:
    lo, hi = coverage.window
    listed = {sid for src, sid in present if src == coverage.source}
    q = (select(Meeting)
         .where(Meeting.source == coverage.source, Meeting.start >= lo, Meeting.start < hi,
                Meeting.removed_at.is_(None))
         .order_by(Meeting.start, Meeting.id))
    missing = [row for row in s.execute(q).scalars() if row.source_id not in listed]
    if not missing:
        return
    ids = [row.id for row in missing]
    with_history = set(s.execute(select(Event.meeting_id).where(Event.meeting_id.in_(ids))
                                 .distinct()).scalars())
    with_history |= set(s.execute(select(ClerkActionRow.meeting_id)
                                  .where(ClerkActionRow.meeting_id.in_(ids))
                                  .distinct()).scalars())
    now = utcnow()
    for row in missing:
        if row.id in with_history:
            row.removed_at = now
            record(s, actor=actor, action="import-remove", entity="meeting", entity_id=row.id,
                   before={"removed_at": None},
                   after={"removed_at": now.isoformat(), "via": source_label,
                          "reason": "no longer listed by the source; kept for its history"})
            result.meetings.append(_change("removed", row, ("removed_at",)))
        else:
            record(s, actor=actor, action="import-delete", entity="meeting", entity_id=row.id,
                   before={**_snapshot(row), "source": row.source, "source_id": row.source_id},
                   after={"via": source_label, "reason": "no longer listed by the source"})
            result.meetings.append(_change("deleted", row))
            s.delete(row)
    s.flush()


# ---------------------------------------------------------------------------- sync


def sync_window(settings: Settings, now: datetime) -> tuple[date, date, Window]:
    """The London dates a sync asks for and the UTC window they cover (whole London days,
    so a meeting at 00:30 on the first day is inside whatever the clock says)."""
    first = (now - timedelta(days=settings.meetings.sync_days_before)).astimezone(LONDON).date()
    last = (now + timedelta(days=settings.meetings.sync_days_after)).astimezone(LONDON).date()
    return first, last, (london_day(first)[0], london_day(last)[1])


def sync(
    s: Session,
    *,
    settings: Settings,
    actor: str,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
) -> ImportResult:
    """Pull the configured window from modern.gov (preferred) or the iCalendar feed and import
    it with coverage, so meetings that disappeared from the source are removed.

    Everything is fetched and parsed before anything is written; any SourceError (including
    one GetMeeting failing) abandons the whole sync, and the next one retries.
    """
    cfg = settings.meetings
    now = now or utcnow()
    first, last, window = sync_window(settings, now)
    if cfg.moderngov_url.strip():
        meetings = _fetch_moderngov(s, settings, first, last, now, client_factory)
        coverage = Coverage("moderngov", window)
        label = cfg.moderngov_url.strip()
    elif cfg.ical_url.strip():
        label = cfg.ical_url.strip()
        meetings = detect.load(label, window=window, timeout=cfg.timeout_seconds)
        kinds = {m.source for m in meetings}
        coverage = Coverage("moderngov" if kinds == {"moderngov"} else "ical", window)
    else:
        raise Invalid("no meetings source configured: set [meetings] moderngov_url "
                      "(or ical_url) in the config file")
    return import_meetings(s, meetings=meetings, settings=settings, actor=actor,
                           source_label=label, coverage=coverage)


def _fetch_moderngov(s: Session, settings: Settings, first: date, last: date, now: datetime,
                     client_factory: ClientFactory | None) -> list[SourceMeeting]:
    cfg = settings.meetings
    make = client_factory or ModernGovClient
    try:
        client = make(cfg.moderngov_url, cfg.timeout_seconds)
    except ValueError as exc:
        raise SourceError(str(exc), where="[meetings] moderngov_url") from exc
    with client:
        listing = client.get_meetings(-1, from_date=first, to_date=last)
        scope = _load_scope(s, settings)
        wanted = [m for m in listing if not m.cancelled and scope.decide(m.committee_title)]
        wanted.sort(key=lambda m: abs(m.start - now))
        if len(wanted) > MAX_DETAIL_REQUESTS:
            log.warning("%d in-scope meetings; fetching GetMeeting for the %d nearest only",
                        len(wanted), MAX_DETAIL_REQUESTS)
        details = {m.source_id: client.get_meeting(m.source_id)
                   for m in wanted[:MAX_DETAIL_REQUESTS]}
    return [_merge(m, details[m.source_id]) if m.source_id in details else m for m in listing]


def _merge(listed: SourceMeeting, detail: SourceMeeting) -> SourceMeeting:
    """GetMeeting's fuller view of a listed meeting (room, location, planned finish), keeping
    the listing's committee so both requests group the meeting under the same committee."""
    return replace(
        listed,
        start=detail.start, end=detail.end, status=detail.status,
        location=detail.location, room=detail.room,
        webcast=listed.webcast if detail.webcast is None else detail.webcast,
        end_estimated=detail.end_estimated,
        actual_start=detail.actual_start, actual_end=detail.actual_end,
    )


async def run_periodic_sync(
    settings: Settings,
    db: Database,
    stop_event: asyncio.Event,
    *,
    actor: str = "sync",
    client_factory: ClientFactory | None = None,
) -> None:
    """Sync now and then every ``sync_interval_minutes`` until ``stop_event`` is set.

    Never raises: a failed sync is logged and recorded as an audit row ("sync-failed"), once
    per run of identical failures so a site that is down all weekend does not flood the trail,
    and the gate keeps enforcing the schedule it already has. Blocking HTTP and database work
    runs in a worker thread, bounded by ``timeout_seconds`` per request.
    """
    cfg = settings.meetings
    if not (cfg.moderngov_url.strip() or cfg.ical_url.strip()):
        log.info("no meetings source configured; periodic sync off")
        return
    if cfg.sync_interval_minutes <= 0:
        log.info("sync_interval_minutes = 0; periodic sync off")
        return
    interval = cfg.sync_interval_minutes * 60.0
    last_failure: str | None = None
    while not stop_event.is_set():
        try:
            result = await asyncio.to_thread(_sync_once, settings, db, actor, client_factory)
        except Exception as exc:  # noqa: BLE001 — the loop must outlive any failure
            message = str(exc) or type(exc).__name__
            log.warning("meetings sync failed: %s", message)
            if message != last_failure:
                await asyncio.to_thread(_record_failure, db, actor, message)
                last_failure = message
            await asyncio.to_thread(_sync_health, db, settings, message)
        else:
            if last_failure is not None:
                log.info("meetings sync recovered")
                await asyncio.to_thread(_sync_health, db, settings, None)
            last_failure = None
            log.info("meetings sync: %s", ", ".join(f"{k} {v}" for k, v in result.counts.items()))
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
        except TimeoutError:
            pass


def _sync_once(settings: Settings, db: Database, actor: str,
               client_factory: ClientFactory | None) -> ImportResult:
    with db.session() as s:
        return sync(s, settings=settings, actor=actor, client_factory=client_factory)


def _sync_health(db: Database, settings: Settings, failure: str | None) -> None:
    """A failing sync is an open outage of the meeting-sync component (the gate's heartbeat
    shows it); the first success closes it."""
    try:
        with db.session() as s:
            if failure is None:
                close_outages(s, None, Component.MEETING_SYNC, utcnow())
            else:
                open_outage(s, None, Component.MEETING_SYNC, utcnow(),
                            f"meetings sync failing: {failure}")
    except Exception:
        log.exception("could not record the meetings sync's health")


def _record_failure(db: Database, actor: str, message: str) -> None:
    try:
        with db.session() as s:
            record(s, actor=actor, action="sync-failed", entity="meetings",
                   after={"error": message[:1000]})
    except Exception:  # noqa: BLE001 — e.g. the database itself is the problem
        log.exception("could not record the failed meetings sync")


# ---------------------------------------------------------------------------- committees


def list_committees(s: Session, *, settings: Settings | None = None,
                    now: datetime | None = None) -> list[CommitteeInfo]:
    """Committees of imported meetings (and any override), with default and effective scope.
    ``settings`` supplies committee_patterns; without it the default rules apply."""
    now = now or utcnow()
    rules = _rules(settings)
    overrides = {r.committee_key: r for r in s.execute(select(CommitteeScopeRow)).scalars()}
    groups: dict[str, list[Meeting]] = {}
    q = select(Meeting).where(Meeting.source != "manual").order_by(Meeting.start, Meeting.id)
    for row in s.execute(q).scalars():
        groups.setdefault(committee_key(row.committee_title), []).append(row)
    out = []
    for key in sorted(set(groups) | set(overrides)):
        rows = groups.get(key, [])
        title = rows[-1].committee_title if rows else key
        rule = matching_rule(title, rules)
        ov = overrides.get(key)
        out.append(CommitteeInfo(
            key=key, title=title,
            committee_ids=tuple(sorted({r.committee_id for r in rows if r.committee_id})),
            sources=tuple(sorted({r.source for r in rows})),
            meetings=len(rows),
            upcoming=sum(1 for r in rows if r.end >= now and r.removed_at is None),
            default_in_scope=rule is not None, rule=rule.name if rule else None,
            override=ov.in_scope if ov else None, override_by=ov.updated_by if ov else None,
        ))
    return out


def set_committee_scope(
    s: Session,
    *,
    committee_title_or_id: str,
    in_scope: bool | None,
    actor: str,
    settings: Settings | None = None,
) -> list[CommitteeInfo]:
    """IT's choice for a committee: ``True``/``False`` overrides the title rules for its
    existing and future meetings; ``None`` returns it to the rules (``settings`` supplies
    committee_patterns). The committee is named by its title (any spelling that normalises
    the same) or its modern.gov id, and must have imported meetings — a typo must not
    silently create an override that matches nothing. One audit row per committee changed;
    the policy revision is bumped once if anything changed.
    """
    text = committee_title_or_id.strip()
    if not text:
        raise Invalid("name a committee (its title or modern.gov id)")
    rows = list(s.execute(select(Meeting).where(Meeting.source != "manual")).scalars())
    by_id = {committee_key(r.committee_title) for r in rows if r.committee_id == text}
    keys = by_id or ({committee_key(text)} & {committee_key(r.committee_title) for r in rows})
    if not keys:
        raise NotFound(f"no imported meetings of a committee {text!r}; "
                       "`chamberguard meetings committees` lists the known ones")
    rules = _rules(settings)
    now = utcnow()
    changed_any = False
    for key in sorted(keys):
        members = [r for r in rows if committee_key(r.committee_title) == key]
        ov = s.get(CommitteeScopeRow, key)
        before_override = ov.in_scope if ov is not None else None
        if in_scope is None:
            if ov is not None:
                s.delete(ov)
        elif ov is None:
            s.add(CommitteeScopeRow(committee_key=key, in_scope=in_scope, updated_by=actor,
                                    updated_at=now))
        elif ov.in_scope != in_scope:
            ov.in_scope, ov.updated_by, ov.updated_at = in_scope, actor, now
        flipped = []
        for r in members:
            want = in_scope if in_scope is not None else matching_rule(
                r.committee_title, rules) is not None
            if r.in_scope != want:
                r.in_scope = want
                flipped.append(r.id)
        if before_override == in_scope and not flipped:
            continue
        changed_any = True
        record(s, actor=actor, action="set-scope", entity="committee", entity_id=key,
               before={"override": before_override},
               after={"override": in_scope, "meetings_changed": sorted(flipped)})
    if changed_any:
        bump_revision(s)
    s.flush()
    return [c for c in list_committees(s, settings=settings) if c.key in keys]

