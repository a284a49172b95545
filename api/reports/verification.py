"""Verifying a signed report and the evidence behind it: the file's signature and content,
then what the database still knows (register entry, the events covered, the chain and its
anchor), checked against the signed checkpoints kept outside the database
(monitor.evidence.checkpoint), which are written here too."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.errors import Invalid
from api.reports import signing
from api.reports.times import uk_text
from monitor.evidence import chain, checkpoint
from monitor.evidence.retention import PurgeResult
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import IssuedReport, PurgeRow


def signing_key(settings: Settings) -> Any:
    return signing.load_or_create_key(settings.site.data_dir)


# ---------------------------------------------------------------------------- checkpoints
def checkpoint_now(db: Database, settings: Settings, reason: str) -> checkpoint.Checkpoint:
    """The chain's state, signed, to the checkpoint file and the system log (see
    monitor.evidence.checkpoint): on each report, after each purge, and daily."""
    with db.engine.connect() as conn:
        cp = checkpoint.take(conn, reason)
        conn.rollback()
    checkpoint.write(settings.site.data_dir, cp, signing_key(settings))
    return cp


def after_purge(db: Database, settings: Settings, res: PurgeResult) -> None:
    """The daily job's checkpoint: "purge" when events went (the new anchor), else "daily"."""
    checkpoint_now(db, settings, "purge" if res.events_deleted else "daily")


def checkpoint_problems(db: Database, settings: Settings,
                        public: Ed25519PublicKey | None = None) -> list[str]:
    """Where the database disagrees with the signed checkpoints (empty: it does not)."""
    try:
        pub = public or signing.installation_public(settings.site.data_dir)
    except signing.VerifyFailed:
        return []  # no key, so nothing was ever checkpointed by this installation
    try:
        cps = checkpoint.read(settings.site.data_dir, pub)
    except checkpoint.CheckpointError as exc:
        return [str(exc)]
    with db.engine.connect() as conn:
        out = checkpoint.check(conn, cps)
        conn.rollback()
    return out


# ---------------------------------------------------------------------------- verifying
@dataclass(slots=True)
class Verification:
    """``ok``: the file is intact *and* (where the database was consulted) the events it
    covers are unchanged; ``altered``: the file is intact but the evidence behind it is not
    (the events, the chain's anchor, or the chain against its checkpoints)."""

    ok: bool
    reason: str
    details: list[str] = field(default_factory=list)
    signature: dict[str, Any] = field(default_factory=dict)
    altered: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "altered": self.altered, "reason": self.reason,
                "details": self.details, "signature": self.signature}


def verify_file(*, data: bytes, settings: Settings, db: Database | None = None,
                public_key: Path | None = None) -> Verification:
    """Signature and content first (the verdict); then, where the database is at hand, what
    it still knows: the register entry and whether the events covered are unchanged."""
    pub: Ed25519PublicKey
    try:
        pub = signing.load_public(public_key) if public_key is not None else \
            signing.installation_public(settings.site.data_dir)
    except (OSError, ValueError, signing.VerifyFailed) as exc:
        raise Invalid(f"no key to verify with: {exc}") from None
    v = signing.verify(data, pub)
    out = Verification(v.ok, v.reason, signature=v.as_dict()["signature"])
    if not v.ok or db is None:
        return out
    try:
        details, problems = _database_checks(db, v)
        problems += checkpoint_problems(db, settings, pub)
    except SQLAlchemyError as exc:
        out.details.append(f"database not consulted ({type(exc).__name__})")
        return out
    out.details.extend(details)
    if problems:
        out.ok, out.altered = False, True
        out.reason = "ALTERED: the report file is intact, but the evidence it was made " \
                     "from has changed: " + "; ".join(problems)
    return out


def _database_checks(db: Database, v: signing.Verified) -> tuple[list[str], list[str]]:
    """What the database still knows of a verified report: its register entry, whether the
    events it covers are unchanged, and whether the chain's anchor is the one the report
    was made on (or one a recorded purge moved it to). Returns (details, problems)."""
    details: list[str] = []
    problems: list[str] = []
    block = v.block
    digest = hashlib.sha256(v.body).hexdigest()
    with db.session() as s:
        reg = s.execute(select(IssuedReport).where(IssuedReport.sha256 == digest)).scalars(
        ).first()
        if reg is not None:
            details.append(f"register: issued {uk_text(reg.generated_at)} by "
                           f"{reg.generated_by} ({reg.kind}, {reg.format})")
        else:
            details.append("register: no entry (issued by another installation, or "
                           "purged after the retention period)")
        ch = block.get("chain") or {}
        conn = s.connection()
        for label, eid, h in (("last event covered", ch.get("last_event_id"),
                               ch.get("last_event_hash")),
                              ("chain head", ch.get("head_id"), ch.get("head_hash"))):
            if eid is None or h is None:
                continue
            now_h = chain.event_hash(conn, int(eid))
            if now_h is None:
                state = chain.read_state(conn)
                gone = ("purged under the retention policy" if int(eid)
                        <= state.anchor_event_id else
                        "removed under the counts privacy level (its place in the chain is "
                        "recorded)" if chain.in_gap(conn, int(eid))
                        else "no longer in the database")
                details.append(f"chain: {label} (event {eid}) is {gone}")
            elif now_h == h:
                details.append(f"chain: {label} (event {eid}) is unchanged")
            else:
                details.append(f"chain: {label} (event {eid}) has a different hash now: "
                               "the events were altered after this report was made")
                problems.append(f"{label} (event {eid}) has a different hash now")
        rep = chain.verify_chain(conn)
        if rep.ok:
            details.append(f"chain: {rep.checked} events recomputed from the anchor, all "
                           "links hold")
        else:
            assert rep.problem is not None
            problems.append(f"the events' hash chain is broken: {rep.problem.reason}")
        anchor = ch.get("anchor_hash")
        if anchor is not None:
            state = chain.read_state(conn)
            if state.anchor_hash == anchor:
                details.append("chain: anchor unchanged since the report was made")
            elif state.anchor_event_id > int(ch.get("anchor_event_id") or 0) and \
                    _purge_left(conn, state.anchor_hash):
                details.append(f"chain: anchor moved to event {state.anchor_event_id} by a "
                               "recorded retention purge")
            else:
                problems.append("the chain's anchor is not the one the report was made on, "
                                "and no recorded purge moved it")
    return details, problems


def _purge_left(conn: Any, anchor_hash: str) -> bool:
    """A purge record left this anchor (the checkpoints then say whether it is genuine)."""
    return conn.execute(select(PurgeRow.id).where(PurgeRow.anchor_hash == anchor_hash)
                        ).first() is not None


def verify_events(*, db: Database, settings: Settings | None = None) -> chain.ChainReport:
    """The chain recomputed from its anchor, then (with ``settings``) compared with the
    signed checkpoints outside the database: a recomputed chain, a faked anchor or a raised
    pre-chain range fails here even though every link holds."""
    with db.engine.connect() as conn:
        rep = chain.verify_chain(conn)
        conn.rollback()
    if settings is not None and rep.ok:
        problems = checkpoint_problems(db, settings)
        if problems:
            rep.ok = False
            rep.problem = chain.ChainProblem(None, "ALTERED: " + "; ".join(problems))
        else:
            rep.notes.append("consistent with the signed chain checkpoints in "
                             f"{checkpoint.path_of(settings.site.data_dir)}")
    return rep
