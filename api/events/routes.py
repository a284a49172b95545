"""Events as JSON and as a live Server-Sent Events stream; episodes (see ``episodes``).

The web process learns of new events only by tailing the events table by id (DESIGN §2), so
the gate may be another process, or down, and nothing here changes. On PostgreSQL a
LISTEN/NOTIFY wake-up (``live``) makes that tail prompt; elsewhere it polls. Ids are handed
out in commit order (see :mod:`monitor.evidence.sink`), so ``Last-Event-ID`` resumes a
reconnecting browser exactly where it left off: no gap, no duplicate.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth.deps import database, require
from api.auth.roles import LIVE_VIEW
from api.events.episodes import router as episodes_router
from api.events.live import live_feed
from api.events.service import last_event_id, list_events
from api.session import DbSession
from api.users.service import Principal
from api.validation import MAX_ID

KEEPALIVE_SECONDS = 15.0
STREAM_BATCH = 500
_EVENT_ID = re.compile(r"[0-9]{1,10}")


def event_id(header: str | None) -> int | None:
    """A ``Last-Event-ID`` this server could have sent (ASCII digits, an id in the column's
    range), else None: anything else is not ours, so the stream starts as if it were absent
    rather than failing (non-ASCII digits, a number too large for the database)."""
    if header is None or _EVENT_ID.fullmatch(header) is None:
        return None
    value = int(header)
    return value if value <= MAX_ID else None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    feed = getattr(app.state, "live_feed", None)
    if feed is not None:
        feed.close()


events_router = APIRouter(prefix="/api/v1/events", tags=["events"])
router = APIRouter(lifespan=_lifespan)  # what the app includes: events + episodes


@events_router.get("")
def get_events(
    s: DbSession,
    _: Annotated[Principal, Depends(require(LIVE_VIEW))],
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    meeting_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, object]:
    items = list_events(s, after_id=after_id, limit=limit, meeting_id=meeting_id,
                        member_id=member_id, kind=kind)
    return {"items": items, "next_after_id": items[-1]["id"] if items else after_id}


@events_router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    _: Annotated[Principal, Depends(require(LIVE_VIEW))],
    after_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    db = database(request)
    resumed = event_id(request.headers.get("last-event-id"))
    cursor: int
    if resumed is not None:
        cursor = resumed
    elif after_id is not None:
        cursor = after_id
    else:
        def _last() -> int:
            with db.session() as s:
                return last_event_id(s)
        cursor = await run_in_threadpool(_last)

    feed = live_feed(request.app.state, db)

    def _fetch(after: int) -> list[dict[str, object]]:
        with db.session() as s:
            return list_events(s, after_id=after, limit=STREAM_BATCH)

    async def gen() -> AsyncIterator[bytes]:
        nonlocal cursor
        yield b"retry: 1000\n\n"
        quiet = 0.0
        while not await request.is_disconnected():
            seen = feed.generation  # before the read: a wake-up during it is not lost
            items = await run_in_threadpool(_fetch, cursor)
            for item in items:
                cursor = int(item["id"])  # type: ignore[call-overload]
                data = json.dumps(item, separators=(",", ":"))
                yield f"id: {cursor}\nevent: {item['kind']}\ndata: {data}\n\n".encode()
            if items:
                quiet = 0.0
                continue
            waited = feed.poll_seconds
            await feed.wait(seen, waited)
            quiet += waited if feed.generation == seen else 0.0
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield b": keepalive\n\n"

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


router.include_router(events_router)
router.include_router(episodes_router)
