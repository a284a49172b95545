"""Chain checkpoints outside the database: what someone with database access cannot redo.

The hash chain proves the events against each other, but whoever can write the database can
also recompute every hash and the head, fake a purge anchor, or raise ``legacy_max_id`` so
that rows count as "from before the chain". So the chain's state is written *outside* the
database as well, signed with the installation's report key, whenever a report is issued,
after every purge and once a day:

* one JSON line per checkpoint appended to ``<data_dir>/evidence/chain-checkpoints.jsonl``
  (fsynced; the file is append-only by convention and every line is signed, so a changed
  or reordered line fails its own signature);
* the same line to the system log (syslog/journal, where the host has one) and to Python
  logging, so a copy lives where the database's owner may not reach.

:func:`check` compares the database with every checkpoint: an event a checkpoint named must
still carry the hash it had (a recomputed chain fails here); anchors only move forward and
each anchor beyond genesis must be one a purge checkpointed (a faked anchor fails); the
pre-chain range may only shrink (a raised ``legacy_max_id`` fails); and the recorded chain
gaps (``chain_gaps``: where the "counts" privacy level removed runs of events) are the ones
checkpointed — each gap above the anchor is in the line as (first id, last id, digest of the
whole row), so a deleted, edited or added gap row fails even where the chain still links.
Lines written before gaps were checkpointed carry no ``gaps`` and check everything else.

The signing scheme is the reports' (Ed25519 over a domain string and the canonical JSON of
the line without ``sig``); keys are passed in, so this module needs no key storage.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import syslog
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, text

from monitor.evidence import chain

log = logging.getLogger("chamberguard.checkpoint")
DOMAIN = b"chamberguard-chain-checkpoint/1\n"
FILE = "chain-checkpoints.jsonl"


class CheckpointError(Exception):
    """The checkpoint file is damaged or altered; ``str()`` says which line and why."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    at: str  # UTC, ISO 8601
    reason: str  # "report", "purge", "daily"
    head_id: int | None
    head_hash: str
    anchor_event_id: int
    anchor_hash: str
    legacy_max_id: int
    # (first event id, last event id, digest) of every recorded gap above the anchor;
    # None in lines written before gaps were checkpointed.
    gaps: tuple[tuple[int, int, str], ...] | None = None


def path_of(data_dir: Path) -> Path:
    return Path(data_dir) / "evidence" / FILE


def take(conn: Connection, reason: str, now: datetime | None = None) -> Checkpoint:
    """The chain's state now: newest chained event, anchor, pre-chain range."""
    st = chain.read_state(conn)
    snap = chain.snapshot(conn, None)
    gaps = tuple((g.first, g.last, g.digest) for g in recorded_gaps(conn, st.anchor_event_id))
    return Checkpoint((now or datetime.now(UTC)).astimezone(UTC).isoformat(), reason,
                      snap.head_id, snap.head_hash, st.anchor_event_id, st.anchor_hash,
                      st.legacy_max_id, gaps)


@dataclass(frozen=True, slots=True)
class GapRow:
    first: int
    last: int
    digest: str  # SHA-256 (16 hex) of every field that matters: meeting, ids, count, hashes
    created_at: datetime


def recorded_gaps(conn: Connection, anchor_event_id: int) -> list[GapRow]:
    """The chain gaps a purge has not yet removed (the purge drops those below the anchor)."""
    out = []
    for r in conn.execute(text(
            "SELECT meeting_id, first_event_id, last_event_id, events, prev_hash, last_hash, "
            "created_at FROM chain_gaps WHERE last_event_id >= :a ORDER BY first_event_id"),
            {"a": anchor_event_id}):
        text_ = "|".join(str(x) for x in r[:6])
        created = r[6] if isinstance(r[6], datetime) else datetime.fromisoformat(str(r[6]))
        out.append(GapRow(int(r[1]), int(r[2]), hashlib.sha256(text_.encode()).hexdigest()[:16],
                          created if created.tzinfo else created.replace(tzinfo=UTC)))
    return out


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def line_of(cp: Checkpoint, key: Ed25519PrivateKey) -> str:
    fields = asdict(cp)
    if cp.gaps is None:
        del fields["gaps"]
    else:
        fields["gaps"] = [list(g) for g in cp.gaps]
    body: dict[str, Any] = {"v": 1, **fields,
                            "key_id": hashlib.sha256(_raw(key.public_key())).hexdigest()[:16]}
    body["sig"] = base64.b64encode(key.sign(DOMAIN + _canonical(body))).decode()
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def write(data_dir: Path, cp: Checkpoint, key: Ed25519PrivateKey) -> Path:
    """Append ``cp`` (signed) to the checkpoint file, fsynced, and log the same line."""
    p = path_of(data_dir)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = line_of(cp, key)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("chain checkpoint %s", line)
    try:  # the journal/syslog copy: best effort by design (a host may have neither)
        syslog.openlog("chamberguard", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_NOTICE, f"chain checkpoint {line}")
    except OSError:  # pragma: no cover - no log socket: the file is the record
        log.warning("no system log to copy the chain checkpoint to")
    return p


