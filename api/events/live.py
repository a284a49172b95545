"""Wake-ups for the live feed: PostgreSQL LISTEN where there is one, polling otherwise.

The web process learns of new events only through the database (DESIGN §2). On PostgreSQL
the event writer NOTIFYs in the transaction that inserts the rows (delivered on commit), and
one listener thread per web process turns each notification into a wake-up for every open
stream. The stream still reads the rows by id from the table — a notification is only "look
now" — so a missed or coalesced notification costs latency, never an event; streams also
poll at a slow safety interval, and at the normal interval while the listener is down.

SQLite has no notifications: streams poll (cheap: an indexed ``id >`` query).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from monitor.evidence.sink import CHANNEL
from monitor.store.db import Database

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # without notifications
SAFETY_POLL_SECONDS = 2.0  # with a healthy listener: only a safety net
RECONNECT_SECONDS = 2.0


class LiveFeed:
    """A generation counter bumped on every notification; streams wait for it to move."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.generation = 0
        self.listening = False
        self.notifications = 0
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if db.engine.dialect.name == "postgresql":
            self._thread = threading.Thread(target=self._listen, name="live-feed-listen",
                                            daemon=True)
            self._thread.start()

    @property
    def poll_seconds(self) -> float:
        return SAFETY_POLL_SECONDS if self.listening else POLL_SECONDS

    async def wait(self, seen: int, timeout: float | None = None) -> None:
        """Return when the generation differs from ``seen``, or after ``timeout``."""
        if self.generation != seen:
            return
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()
        item = (loop, ev)
        with self._lock:
            self._waiters.add(item)
        try:
            if self.generation != seen:  # bumped while we registered
                return
            await asyncio.wait_for(ev.wait(), self.poll_seconds if timeout is None else timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(item)

    def bump(self) -> None:
        with self._lock:
            self.generation += 1
            waiters = list(self._waiters)
        for loop, ev in waiters:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # that loop has closed
                pass

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _connect(self) -> Any:
        engine = self.db.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        conn = engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn

    def _listen(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.execute(f"LISTEN {CHANNEL}")
                self.listening = True
                self.bump()  # rows committed while we were not listening: look once
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=1.0):
                        self.notifications += 1
                        self.bump()
            except Exception:
                if not self._stop.is_set():
                    log.warning("live feed: LISTEN failed; polling until it is back",
                                exc_info=True)
            finally:
                self.listening = False
                self.bump()  # waiters switch to the short poll interval
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
            self._stop.wait(RECONNECT_SECONDS)


def live_feed(app_state: Any, db: Database) -> LiveFeed:
    """The web process's one :class:`LiveFeed` (made on first use)."""
    feed: LiveFeed | None = getattr(app_state, "live_feed", None)
    if feed is None or feed.db is not db:
        feed = LiveFeed(db)
        app_state.live_feed = feed
    return feed
