"""Retention: delete what the council no longer may keep, and leave a verifiable trace.

``[retention] events_days`` bounds events (and the "seen but unregistered" device rows of
guests), ``reports_years`` the register of issued reports. ``chamberguard purge`` runs it once;
:func:`run_daily_purge` runs it every day beside the web app.

Events are deleted as a *prefix of the hash chain*: everything up to the event before the
oldest one still inside the retention window. The hash of the last purged event becomes the
chain's anchor in the same transaction, so ``verify-chain`` still proves the retained events
from their first one. An expired event written *after* a retained one (a spool replayed long
after the fact) is kept until the events before it expire too — deleting it would cut the
chain — and is counted in the purge record (``late_events_kept``). Each purge that removes
anything leaves an ``evidence_purges`` row and an audit row (who, cut-offs, counts, anchor).

Every run, even one that finds nothing to do or fails, leaves a ``purge_runs`` row with its
counts: the IT overview shows the last run and when the next is due. A run also turns into
totals the events of "counts" meetings whose report has been signed
(:func:`monitor.evidence.collapse.collapse_due`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, update

from monitor.evidence import chain, sink
from monitor.evidence.collapse import collapse_due
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import (
    AuditRow,
    ChainGap,
    Device,
    Event,
    IssuedReport,
    LearnSession,
    Meeting,
    MeetingTotal,
    PurgeRow,
    PurgeRun,
)

log = logging.getLogger(__name__)
BATCH = 50_000  # events per transaction: the gate's writer waits at most one batch
DAY = 24 * 3600.0


@dataclass(slots=True)
class PurgeResult:
    events_cutoff: datetime
    reports_cutoff: datetime
    events_deleted: int = 0
    first_event_id: int | None = None
    last_event_id: int | None = None
    anchor_hash: str = chain.GENESIS
    late_events_kept: int = 0
    reports_deleted: int = 0
    devices_deleted: int = 0
    purge_id: int | None = None
    meetings_collapsed: int = 0  # "counts" meetings whose events became totals
    events_collapsed: int = 0
    run_id: int | None = None

    @property
    def anything(self) -> bool:
        return bool(self.events_deleted or self.reports_deleted or self.devices_deleted)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["events_cutoff"] = self.events_cutoff.isoformat()
        d["reports_cutoff"] = self.reports_cutoff.isoformat()
        return d


def cutoffs(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    """(events, reports): anything older is expired. Reports count calendar years."""
    events = now - timedelta(days=settings.retention.events_days)
    years = settings.retention.reports_years
    try:
        reports = now.replace(year=now.year - years)
    except ValueError:  # 29 February
        reports = now.replace(year=now.year - years, day=28)
    return events, reports


def lock_events(conn: Connection) -> None:
    """The event insert lock (see monitor.evidence.sink): nobody appends while we cut."""
    sink.lock(conn)


def purge(db: Database, settings: Settings, *, now: datetime | None = None,
          actor: str = "purge", batch: int = BATCH) -> PurgeResult:
    """Delete expired events, report-register rows and guests' device rows, collapse the
    "counts" meetings that are due; record the run (also when it fails, then re-raise)."""
    now = now or datetime.now(UTC)
    with db.engine.begin() as conn:
        run_id = int(conn.execute(insert(PurgeRun).values(
            started_at=datetime.now(UTC), actor=actor[:100], ok=False, events_deleted=0,
            reports_deleted=0, devices_deleted=0, meetings_collapsed=0, events_collapsed=0)
            .returning(PurgeRun.id)).scalar_one())
    try:
        res = _expire(db, settings, now=now, actor=actor, batch=batch)
        done = collapse_due(db, timedelta(minutes=settings.policy.grace_minutes),
                            actor=actor, now=now)
    except Exception as exc:
        with db.engine.begin() as conn:
            conn.execute(update(PurgeRun).where(PurgeRun.id == run_id).values(
                finished_at=datetime.now(UTC), ok=False,
                error=f"{type(exc).__name__}: {exc}"[:300]))
        raise
    res.meetings_collapsed = sum(1 for c in done if c.events)
    res.events_collapsed = sum(c.events for c in done)
    res.run_id = run_id
    with db.engine.begin() as conn:
        conn.execute(update(PurgeRun).where(PurgeRun.id == run_id).values(
            finished_at=datetime.now(UTC), ok=True, events_deleted=res.events_deleted,
            reports_deleted=res.reports_deleted, devices_deleted=res.devices_deleted,
            meetings_collapsed=res.meetings_collapsed, events_collapsed=res.events_collapsed,
            purge_id=res.purge_id))
    return res


def _expire(db: Database, settings: Settings, *, now: datetime, actor: str,
            batch: int) -> PurgeResult:
    ev_cut, rep_cut = cutoffs(settings, now)
    res = PurgeResult(ev_cut, rep_cut)
    with db.engine.connect() as conn:
        oldest_kept = conn.execute(select(func.min(Event.id)).where(Event.ts >= ev_cut)).scalar()
        if oldest_kept is None:
            upto = int(conn.execute(select(func.max(Event.id))).scalar() or 0)
        else:
            upto = int(oldest_kept) - 1
        conn.rollback()
    while True:
        with db.engine.begin() as conn:
            lock_events(conn)
            lo = conn.execute(select(func.min(Event.id)).where(Event.id <= upto)).scalar()
            if lo is None:
                break
            hi = min(upto, int(lo) + batch - 1)
            last = conn.execute(select(Event.id, Event.hash)
                                .where(Event.id <= hi, Event.hash.is_not(None))
                                .order_by(Event.id.desc()).limit(1)).first()
            n = conn.execute(delete(Event).where(Event.id <= hi)).rowcount
            st = chain.read_state(conn)
            anchor_hash, anchor_id = st.anchor_hash, st.anchor_event_id
            if last is not None and int(last[0]) > anchor_id:
                anchor_hash, anchor_id = str(last[1]), int(last[0])
            legacy = 0 if hi >= st.legacy_max_id else st.legacy_max_id
            chain.set_anchor(conn, anchor_hash=anchor_hash, anchor_event_id=anchor_id,
                             legacy_max_id=legacy)
            # Gaps wholly before the anchor can never be stepped over again.
            conn.execute(delete(ChainGap).where(ChainGap.last_event_id < anchor_id))
            res.events_deleted += n
            res.first_event_id = res.first_event_id if res.first_event_id is not None else int(lo)
            res.last_event_id = hi
            res.anchor_hash = anchor_hash
            _record(conn, res, actor, now)  # the marker commits with the deletion it describes
    with db.engine.begin() as conn:
        res.late_events_kept = int(conn.execute(
            select(func.count()).select_from(Event)
            .where(Event.ts < ev_cut, Event.id > upto)).scalar() or 0)
        res.anchor_hash = chain.read_state(conn).anchor_hash
        res.reports_deleted = conn.execute(
            delete(IssuedReport).where(IssuedReport.generated_at < rep_cut)).rowcount
        # What "counts" kept of a meeting goes when the meeting's events would have gone.
        old = select(Meeting.id).where(Meeting.end < ev_cut)
        conn.execute(delete(MeetingTotal).where(MeetingTotal.meeting_id.in_(old)))
        learning = select(LearnSession.device_id)
        res.devices_deleted = conn.execute(
            delete(Device).where(Device.member_id.is_(None),
                                 func.coalesce(Device.last_seen, Device.created_at) < ev_cut,
                                 Device.id.not_in(learning))).rowcount
        if res.anything:
            _record(conn, res, actor, now)
            conn.execute(insert(AuditRow).values(
                ts=datetime.now(UTC), actor=actor, action="purge", entity="retention",
                entity_id=str(res.purge_id), before=None, after=res.as_dict()))
    if res.anything:
        log.info("purge: %d events, %d reports, %d devices deleted (anchor %s…)",
                 res.events_deleted, res.reports_deleted, res.devices_deleted,
                 res.anchor_hash[:12])
    return res


def _record(conn: Connection, res: PurgeResult, actor: str, now: datetime) -> None:
    values = {"ts": now, "actor": actor, "events_cutoff": res.events_cutoff,
              "events_deleted": res.events_deleted, "first_event_id": res.first_event_id,
              "last_event_id": res.last_event_id, "anchor_hash": res.anchor_hash,
              "late_events_kept": res.late_events_kept, "reports_cutoff": res.reports_cutoff,
              "reports_deleted": res.reports_deleted, "devices_deleted": res.devices_deleted}
    if res.purge_id is None:
        res.purge_id = int(conn.execute(insert(PurgeRow).values(**values)
                                        .returning(PurgeRow.id)).scalar_one())
    else:
        conn.execute(update(PurgeRow).where(PurgeRow.id == res.purge_id).values(**values))


async def run_daily_purge(settings: Settings, db: Database, stop_event: asyncio.Event, *,
                          interval: float = DAY, first_delay: float = 60.0) -> None:
    """Purge shortly after start, then once a day, until ``stop_event`` is set.

    Never raises: a failed purge is logged and tried again at the next run (expired data
    kept one day longer is the lesser harm than a web app that died)."""
    delay = first_delay
    while not stop_event.is_set():
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=delay)
            return
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(purge, db, settings, actor="daily-purge")
        except Exception:  # noqa: BLE001 — the loop must outlive any failure
            log.exception("daily purge failed; trying again in %.0f s", interval)
        delay = interval


@dataclass(frozen=True, slots=True)
class RetentionStatus:
    """What the IT overview and the DPIA draft show of retention in force."""

    events_days: int
    reports_years: int
    events_held: int
    oldest_event: datetime | None
    reports_held: int
    oldest_report: datetime | None
    last_run: PurgeRun | None
    next_purge: datetime | None  # None: no run yet (the web app runs one a minute after start)
    recent_runs: list[PurgeRun]


def retention_status(conn: Connection, settings: Settings, *, interval: float = DAY,
                     runs: int = 5) -> RetentionStatus:
    n_ev, oldest = conn.execute(select(func.count(), func.min(Event.ts))).one()
    n_rep, oldest_rep = conn.execute(select(func.count(), func.min(IssuedReport.generated_at))
                                     ).one()
    rows = conn.execute(select(PurgeRun.__table__).order_by(PurgeRun.id.desc()).limit(runs)
                        ).mappings().all()
    recent = [PurgeRun(**dict(r)) for r in rows]
    last = recent[0] if recent else None
    nxt = None
    if last is not None:
        nxt = _aware(last.started_at) + timedelta(seconds=interval)
    return RetentionStatus(settings.retention.events_days, settings.retention.reports_years,
                           int(n_ev), _aware(oldest) if oldest else None, int(n_rep),
                           _aware(oldest_rep) if oldest_rep else None, last, nxt, recent)


def _aware(t: datetime) -> datetime:
    if isinstance(t, str):  # SQLite aggregate of a UTCDateTime column comes back as text
        t = datetime.fromisoformat(t)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
