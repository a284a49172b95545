"""Per-member timeline charts as server-side SVG geometry.

Drawn with SVG presentation attributes (x, y, width, fill …) and classes only — the CSP
forbids ``style`` attributes and inline ``<style>`` — so the same markup works on the
dashboard page, in the downloadable HTML and in the PDF (WeasyPrint draws inline SVG).
Every chart carries a text title listing what it shows, for screen readers and for a reader
who cannot see colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

WIDTH = 720
LABEL = 130
PAD_RIGHT = 16
TOP = 24
ROW = 22
BAR = 12
STEPS = (5, 10, 15, 30, 60, 120, 180, 240, 360)  # tick spacing candidates, minutes
COLOURS = ("#00538a", "#a3336b", "#4b6b00", "#8a4b00", "#5b3c99", "#006b6b", "#7a1f1f")


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    cls: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Label:
    y: float
    text: str


@dataclass(slots=True)
class Timeline:
    width: int
    height: int
    plot_left: int
    plot_right: int
    title: str
    ticks: list[Tick] = field(default_factory=list)
    bands: list[Rect] = field(default_factory=list)  # in session / outages (backgrounds)
    marks: list[Rect] = field(default_factory=list)  # episodes and other DNS services used
    labels: list[Label] = field(default_factory=list)


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def member_timeline(doc: dict[str, Any], member: dict[str, Any]) -> Timeline | None:
    """The timeline of one member's contacts against the meeting's sessions and outages;
    None when the member had no contacts (the table already says so)."""
    if not member["episode_list"] and not member["bypass_list"]:
        return None
    lo, hi = _t(doc["window"]["start"]), _t(doc["window"]["end"])
    if hi <= lo:
        hi = lo + timedelta(minutes=1)
    span = (hi - lo).total_seconds()
    plot_w = WIDTH - LABEL - PAD_RIGHT

    def x(t: datetime) -> float:
        return round(LABEL + plot_w * max(0.0, min(1.0, (t - lo).total_seconds() / span)), 1)

    rows = [p["platform"] for p in member["platforms"]]
    names = {p["platform"]: p["name"] for p in member["platforms"]}
    if member["bypass_list"]:
        rows.append("__bypass__")
        names["__bypass__"] = "Other DNS service"
    height = TOP + ROW * len(rows) + 6
    tl = Timeline(WIDTH, height, LABEL, LABEL + plot_w, "")
    for s in doc["meeting"]["sessions"]:
        a, b = x(_t(s["start"])), x(_t(s["end"]))
        tl.bands.append(Rect(a, TOP - 4, max(1.0, b - a), ROW * len(rows) + 4, "#e8f1e4",
                             "tl-session", f"in session {s['start'][11:16]}–{s['end'][11:16]}"))
    for o in doc["conditions"]["gate"]["outages"]:
        a = x(_t(o["start"]))
        b = x(_t(o["end"])) if o["end"] else tl.plot_right
        tl.bands.append(Rect(a, TOP - 4, max(1.0, b - a), ROW * len(rows) + 4, "#d9d9d9",
                             "tl-outage", "gate outage: nothing recorded"))
    step = next((m for m in STEPS if span / 60 / m <= 8), STEPS[-1])
    first = lo.replace(second=0, microsecond=0)
    first += timedelta(minutes=(-first.minute) % step if step < 60 else
                       (60 - first.minute) % 60)
    t = first
    while t <= hi:
        tl.ticks.append(Tick(x(t), t.strftime("%H:%M")))
        t += timedelta(minutes=step)
    parts = []
    for i, key in enumerate(rows):
        y = TOP + ROW * i
        tl.labels.append(Label(y + ROW / 2, names[key]))
        colour = COLOURS[i % len(COLOURS)]
        if key == "__bypass__":
            for b in member["bypass_list"]:
                tl.marks.append(Rect(x(_t(b["at"])) - 1.5, y + (ROW - BAR) / 2, 3, BAR,
                                     "#b00020", "tl-bypass", f"{b['at'][11:19]} {b['text']}"))
            n = len(member["bypass_list"])
            parts.append(f"{n} use{'s' if n != 1 else ''} of another DNS service")
            continue
        n = 0
        for e in member["episode_list"]:
            if e["platform"] != key:
                continue
            n += 1
            a, b = x(_t(e["start"])), x(_t(e["end"]))
            tl.marks.append(Rect(a, y + (ROW - BAR) / 2, max(2.0, b - a), BAR, colour,
                                 "tl-episode",
                                 f"{e['name']} {e['start'][11:16]}–{e['end'][11:16]}, "
                                 f"{e['lookups']} lookups, {e.get('label_text', '')}"))
        parts.append(f"{names[key]}: {n} episode{'s' if n != 1 else ''}")
    tl.title = f"Timeline for {member['name']}: " + "; ".join(parts) + "."
    return tl
