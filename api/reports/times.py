"""Times in a report: Europe/London ISO 8601 with the offset, whole minutes, and interval
arithmetic (merge, clip) for sessions and outages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from allowlist.clock import LONDON


def aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def london(t: datetime | None) -> str | None:
    """ISO 8601 in Europe/London, to the second, with its offset.

    A report writes a thousand or more of these (every episode's start and end), and
    ``astimezone`` + ``isoformat`` cost 2 µs each: for a UTC time, the local "date T hour"
    and the offset are looked up per UTC hour (London changes offset only on the hour, and
    :func:`_hour_parts` refuses any hour where that is not so) and the minutes and seconds,
    the same in both zones then, are appended."""
    if t is None:
        return None
    if t.tzinfo is UTC:
        key = (t.year, t.month, t.day, t.hour)
        parts = _HOURS.get(key, _UNSEEN)
        if parts is _UNSEEN:
            if len(_HOURS) > 50_000:
                _HOURS.clear()
            parts = _HOURS[key] = _hour_parts(t)
        if parts is not None:
            return parts[0] + _MIN_SEC[t.minute * 60 + t.second] + parts[1]
    return aware(t).astimezone(LONDON).isoformat(timespec="seconds")


_HOURS: dict[tuple[int, int, int, int], tuple[str, str] | None] = {}
_UNSEEN: Any = object()
_MIN_SEC = [f":{m:02d}:{s:02d}" for m in range(60) for s in range(60)]


def _hour_parts(t: datetime) -> tuple[str, str] | None:
    """("YYYY-MM-DDTHH" local, "+HH:MM") for the UTC hour of ``t``, or None when the hour's
    local minutes and seconds are not the UTC ones (an offset change inside the hour, or an
    offset that is not whole hours, such as London's mean time before 1847)."""
    h0 = t.replace(minute=0, second=0, microsecond=0)
    a = h0.astimezone(LONDON)
    try:
        b = (h0 + timedelta(hours=1, microseconds=-1)).astimezone(LONDON)
    except OverflowError:
        return None
    if a.utcoffset() != b.utcoffset() or (a.minute, a.second) != (0, 0):
        return None
    text = a.isoformat(timespec="seconds")
    return text[:13], text[19:]


ZONE = "Europe/London"


def uk_text(t: datetime | str | None) -> str:
    """A time for people to read: UK wall-clock time with its abbreviation and the zone
    named, e.g. ``2026-06-10 21:00:00 BST (Europe/London)``; accepts the documents' ISO
    text. A time without a zone is taken as UTC (the database's)."""
    if t is None or t == "":
        return "–"
    when = datetime.fromisoformat(t) if isinstance(t, str) else t
    local = aware(when).astimezone(LONDON)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({ZONE})"


def minutes(d: timedelta) -> int:
    return int(round(d.total_seconds() / 60))


def merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def clip(intervals: Sequence[tuple[datetime, datetime]],
          within: Sequence[tuple[datetime, datetime]]) -> timedelta:
    total = timedelta(0)
    for a, b in intervals:
        for c, d in within:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                total += hi - lo
    return total