def read(data_dir: Path, public: Ed25519PublicKey) -> list[Checkpoint]:
    """Every checkpoint, each line's signature checked against ``public``."""
    p = path_of(data_dir)
    if not p.exists():
        return []
    out: list[Checkpoint] = []
    for n, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            body = json.loads(raw)
            sig = base64.b64decode(str(body.pop("sig")), validate=True)
            public.verify(sig, DOMAIN + _canonical(body))
            out.append(Checkpoint(str(body["at"]), str(body["reason"]),
                                  None if body["head_id"] is None else int(body["head_id"]),
                                  str(body["head_hash"]), int(body["anchor_event_id"]),
                                  str(body["anchor_hash"]), int(body["legacy_max_id"]),
                                  _gaps_of(body.get("gaps"))))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CheckpointError(f"checkpoint file {p}, line {n}: damaged") from None
        except InvalidSignature:
            raise CheckpointError(f"checkpoint file {p}, line {n}: ALTERED (its signature "
                                  "does not match)") from None
    return out


def _gaps_of(raw: Any) -> tuple[tuple[int, int, str], ...] | None:
    if raw is None:
        return None
    return tuple((int(a), int(b), str(c)) for a, b, c in raw)


def _in_gap(conn: Connection, event_id: int, event_hash: str) -> bool:
    """The event was removed with a recorded chain gap (the "counts" privacy level's
    collapse); when it was the gap's last event, the gap must carry its hash."""
    row = conn.execute(text("SELECT last_event_id, last_hash FROM chain_gaps WHERE "
                            "first_event_id <= :i AND last_event_id >= :i LIMIT 1"),
                       {"i": event_id}).first()
    return row is not None and (int(row[0]) != event_id or str(row[1]) == event_hash)


def check(conn: Connection, checkpoints: list[Checkpoint]) -> list[str]:
    """Problems found comparing the database with the checkpoints (empty: consistent)."""
    if not checkpoints:
        return []
    st = chain.read_state(conn)
    problems: list[str] = []
    anchors = {(c.anchor_event_id, c.anchor_hash) for c in checkpoints}
    for cp in checkpoints:
        if cp.head_id is not None and cp.head_id > st.anchor_event_id:
            now_h = chain.event_hash(conn, cp.head_id)
            if now_h is None and _in_gap(conn, cp.head_id, cp.head_hash):
                pass  # collapsed under the "counts" privacy level: a recorded chain gap
            elif now_h is None:
                problems.append(f"event {cp.head_id}, the chain head checkpointed at {cp.at}, "
                                "is no longer in the database (not purged: after the anchor)")
            elif now_h != cp.head_hash:
                problems.append(f"event {cp.head_id} has a different hash from the one "
                                f"checkpointed at {cp.at}: the events were altered and the "
                                "chain recomputed")
        if st.anchor_event_id < cp.anchor_event_id:
            problems.append(f"the chain anchor moved back (event {st.anchor_event_id}, "
                            f"checkpointed at event {cp.anchor_event_id} at {cp.at})")
        elif st.anchor_event_id == cp.anchor_event_id and st.anchor_hash != cp.anchor_hash:
            problems.append(f"the chain anchor's hash differs from the one checkpointed at "
                            f"{cp.at}: the anchor was altered")
        if st.legacy_max_id > cp.legacy_max_id:
            problems.append(f"events up to id {st.legacy_max_id} are marked as written before "
                            f"the chain existed; at {cp.at} only those up to "
                            f"{cp.legacy_max_id} were: hashes were removed to hide changes")
    problems += _gap_problems(conn, st.anchor_event_id, checkpoints)
    if st.anchor_event_id and (st.anchor_event_id, st.anchor_hash) not in anchors:
        problems.append(f"the chain anchor (event {st.anchor_event_id}) was not left by any "
                        "checkpointed purge: a purge anchor was faked")
    if st.anchor_event_id:
        purge = conn.execute(text("SELECT anchor_hash FROM evidence_purges ORDER BY id DESC "
                                  "LIMIT 1")).scalar()
        if purge is None or str(purge) != st.anchor_hash:
            problems.append("the chain anchor does not match the last purge record")
    return list(dict.fromkeys(problems))


def _gap_problems(conn: Connection, anchor_event_id: int,
                  checkpoints: list[Checkpoint]) -> list[str]:
    """A checkpointed gap (not yet purged) must still be there unchanged; a gap in the
    database must be in a checkpoint unless it was recorded after the newest one (a
    collapse is checkpointed as soon as it commits)."""
    now = {g.first: g for g in recorded_gaps(conn, anchor_event_id)}
    with_gaps = [c for c in checkpoints if c.gaps is not None]
    problems: list[str] = []
    known: set[tuple[int, int, str]] = set()
    for cp in with_gaps:
        assert cp.gaps is not None
        for first, last, digest in cp.gaps:
            known.add((first, last, digest))
            if last < anchor_event_id:
                continue  # purged with the events before the anchor
            g = now.get(first)
            if g is None:
                problems.append(f"the chain gap over events {first}–{last}, checkpointed at "
                                f"{cp.at}, is no longer in the database: a gap row was "
                                "deleted")
            elif (g.last, g.digest) != (last, digest):
                problems.append(f"the chain gap over events {first}–{last} differs from the "
                                f"one checkpointed at {cp.at}: a gap row was edited")
    if with_gaps:
        newest = max(datetime.fromisoformat(c.at) for c in with_gaps)
        for g in now.values():
            if (g.first, g.last, g.digest) not in known and g.created_at <= newest:
                problems.append(f"the chain gap over events {g.first}–{g.last} is in no "
                                "checkpoint: a gap row was added or edited")
    return problems
