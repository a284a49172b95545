"""The check's vocabulary: typed lines and request states, never sentences as data."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Item(enum.StrEnum):
    """What one line of the list is about (its order is the list's order)."""

    GATE = "gate"
    FIREWALL = "firewall"
    SENSOR = "sensor"
    MODE = "mode"
    PRESETS = "presets"
    AGENDA = "agenda"
    WEBCAST = "webcast"
    DEVICES = "devices"


TITLES: dict[Item, str] = {
    Item.GATE: "Gate",
    Item.FIREWALL: "Firewall",
    Item.SENSOR: "Sensor",
    Item.MODE: "Mode",
    Item.PRESETS: "Allowlist presets",
    Item.AGENDA: "Agenda",
    Item.WEBCAST: "Webcast",
    Item.DEVICES: "Members' devices",
}


class Status(enum.StrEnum):
    OK = "ok"  # green
    WARN = "warn"  # worth a look, not a reason to stop
    FAIL = "fail"  # red: the meeting will not go as it should


class RequestState(enum.StrEnum):
    PENDING = "pending"  # asked, not picked up by the gate yet
    RUNNING = "running"  # the gate is checking
    DONE = "done"  # result rows written
    UNANSWERED = "unanswered"  # no gate picked it up in time (judged by the reader)


@dataclass(frozen=True, slots=True)
class Line:
    item: Item
    status: Status
    text: str  # plain English, shown as is

    @property
    def title(self) -> str:
        return TITLES[self.item]
