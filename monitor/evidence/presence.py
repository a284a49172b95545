"""Presence: which devices are on the chamber network, and when — throttled to one note per
device per ``every`` seconds.

Pure recording: it is told a device was seen (by the gate's presence step,
monitor/gate/presence.py, since every chamber client sends the gate DNS) and decides whether
that is worth a note for the event writer, whose database thread keeps
``devices.last_seen``/``last_ip`` current (and creates the row for a MAC never seen before).
It knows nothing of the gate: the dependency points from the gate to the evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime

from allowlist.decision import Policy
from monitor.evidence.devices import PresenceNote

PRESENCE_EVERY = 30.0  # seconds between two notes for one device
_MAX_TRACKED = 65_536


class PresenceLog:
    """One dict lookup per sighting; a note at most once per device per ``every`` seconds."""

    def __init__(self, every: float = PRESENCE_EVERY) -> None:
        self.every = every
        self.last: dict[str, float] = {}

    def seen(self, mac: str, ip: str, received: float,
             policy: Policy | None) -> PresenceNote | None:
        """``received``: a Unix time. The note names the meeting in session then, if any."""
        last = self.last.get(mac)
        if last is not None and 0.0 <= received - last < self.every:
            return None  # (a clock stepped backwards must not silence a device for that long)
        if len(self.last) >= _MAX_TRACKED:
            self.last.clear()
        self.last[mac] = received
        ts = datetime.fromtimestamp(received, UTC)
        meeting = policy.meeting_now(ts) if policy is not None else None
        return PresenceNote(mac, ip, ts, meeting.meeting_id if meeting is not None else None)
