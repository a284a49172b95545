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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, text, update

from monitor.evidence import chain
from monitor.evidence.sink import ADVISORY_KEY
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import AuditRow, Device, Event, IssuedReport, LearnSession, PurgeRow

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
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
    else:
        chain.begin_write(conn)


def purge(db: Database, settings: Settings, *, now: datetime | None = None,
          actor: str = "purge", batch: int = BATCH) -> PurgeResult:
    """Delete expired events, report-register rows and guests' device rows; record it."""
    now = now or datetime.now(UTC)
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
                          interval: float = DAY, first_delay: float = 60.0,
                          after: Callable[[PurgeResult], None] | None = None) -> None:
    """Purge shortly after start, then once a day, until ``stop_event`` is set; ``after``
    runs after each purge (the daily chain checkpoint).

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
            res = await asyncio.to_thread(purge, db, settings, actor="daily-purge")
            if after is not None:
                await asyncio.to_thread(after, res)
        except Exception:  # noqa: BLE001 — the loop must outlive any failure
            log.exception("daily purge failed; trying again in %.0f s", interval)
        delay = interval
