"""Where a process keeps its event spool, and a replayed segment's rows in today's field order."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.events.record import FIELDS
from monitor.evidence.spool import SegmentContents


def spool_dir(data_dir: Path, room: str | None, process: str) -> Path:
    """Where one process of one room keeps its spool (``<data_dir>/spool/<room>.<process>``):
    a directory has one owner at a time, and a gate and a sensor of one room both write."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", room or "default")
    return Path(data_dir) / "spool" / f"{slug}.{process}"


def rows_from_spool(seg: SegmentContents) -> list[tuple[object, ...]]:
    """A replayed segment's rows in :data:`FIELDS` order (fields it lacks are NULL; fields
    this version does not know are ignored)."""
    if seg.fields == FIELDS:
        return [tuple(r) for r in seg.rows]
    pos = [seg.fields.index(f) if f in seg.fields else None for f in FIELDS]
    return [tuple(None if i is None else r[i] for i in pos) for r in seg.rows]
