"""The gate step that notes which devices are on the chamber network.

A gate step, because every chamber client sends the gate DNS: no extra capture is needed.
On the hot path it costs one dict lookup per query; the throttling and the note itself are
the evidence side's (monitor/evidence/presence.py), handed to the event writer.
"""

from __future__ import annotations

from collections.abc import Callable

from allowlist.decision import Policy
from monitor.evidence.devices import PresenceNote
from monitor.evidence.presence import PRESENCE_EVERY, PresenceLog
from monitor.gate.exchange import Exchange
from monitor.gate.steps import Step


class Presence(Step):
    """Placed after Identify (it needs the MAC); runs in ``before`` and never answers."""

    def __init__(self, note: Callable[[PresenceNote], None],
                 policy: Callable[[], Policy | None], every: float = PRESENCE_EVERY) -> None:
        self.note = note
        self.policy = policy
        self.log = PresenceLog(every)
        # The throttle's state, read by the daemon's fast path to know when a device is
        # next due a note (the same dict, never replaced).
        self.every = every
        self._last = self.log.last

    def before(self, ex: Exchange) -> None:
        if ex.mac is None:
            return
        note = self.log.seen(ex.mac, ex.client_ip, ex.received, self.policy())
        if note is not None:
            self.note(note)
