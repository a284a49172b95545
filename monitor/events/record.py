"""The event record: the one documented type for everything the clerk and the report see
(Zeek-style), and the one construction of an event from a gate or sensor decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from allowlist.decision import Decision, Kind
from allowlist.events import EventAction, EventKind
from monitor.evidence.sink import COLUMNS, ts_text

# Spool and insert field order. ``uid`` is given by the writer: (boot id, sequence) — unique
# across gates and restarts, and the UNIQUE column that makes spool replay idempotent.
FIELDS = COLUMNS


@dataclass(frozen=True, slots=True)
class EventRecord:
    """ts: when (aware UTC); kind/action: see the enums; room: the gate that saw it;
    mac/device_id/member_id: attribution at the time (kept even if the device is later
    re-registered); meeting_id: the meeting in session; domain/platform/category: what was
    reached for (never a URL); channels: comma list of dns/tls/quic/http; rule: the rule that
    decided; detail: a short neutral note (e.g. the bypass kind)."""

    ts: datetime
    kind: EventKind
    action: EventAction
    room: str | None = None
    mac: str | None = None
    device_id: int | None = None
    member_id: int | None = None
    meeting_id: int | None = None
    domain: str | None = None
    platform: str | None = None
    category: str | None = None
    channels: str = "dns"
    rule: str | None = None
    detail: str | None = None

    def row(self, uid: str | None = None) -> dict[str, object]:
        """Column values for the ``events`` table (written out: ``asdict`` is 5x slower)."""
        return {
            "uid": uid, "ts": self.ts, "kind": str(self.kind), "action": str(self.action),
            "room": self.room, "mac": self.mac, "device_id": self.device_id,
            "member_id": self.member_id, "meeting_id": self.meeting_id, "domain": self.domain,
            "platform": self.platform, "category": self.category, "channels": self.channels,
            "rule": self.rule, "detail": self.detail,
        }

    def wire(self, uid: str) -> tuple[object, ...]:
        """Values in :data:`FIELDS` order in storage form: JSON-ready for the spool and
        ready for the driver's executemany (ts as UTC text, see monitor.evidence.sink)."""
        ts = self.ts  # the common case inline: this runs once per event on the flusher
        when = ts.isoformat(" ", "microseconds")[:26] if ts.tzinfo is UTC else ts_text(ts)
        return (uid, when, str(self.kind), str(self.action), self.room, self.mac,
                self.device_id, self.member_id, self.meeting_id, self.domain, self.platform,
                self.category, self.channels, self.rule, self.detail)


# Decisions that become events. Unlisted refusals are counted, never stored: chamberguard
# records social platforms and ways round the gate, not a member's other browsing.
RECORDED_KINDS = frozenset({Kind.PLATFORM, Kind.BYPASS, Kind.BLOCKED})


def decision_event(d: Decision, *, ts: float, room: str | None, mac: str | None,
                   channels: str, action: EventAction) -> EventRecord:
    """The event for a decision of a RECORDED_KIND: one construction for every sensor."""
    return EventRecord(
        ts=datetime.fromtimestamp(ts, UTC),
        kind=EventKind.BYPASS if d.kind is Kind.BYPASS else EventKind.ATTEMPT,
        action=action,
        room=room,
        mac=mac,
        device_id=d.device_id,
        member_id=d.member_id,
        meeting_id=d.meeting_id,
        domain=d.domain,
        platform=d.platform,
        category=d.category.value,
        channels=channels,
        rule=d.rule.describe() if d.rule else None,
        detail=d.bypass.value if d.bypass else None,
    )
