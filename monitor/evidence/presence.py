"""Presence: the gate's DNS traffic says which devices are on the chamber network, and when.

A gate step, because every chamber client sends the gate DNS: no extra capture is needed to
keep ``devices.last_seen``/``last_ip`` current. On the hot path it costs one dict lookup per
query; at most once per device per ``every`` seconds it hands a note to the event writer,
whose database thread does the update (and creates the row for a MAC never seen before).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from allowlist.decision import Policy
from monitor.evidence.devices import PresenceNote
from monitor.gate.exchange import Exchange
from monitor.gate.steps import Step

PRESENCE_EVERY = 30.0  # seconds between two notes for one device
_MAX_TRACKED = 65_536


class Presence(Step):
    """Placed after Identify (it needs the MAC); runs in ``before`` and never answers."""

    def __init__(self, note: Callable[[PresenceNote], None],
                 policy: Callable[[], Policy | None], every: float = PRESENCE_EVERY) -> None:
        self.note = note
        self.policy = policy
        self.every = every
        self._last: dict[str, float] = {}

    def before(self, ex: Exchange) -> None:
        mac = ex.mac
        if mac is None:
            return
        last = self._last.get(mac)
        if last is not None and 0.0 <= ex.received - last < self.every:
            return  # (a clock stepped backwards must not silence a device for that long)
        if len(self._last) >= _MAX_TRACKED:
            self._last.clear()
        self._last[mac] = ex.received
        ts = datetime.fromtimestamp(ex.received, UTC)
        pol = self.policy()
        meeting = pol.meeting_now(ts) if pol is not None else None
        self.note(PresenceNote(mac, ex.client_ip, ts,
                               meeting.meeting_id if meeting is not None else None))
