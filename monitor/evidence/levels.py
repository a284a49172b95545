"""Switching the privacy level: from the config file, audited, from the next meeting.

Both services call :func:`sync_level` at start-up. When the configured level differs from
the one in force (``site.privacy_level``), in one transaction under the event insert lock:

1. every meeting that has already begun (scheduled start less the grace period, or a clerk
   action) and has no level yet is fixed at the *old* level — it keeps the level its members
   were told about;
2. the site's level becomes the new one — meetings that begin later take it;
3. an audit row records who (the config file), before and after, and how many meetings kept
   the old level.

Two services starting together both compare and set under the lock: one changes it, the
other finds nothing to do, so one change leaves one audit row. A database never synced has
been storing "full": syncing "full" into it is no change, and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from monitor.evidence import sink
from monitor.evidence.privacy import PrivacyLevel, fix_meetings, parse
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import AuditRow, ClerkActionRow, Meeting, MeetingPrivacy, Site

log = logging.getLogger(__name__)
AUDIT_ACTION = "set-privacy-level"


@dataclass(frozen=True, slots=True)
class LevelChange:
    before: PrivacyLevel
    after: PrivacyLevel
    meetings_kept: int  # begun meetings fixed at the old level

    @property
    def changed(self) -> bool:
        return self.before is not self.after


def begun_meetings(conn: Connection, now: datetime, grace: timedelta) -> list[int]:
    """Meetings that have begun by ``now`` and have no fixed level yet."""
    fixed = select(MeetingPrivacy.meeting_id)
    acted = select(ClerkActionRow.meeting_id).where(ClerkActionRow.at <= now)
    q = select(Meeting.id).where(
        ((Meeting.start <= now + grace) | Meeting.id.in_(acted)),
        Meeting.id.not_in(fixed))
    return [int(i) for i in conn.execute(q).scalars()]


def sync_level(db: Database, settings: Settings, *, actor: str = "config file",
               now: datetime | None = None) -> LevelChange:
    """Make the configured level the one in force (see the module docstring)."""
    now = now or datetime.now(UTC)
    want = PrivacyLevel(settings.privacy.level)
    with db.engine.begin() as conn:
        sink.lock(conn)
        raw = conn.execute(select(Site.privacy_level).where(Site.id == 1)).first()
        before = None if raw is None or raw[0] is None else parse(raw[0])
        old = before or PrivacyLevel.FULL  # what an unsynced database has been storing
        if old is want:  # nothing changes (an unsynced database stores "full" already)
            return LevelChange(old, want, 0)
        kept = begun_meetings(conn, now, timedelta(minutes=settings.policy.grace_minutes))
        fix_meetings(conn, kept, old, now)
        if raw is None:
            conn.execute(insert(Site).values(id=1, revision=1, updated_at=now,
                                             privacy_level=want.value))
        else:
            conn.execute(update(Site).where(Site.id == 1).values(privacy_level=want.value))
        conn.execute(insert(AuditRow).values(
            ts=now, actor=actor, action=AUDIT_ACTION, entity="site", entity_id="1",
            before={"privacy_level": old.value},
            after={"privacy_level": want.value, "applies_from": "the next meeting",
                   "meetings_keeping_previous_level": len(kept)}))
    log.warning("privacy level changed from %s to %s (from the next meeting; %d begun "
                "meetings keep %s)", old, want, len(kept), old)
    return LevelChange(old, want, len(kept))
