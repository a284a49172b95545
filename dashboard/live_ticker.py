"""One "something changed" signal for every open live page, from one reader of the database.

The live page needs to know *that* the meeting moved and up to which event, not every event:
a browser given each lookup at 1,000 a second spends its time (and the server's) reading
them. :class:`LiveTicker` looks at the newest event id once per wake-up of the live feed
(PostgreSQL NOTIFY, or the feed's short poll on SQLite) for all browsers together, and hands
each subscriber only the latest news — the newest id and that event's sentence, which the
page announces to screen readers. A slow browser skips stale news; it never queues it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.events.live import LiveFeed
from api.events.service import describe
from monitor.events import EventKind
from monitor.store.db import Database
from monitor.store.models import Device, Event, Member

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0
NEWS_KINDS = (EventKind.ATTEMPT.value, EventKind.BYPASS.value, EventKind.OUTAGE.value)


@dataclass(frozen=True, slots=True)
class News:
    last_id: int  # every event up to this id is committed
    event_id: int  # the newest attempt, bypass or outage (0 when there is none)
    text: str  # its neutral sentence

    def sse(self) -> bytes:
        data = json.dumps({"last": self.last_id, "id": self.event_id, "text": self.text},
                          separators=(",", ":"))
        return f"id: {self.last_id}\nevent: change\ndata: {data}\n\n".encode()


def read_news(s: Session) -> News:
    """The newest event id, and the sentence of the newest attempt, bypass or outage."""
    last = int(s.execute(select(Event.id).order_by(Event.id.desc()).limit(1)).scalar() or 0)
    row = s.execute(select(Event, Member.name, Device.label)
                    .outerjoin(Member, Member.id == Event.member_id)
                    .outerjoin(Device, Device.id == Event.device_id)
                    .where(Event.kind.in_(NEWS_KINDS)).order_by(Event.id.desc()).limit(1)).first()
    if row is None:
        return News(last, 0, "")
    e, member, device = row
    return News(last, e.id, describe(e.kind, e.action, e.platform, e.domain, device, member,
                                       e.detail, e.channels))


class LiveTicker:
    """Subscribers get a queue holding at most the latest :class:`News`; one task per web
    process reads the database while anyone is subscribed."""

    def __init__(self, db: Database, feed: LiveFeed,
                 reader: Callable[[Session], News] = read_news) -> None:
        self.db, self.feed, self.reader = db, feed, reader
        self.latest: News | None = None
        self.reads = 0  # database reads (tests: one per wake-up, not per browser)
        self._subs: set[asyncio.Queue[News]] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[News]:
        q: asyncio.Queue[News] = asyncio.Queue(maxsize=1)
        if self.latest is not None:  # where things stand: the page catches up at once
            q.put_nowait(self.latest)
        self._subs.add(q)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return q

    def unsubscribe(self, q: asyncio.Queue[News]) -> None:
        self._subs.discard(q)

    def _read(self) -> News:
        with self.db.session() as s:
            return self.reader(s)

    async def _run(self) -> None:
        while self._subs:
            seen = self.feed.generation  # before the read: a wake-up during it is not lost
            try:
                news = await run_in_threadpool(self._read)
            except SQLAlchemyError:  # the database is away: pages keep their 10 s refresh
                log.warning("live page news: database read failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.reads += 1
            if self.latest is None or news.last_id != self.latest.last_id:
                self.latest = news
                for q in list(self._subs):
                    if q.full():  # only the latest matters
                        q.get_nowait()
                    q.put_nowait(news)
            await self.feed.wait(seen, self.feed.poll_seconds)
