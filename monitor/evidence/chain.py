"""The event hash chain: tamper evidence for everything a report is built from.

Each event row carries ``prev_hash`` (the ``hash`` of the event written before it, in id
order) and ``hash`` = SHA-256 over ``prev_hash`` and a canonical serialisation of the row's
content. Removing, altering, inserting or reordering a row breaks the link at that row, so
``verify_chain`` can name the first bad id; cutting off the tail is caught by the head
(``event_chain.head_hash``), which the sink moves in the same transaction as the insert.

Canonical form (version 1), the bytes hashed for one row (ASCII)::

    "cg-event/1" LF prev_hash (64 lower-case hex) LF JSON array [uid, ts, kind, action, room,
        mac, device_id, member_id, meeting_id, domain, platform, category, channels, rule, detail]

JSON as ``json.dumps(values, separators=(",", ":"))`` (ASCII: other characters as ``\\uXXXX``);
``ts`` is UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (the storage form), ids are integers,
absent values ``null``; ``hash`` is the lower-case hex SHA-256. The database id is not
hashed (PostgreSQL assigns it after the hash is made); the order is carried by the links.

One chain for every writer: the sink computes links under the event insert lock — the
PostgreSQL advisory lock, or SQLite's write lock taken up front (``BEGIN IMMEDIATE``), so the
head read, the insert and the head update are one step no other gate or sensor can split.

Retention purges delete a *prefix* of the chain and store the hash of the last purged event as
the new anchor (``event_chain.anchor_hash``, plus an ``evidence_purges`` row): verification
then starts from the retained start. Rows from before the chain existed (``hash`` NULL, id up
to ``legacy_max_id``) are counted, not verified.

The "counts" privacy level deletes a meeting's events from the middle of the chain once its
report is signed (:mod:`monitor.evidence.collapse`); each run of deleted events leaves a
``chain_gaps`` row (the hash before the run, the hash of its last event), and verification
steps over a gap only between exactly those two hashes.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, text

GENESIS = "0" * 64
VERSION = "cg-event/1"
# Content fields, in hashing order (= monitor.evidence.sink.COLUMNS, kept apart so a change
# to the insert layout can never silently change what was hashed).
CONTENT = ("uid", "ts", "kind", "action", "room", "mac", "device_id", "member_id", "meeting_id",
           "domain", "platform", "category", "channels", "rule", "detail")
_TS = CONTENT.index("ts")
_INTS = tuple(CONTENT.index(c) for c in ("device_id", "member_id", "meeting_id"))
assert _TS == 1 and _INTS == (6, 7, 8)  # the fast path in chain_rows relies on it
_encode = json.JSONEncoder(separators=(",", ":")).encode
# The C encoder without json's Python-level wrapper: half the cost per row, the same text
# (checked by the tests against json.dumps).
_c_make = getattr(json.encoder, "c_make_encoder", None)
_c = None if _c_make is None else _c_make(None, None, json.encoder.encode_basestring_ascii,
                                          None, ":", ",", False, False, True)


def compact_json(values: Sequence[object]) -> str:
    """``json.dumps(values, separators=(",", ":"))`` (ASCII), at the C encoder's speed."""
    return _fast(values)


def _fast(values: Sequence[object]) -> str:
    if _c is None:  # pragma: no cover - CPython always has the C encoder
        return _encode(values)
    return "".join(_c(values, 0))


