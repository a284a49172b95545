"""What an event is: its kind and the gate's action, as stored in the ``events`` table.

The domain's vocabulary, so the words (:mod:`allowlist.wording`), the episodes, the gate, the
reports and the dashboard compare one definition instead of strings. ``StrEnum``: a member
equals its stored text, so rows written before the enums read the same.
"""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    ATTEMPT = "attempt"  # a restricted device reached for a social platform (or other refused name)
    BYPASS = "bypass"  # DoH/DoT/QUIC/foreign resolver/canary
    ALLOWED_SAMPLE = "allowed-sample"  # a sample of allowed traffic (agenda/webcast) for context
    OUTAGE = "outage"  # the gate was down or dropped events
    DEVICE_SEEN = "device-seen"  # presence: an unregistered device appeared during a meeting


class EventAction(enum.StrEnum):
    REFUSED = "refused"
    ALLOWED = "allowed"
    OBSERVED = "observed"  # monitor-only, or seen passively


# What a member's device reached for (the rest is the gate's own bookkeeping).
LOOKUP_KINDS = frozenset({EventKind.ATTEMPT, EventKind.BYPASS})
