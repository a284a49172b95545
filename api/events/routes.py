"""Events as JSON and as a live Server-Sent Events stream.

The web process learns of new events only by tailing the events table by id (DESIGN §2), so
the gate may be another process, or down, and nothing here changes. ``Last-Event-ID`` resumes
a reconnecting browser exactly where it left off: no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth.deps import database, require
from api.auth.roles import LIVE_VIEW
from api.events.service import last_event_id, list_events
from api.users.service import Principal

router = APIRouter(prefix="/api/v1/events", tags=["events"])
POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0


@router.get("")
def get_events(
    request: Request,
    _: Annotated[Principal, Depends(require(LIVE_VIEW))],
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    meeting_id: int | None = None,
    member_id: int | None = None,
    kind: str | None = None,
) -> dict[str, object]:
    with database(request).session() as s:
        items = list_events(s, after_id=after_id, limit=limit, meeting_id=meeting_id,
                            member_id=member_id, kind=kind)
    return {"items": items, "next_after_id": items[-1]["id"] if items else after_id}


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    _: Annotated[Principal, Depends(require(LIVE_VIEW))],
    after_id: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    db = database(request)
    header = request.headers.get("last-event-id")
    cursor: int
    if header and header.isdigit():
        cursor = int(header)
    elif after_id is not None:
        cursor = after_id
    else:
        def _last() -> int:
            with db.session() as s:
                return last_event_id(s)
        cursor = await run_in_threadpool(_last)

    async def gen() -> AsyncIterator[bytes]:
        nonlocal cursor
        yield b"retry: 1000\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            def _fetch(after: int = cursor) -> list[dict[str, object]]:
                with db.session() as s:
                    return list_events(s, after_id=after, limit=500)
            items = await run_in_threadpool(_fetch)
            for item in items:
                cursor = int(item["id"])  # type: ignore[call-overload]
                data = json.dumps(item, separators=(",", ":"))
                yield f"id: {cursor}\nevent: {item['kind']}\ndata: {data}\n\n".encode()
            if items:
                idle = 0.0
                continue
            await asyncio.sleep(POLL_SECONDS)
            idle += POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield b": keepalive\n\n"

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