def ts_canonical(value: object) -> object:
    """The storage text of a time (UTC, microseconds): what SQLite keeps verbatim and what
    PostgreSQL's timestamptz round-trips to."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, str) and len(value) != 26:
        try:
            return ts_canonical(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def canonical(values: Sequence[object]) -> str:
    """Content values (in :data:`CONTENT` order) as the canonical JSON text."""
    vals = list(values)
    ts = vals[_TS]
    if not (isinstance(ts, str) and len(ts) == 26):
        vals[_TS] = ts_canonical(ts)
    for i in _INTS:
        v = vals[i]
        if v is not None and type(v) is not int:
            vals[i] = int(v)  # type: ignore[call-overload]
    return _encode(vals)


def link(prev_hash: str, values: Sequence[object]) -> str:
    """The hash of one row, given the hash of the row before it."""
    return hashlib.sha256(f"{VERSION}\n{prev_hash}\n{canonical(values)}".encode()).hexdigest()


def encode_rows(rows: Sequence[Sequence[object]]) -> tuple[list[str], list[str]]:
    """Each row's compact JSON (what the spool stores) and its canonical body (what is
    hashed). For rows already in storage form — every row the writer makes — they are the
    same string, encoded once: the writer's flusher encodes a batch for the spool and hands
    the bodies on, so the database thread only hashes (see :func:`chain_rows`)."""
    raw: list[str] = []
    bodies: list[str] = []
    enc = _fast
    for r in rows:
        ts, a, b, c = r[1], r[6], r[7], r[8]  # ts and the ids (asserted above)
        j = enc(r)
        raw.append(j)
        if (type(ts) is str and len(ts) == 26 and (a is None or type(a) is int)
                and (b is None or type(b) is int) and (c is None or type(c) is int)):
            bodies.append(j)
        else:
            bodies.append(canonical(r))
    return raw, bodies


def chain_rows(prev_hash: str, rows: Sequence[Sequence[object]],
               bodies: Sequence[str] | None = None) -> tuple[list[tuple[object, ...]], str]:
    """Rows extended with (prev_hash, hash), and the new head. The hot loop of the sink:
    one SHA-256 per row, plus one JSON encode unless ``bodies`` (from :func:`encode_rows`
    of the same rows) are given."""
    if bodies is None:
        bodies = encode_rows(rows)[1]
    elif len(bodies) != len(rows):
        raise ValueError("one canonical body per row")
    out: list[tuple[object, ...]] = []
    sha = hashlib.sha256
    prev = prev_hash
    for r, body in zip(rows, bodies, strict=True):
        h = sha(f"{VERSION}\n{prev}\n{body}".encode()).hexdigest()
        out.append((*r, prev, h))
        prev = h
    return out, prev


# -- the head row ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChainState:
    head_hash: str
    anchor_hash: str
    anchor_event_id: int
    legacy_max_id: int


def begin_write(conn: Connection) -> None:
    """SQLite: take the database write lock now (``BEGIN IMMEDIATE``), before the head is
    read, so no other connection can append between our read and our insert. The driver
    opens transactions lazily, so nothing has begun yet unless this transaction already
    wrote — in which case it holds the lock already."""
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and not getattr(raw, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_state(conn: Connection) -> ChainState:
    """The head row (created, from genesis, if a database somehow lacks it: verification
    then reports wherever the links do not start from there)."""
    row = conn.execute(text("SELECT head_hash, anchor_hash, anchor_event_id, legacy_max_id "
                            "FROM event_chain WHERE id = 1")).first()
    if row is None:
        now = datetime.now(UTC)
        conn.execute(text("INSERT INTO event_chain (id, head_hash, anchor_hash, anchor_event_id,"
                          " legacy_max_id, started_at, updated_at) VALUES (1, :g, :g, 0, 0, "
                          ":now, :now)"),
                     {"g": GENESIS, "now": _ts_param(conn, now)})
        return ChainState(GENESIS, GENESIS, 0, 0)
    return ChainState(str(row[0]), str(row[1]), int(row[2]), int(row[3]))


def _ts_param(conn: Connection, t: datetime) -> object:
    return t.replace(tzinfo=None).isoformat(" ", "microseconds") \
        if conn.dialect.name == "sqlite" else t


def set_head(conn: Connection, head_hash: str) -> None:
    conn.execute(text("UPDATE event_chain SET head_hash = :h, updated_at = :now WHERE id = 1"),
                 {"h": head_hash, "now": _ts_param(conn, datetime.now(UTC))})


def set_anchor(conn: Connection, *, anchor_hash: str, anchor_event_id: int,
               legacy_max_id: int) -> None:
    conn.execute(text("UPDATE event_chain SET anchor_hash = :h, anchor_event_id = :i, "
                      "legacy_max_id = :l, updated_at = :now WHERE id = 1"),
                 {"h": anchor_hash, "i": anchor_event_id, "l": legacy_max_id,
                  "now": _ts_param(conn, datetime.now(UTC))})


# -- insert (called by the sink, lock held) --------------------------------------------------
def insert_chained(conn: Connection, sql: str, rows: Sequence[Sequence[object]],
                   bodies: Sequence[str] | None = None) -> int:
    """Insert rows (content in :data:`CONTENT` order; ``sql`` takes them plus prev_hash and
    hash) linked onto the head, and move the head. Returns how many rows were new.

    The insert is ``ON CONFLICT (uid) DO NOTHING`` (spool replay): a skipped row must not be
    linked, so when fewer rows than offered went in, the attempt is rolled back to a
    savepoint and repeated with only the new rows. That path is rare (a replay after a crash)
    and the common one costs no extra query. ``bodies``: the rows' canonical bodies, when
    the caller has them already (:func:`encode_rows`)."""
    state = read_state(conn)
    linked, head = chain_rows(state.head_hash, rows, bodies)
    conn.exec_driver_sql("SAVEPOINT cg_chain")
    res = conn.exec_driver_sql(sql, linked)
    if res.rowcount != len(linked):
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT cg_chain")
        fresh = _new_rows(conn, rows)
        linked, head = chain_rows(state.head_hash, fresh)
        if linked:
            conn.exec_driver_sql(sql, linked)
    conn.exec_driver_sql("RELEASE SAVEPOINT cg_chain")
    if linked:
        set_head(conn, head)
    return len(linked)


def _new_rows(conn: Connection, rows: Sequence[Sequence[object]]) -> list[Sequence[object]]:
    """Rows whose uid is neither stored already nor repeated earlier in the batch."""
    uid_at = CONTENT.index("uid")
    uids = [r[uid_at] for r in rows if r[uid_at] is not None]
    stored: set[object] = set()
    for i in range(0, len(uids), 500):
        chunk = uids[i:i + 500]
        q = text("SELECT uid FROM events WHERE uid IN :u").bindparams(
            bindparam("u", chunk, expanding=True))
        stored.update(u for (u,) in conn.execute(q))
    out: list[Sequence[object]] = []
    for r in rows:
        u = r[uid_at]
        if u is not None:
            if u in stored:
                continue
            stored.add(u)
        out.append(r)
    return out


# -- verification ----------------------------------------------------------------------------
@dataclass(slots=True)
class ChainProblem:
    event_id: int | None
    reason: str


@dataclass(slots=True)
class ChainReport:
    """Outcome of :func:`verify_chain`. ``ok`` is False at the first problem found."""

    ok: bool = True
    checked: int = 0  # chained rows whose hash and link were recomputed
    legacy: int = 0  # rows from before the chain existed (not verifiable)
    first_id: int | None = None
    last_id: int | None = None
    head_hash: str = GENESIS
    anchor_hash: str = GENESIS
    anchor_event_id: int = 0
    problem: ChainProblem | None = None
    notes: list[str] = field(default_factory=list)
    collapsed: int = 0  # events removed under the "counts" privacy level (recorded gaps)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "checked": self.checked, "legacy": self.legacy,
                "first_id": self.first_id, "last_id": self.last_id,
                "head_hash": self.head_hash, "anchor_hash": self.anchor_hash,
                "anchor_event_id": self.anchor_event_id,
                "first_bad_id": self.problem.event_id if self.problem else None,
                "reason": self.problem.reason if self.problem else None, "notes": self.notes,
                "collapsed": self.collapsed}


_SELECT = "SELECT id, " + ", ".join(CONTENT) + ", prev_hash, hash FROM events"


def _rows(conn: Connection, batch: int = 20_000) -> Iterator[tuple[object, ...]]:
    """All events in id order, in keyset pages (bounded memory on a million rows)."""
    last = -1
    while True:
        page = conn.exec_driver_sql(f"{_SELECT} WHERE id > {int(last)} ORDER BY id LIMIT {batch}"
                                    ).fetchall()
        if not page:
            return
        yield from (tuple(r) for r in page)
        last = int(page[-1][0])


@dataclass(frozen=True, slots=True)
class Gap:
    first_id: int
    last_id: int
    events: int
    last_hash: str


def gaps(conn: Connection) -> dict[str, Gap]:
    """Recorded gaps (see :mod:`monitor.evidence.collapse`), by the hash each follows."""
    return {str(p): Gap(int(a), int(b), int(n), str(h)) for p, a, b, n, h in conn.execute(text(
        "SELECT prev_hash, first_event_id, last_event_id, events, last_hash FROM chain_gaps"))}


def bridge(known: dict[str, Gap], frm: str, to: str, after_id: int | None,
           before_id: int | None) -> int | None:
    """Events skipped going from hash ``frm`` to hash ``to`` over recorded gaps lying
    between ids ``after_id`` and ``before_id``; None when no chain of gaps joins them."""
    skipped = 0
    for _ in range(len(known) + 1):
        if frm == to:
            return skipped
        g = known.get(frm)
        if g is None or (after_id is not None and g.first_id <= after_id) or (
                before_id is not None and g.last_id >= before_id):
            return None
        skipped += g.events
        after_id, frm = g.last_id, g.last_hash
    return None


def verify_chain(conn: Connection) -> ChainReport:
    """Recompute every link from the anchor to the head. Names the first bad event id, with
    the reason: altered (its hash does not match its content), removed/inserted (its
    ``prev_hash`` is not the hash of the event before it), unchained (written outside the
    sink), or a cut-off tail (the last event is not the recorded head)."""
    st = read_state(conn)
    rep = ChainReport(head_hash=st.head_hash, anchor_hash=st.anchor_hash,
                      anchor_event_id=st.anchor_event_id)
    prev = st.anchor_hash
    prev_id: int | None = None
    started = False
    known = gaps(conn)

    def fail(event_id: int | None, reason: str) -> ChainReport:
        rep.ok = False
        rep.problem = ChainProblem(event_id, reason)
        return rep

    for row in _rows(conn):
        eid = int(row[0])  # type: ignore[call-overload]
        content = row[1:-2]
        prev_hash, stored = row[-2], row[-1]
        if stored is None:
            if not started and eid <= st.legacy_max_id:
                rep.legacy += 1
                continue
            return fail(eid, f"event {eid} is not chained (written outside the event sink, "
                             "or its hash was removed)")
        if prev_hash != prev and known:
            skipped = bridge(known, prev, str(prev_hash), prev_id, eid)
            if skipped is not None:
                rep.collapsed += skipped
                prev = str(prev_hash)
        if not started:
            started = True
            rep.first_id = eid
            if prev_hash != prev:
                what = ("the anchor left by the last purge" if st.anchor_event_id
                        else "the start of the chain")
                return fail(eid, f"event {eid} does not follow {what}: an earlier event was "
                                 "removed or the anchor was altered")
        elif prev_hash != prev:
            return fail(eid, f"event {eid} does not follow event {prev_id}: an event between "
                             "them was removed or inserted, or the order was changed")
        if link(str(prev_hash), content) != stored:
            return fail(eid, f"event {eid} was altered: its content does not match its hash")
        prev = str(stored)
        prev_id = eid
        rep.checked += 1
        rep.last_id = eid
    if prev != st.head_hash and known:
        skipped = bridge(known, prev, st.head_hash, prev_id, None)
        if skipped is not None:
            rep.collapsed += skipped
            prev = st.head_hash
    if prev != st.head_hash:
        after = f"after event {prev_id}" if prev_id is not None else "from the start"
        return fail(None if prev_id is None else prev_id,
                    f"the chain ends {after} but the recorded head is {st.head_hash[:16]}…: "
                    "the latest events were removed (or the head was altered)")
    if rep.legacy:
        rep.notes.append(f"{rep.legacy} events from before the hash chain existed are not "
                         "covered")
    if rep.collapsed:
        rep.notes.append(f"{rep.collapsed} events were removed under the counts privacy "
                         "level (their places in the chain are recorded)")
    return rep


def in_gap(conn: Connection, event_id: int) -> bool:
    """Whether an event was removed under the counts privacy level."""
    return conn.execute(text("SELECT 1 FROM chain_gaps WHERE first_event_id <= :i AND "
                             "last_event_id >= :i"), {"i": event_id}).first() is not None


def event_hash(conn: Connection, event_id: int) -> str | None:
    h = conn.execute(text("SELECT hash FROM events WHERE id = :i"), {"i": event_id}).scalar()
    return None if h is None else str(h)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a report embeds: the newest chained event, the anchor, and the hash of the
    last event the report covers — read in one round trip."""

    head_id: int | None
    head_hash: str
    anchor_hash: str
    covered_hash: str | None


def snapshot(conn: Connection, covered_id: int | None) -> Snapshot:
    row = conn.execute(text(
        "SELECT (SELECT id FROM events WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1), "
        "(SELECT hash FROM events WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1), "
        "c.head_hash, c.anchor_hash, (SELECT hash FROM events WHERE id = :e) "
        "FROM event_chain c WHERE c.id = 1"), {"e": covered_id if covered_id is not None
                                                else -1}).first()
    if row is None:  # no head row: read_state creates it
        st = read_state(conn)
        return Snapshot(None, st.head_hash, st.anchor_hash,
                        None if covered_id is None else event_hash(conn, covered_id))
    head_id, head_hash, chain_head, anchor, covered = row
    return Snapshot(None if head_id is None else int(head_id),
                    str(head_hash) if head_hash is not None else str(chain_head), str(anchor),
                    None if covered is None else str(covered))
