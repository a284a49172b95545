"""Check requests and results in the database: the only way the web and the CLI reach the
gate (they never import it). The asker adds a row; the room's gate worker claims it, runs
the check and writes typed lines; the asker reads them back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.check.model import Item, Line, RequestState, Status
from monitor.store.db import Database
from monitor.store.models import ChamberCheckLineRow, ChamberCheckRow

# A gate polls every half second: a request nobody claimed this long after it was made has
# no gate to answer it. A claimed one gets the check's own deadline and a margin.
CLAIM_WITHIN = timedelta(seconds=4)
FINISH_WITHIN = timedelta(seconds=12)


@dataclass(frozen=True, slots=True)
class CheckView:
    id: int
    room: str
    state: RequestState
    requested_at: datetime
    requested_by: str
    started_at: datetime | None
    finished_at: datetime | None
    lines: tuple[Line, ...]

    @property
    def finished(self) -> bool:
        return self.state in (RequestState.DONE, RequestState.UNANSWERED)

    @property
    def ok(self) -> bool:
        return self.state is RequestState.DONE and all(
            ln.status is not Status.FAIL for ln in self.lines)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.requested_at).total_seconds()


def ask(s: Session, room: str, actor: str, now: datetime) -> int:
    row = ChamberCheckRow(room=room, requested_at=now, requested_by=actor[:100],
                          state=RequestState.PENDING.value)
    s.add(row)
    s.flush()
    return row.id


def claim(s: Session, room: str, now: datetime) -> int | None:
    """The oldest fresh pending request for this room, marked running (None if none).
    Stale ones are left for the reader to call unanswered: nobody is waiting on them."""
    row = s.execute(
        select(ChamberCheckRow)
        .where(ChamberCheckRow.room == room,
               ChamberCheckRow.state == RequestState.PENDING.value,
               ChamberCheckRow.requested_at >= now - CLAIM_WITHIN)
        .order_by(ChamberCheckRow.id).limit(1)).scalar_one_or_none()
    if row is None:
        return None
    row.state = RequestState.RUNNING.value
    row.started_at = now
    return row.id


def finish(s: Session, check_id: int, lines: Sequence[Line], now: datetime) -> None:
    row = s.get(ChamberCheckRow, check_id)
    if row is None:  # deleted meanwhile: nothing to answer
        return
    for i, ln in enumerate(lines):
        s.add(ChamberCheckLineRow(check_id=check_id, position=i, item=ln.item.value,
                                  status=ln.status.value, text=ln.text[:1000]))
    row.state = RequestState.DONE.value
    row.finished_at = now


def judge_state(stored: RequestState, requested_at: datetime, started_at: datetime | None,
                now: datetime) -> RequestState:
    """What a reader should believe: a request past its time with no answer was unanswered."""
    if stored is RequestState.PENDING and now - requested_at > CLAIM_WITHIN:
        return RequestState.UNANSWERED
    if stored is RequestState.RUNNING and now - (started_at or requested_at) > FINISH_WITHIN:
        return RequestState.UNANSWERED
    return stored


def read(s: Session, check_id: int, now: datetime) -> CheckView | None:
    row = s.get(ChamberCheckRow, check_id)
    if row is None:
        return None
    state = judge_state(RequestState(row.state), row.requested_at, row.started_at, now)
    lines = tuple(Line(Item(r.item), Status(r.status), r.text) for r in row.lines)
    return CheckView(row.id, row.room, state, row.requested_at, row.requested_by,
                     row.started_at, row.finished_at, lines)


def unanswered_text(v: CheckView) -> str:
    """The one red line shown when no gate answered."""
    if v.started_at is None:
        return (f"No gate for room {v.room!r} picked up the check within "
                f"{CLAIM_WITHIN.total_seconds():.0f} seconds: the gate is not running, or "
                "cannot reach the database. Nothing is blocked or recorded without it.")
    return ("The gate started the check but did not finish it in time: it may be overloaded "
            "or stuck. Look at the gate's log.")


def wait(db: Database, check_id: int, *, timeout: float,
         every: float = 0.25) -> CheckView | None:
    """Poll until the check is finished or judged unanswered (the CLI's path)."""
    end = time.monotonic() + timeout
    while True:
        with db.session() as s:
            v = read(s, check_id, datetime.now(UTC))
        if v is None or v.finished or time.monotonic() >= end:
            return v
        time.sleep(every)


def ask_and_wait(db: Database, room: str, actor: str, *,
                 timeout: float = (CLAIM_WITHIN + FINISH_WITHIN).total_seconds()
                 ) -> CheckView:
    """Ask this room's gate for a check and wait for its answer (``chamberguard check``)."""
    with db.session() as s:
        cid = ask(s, room, actor, datetime.now(UTC))
    v = wait(db, cid, timeout=timeout)
    assert v is not None
    return v


MARKS = {Status.OK: "OK     ", Status.WARN: "CHECK  ", Status.FAIL: "PROBLEM"}


def as_text(v: CheckView) -> list[str]:
    """The list as plain lines for a terminal, with a verdict last."""
    if v.state is RequestState.UNANSWERED:
        return [f"{MARKS[Status.FAIL]}  Gate: {unanswered_text(v)}", "Not ready"]
    if not v.finished:
        return ["The gate is still checking.", "Not ready"]
    out = [f"{MARKS[ln.status]}  {ln.title}: {ln.text}" for ln in v.lines]
    took = f" (checked in {v.seconds:.1f} s)" if v.seconds is not None else ""
    out.append(("Ready" if v.ok else "Not ready") + took)
    return out
