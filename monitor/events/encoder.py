"""Records to storage rows, their spool JSON and their hash-chain bodies, encoded once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from monitor.events.record import EventRecord
from monitor.evidence.chain import compact_json, encode_rows
from monitor.evidence.sink import ts_text


class RowEncoder:
    """Records → storage rows (:data:`FIELDS` order), each row's compact JSON for the spool
    and its canonical body for the hash chain (the same string: rows made here are in
    storage form). Exactly ``chain.encode_rows([r.wire(uid) for …])``, cheaper.

    Why it caches: a phone's background sync makes dozens of identical lookups a minute, so
    everything after ``uid`` and ``ts`` repeats from event to event. That tail's tuple and
    its JSON are kept (bounded; cleared when full); rows whose ids are not plain ints (a
    bool equals 1 as a dict key but encodes as ``true``) take the exact, uncached path.
    ``uid`` must be the writer's own (hex, ``-``, digits: nothing to escape)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._tails: dict[tuple[object, ...], str] = {}

    def encode(self, recs: Sequence[EventRecord], uids: Sequence[str]
               ) -> tuple[list[tuple[object, ...]], list[str], list[str]]:
        rows: list[tuple[object, ...]] = []
        raw: list[str] = []
        bodies: list[str] = []
        tails = self._tails
        for u, r in zip(uids, recs, strict=True):
            ts = r.ts
            when = ts.isoformat(" ", "microseconds")[:26] if ts.tzinfo is UTC else ts_text(ts)
            tail = (str(r.kind), str(r.action), r.room, r.mac, r.device_id, r.member_id,
                    r.meeting_id, r.domain, r.platform, r.category, r.channels, r.rule,
                    r.detail)
            row = (u, when, *tail)
            rows.append(row)
            a, b, c = r.device_id, r.member_id, r.meeting_id
            if not ((a is None or type(a) is int) and (b is None or type(b) is int)
                    and (c is None or type(c) is int)):  # checked before the cache is asked
                one_raw, one_body = encode_rows([row])
                raw.append(one_raw[0])
                bodies.append(one_body[0])
                continue
            j = tails.get(tail)
            if j is None:
                j = compact_json(tail)[1:]  # the tail's elements and the closing bracket
                if len(tails) >= self._size:
                    tails.clear()
                tails[tail] = j
            text = f'["{u}","{when}",{j}' if when is not None else f'["{u}",null,{j}'
            raw.append(text)
            bodies.append(text)
        return rows, raw, bodies
