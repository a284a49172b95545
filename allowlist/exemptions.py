"""Exceptions the clerk grants for one meeting: a member (all their devices) or one device
is not restricted while that meeting is in session — the chair's decision or a reasonable
adjustment. Pure data and one question; the reason lives in the database and the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Exemption:
    """Exactly one of ``member_id`` and ``device_id`` is set."""

    meeting_id: int
    member_id: int | None = None
    device_id: int | None = None

    def __post_init__(self) -> None:
        if (self.member_id is None) == (self.device_id is None):
            raise ValueError("an exemption names a member or a device, not both or neither")


@dataclass(frozen=True, slots=True)
class Exemptions:
    """Every exemption in a policy snapshot, indexed for the per-client question."""

    members: frozenset[tuple[int, int]] = frozenset()  # (meeting_id, member_id)
    devices: frozenset[tuple[int, int]] = frozenset()  # (meeting_id, device_id)

    @classmethod
    def of(cls, rows: Iterable[Exemption]) -> Exemptions:
        rows = list(rows)
        return cls(frozenset((e.meeting_id, e.member_id) for e in rows if e.member_id is not None),
                   frozenset((e.meeting_id, e.device_id) for e in rows if e.device_id is not None))

    def exempt(self, meeting_id: int, member_id: int | None, device_id: int) -> bool:
        return ((meeting_id, device_id) in self.devices
                or (member_id is not None and (meeting_id, member_id) in self.members))
