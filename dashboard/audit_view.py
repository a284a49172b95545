"""The audit log in words: each entry's before/after JSON as "field: old → new" lines, with
timestamps in UK time, so the monitoring officer need not read raw JSON (issue 21)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from allowlist.clock import to_london


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: str | None  # None: not present before (added)
    after: str | None  # None: not present after (removed)


def readable(value: object) -> str:
    """A value as the officer reads it: ISO times in UK time, lists comma-joined,
    nested objects compact, empty as "—"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            return value
        if t.tzinfo is not None:
            d = to_london(t)
            return f"{d:%a} {d.day} {d:%b %Y %H:%M:%S} (UK time)"
        return value
    if isinstance(value, list):
        return ", ".join(readable(v) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def changes(before: dict[str, object] | None, after: dict[str, object] | None) -> list[Change]:
    b, a = before or {}, after or {}
    out = []
    for key in sorted(set(b) | set(a)):
        old = readable(b[key]) if key in b else None
        new = readable(a[key]) if key in a else None
        if old != new:
            out.append(Change(key.replace("_", " "), old, new))
    return out
