"""LiveFeed wake-ups: a stream never sleeps through a notification that arrived while it was
reading (generation check), and a notification wakes every waiting stream at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from api.events.live import LiveFeed
from monitor.store.db import Database


def test_wait_returns_at_once_if_the_generation_moved(tmp_path: Path) -> None:
    feed = LiveFeed(Database(f"sqlite:///{tmp_path / 'x.db'}"))
    assert not feed.listening  # SQLite: polling only
    seen = feed.generation
    feed.bump()  # a notification while the stream was reading

    async def go() -> None:
        await asyncio.wait_for(feed.wait(seen, timeout=3600), 30)

    asyncio.run(go())


def test_bump_from_another_thread_wakes_all_waiters(tmp_path: Path) -> None:
    feed = LiveFeed(Database(f"sqlite:///{tmp_path / 'x.db'}"))

    async def go() -> None:
        seen = feed.generation
        waiters = [asyncio.create_task(feed.wait(seen, timeout=3600)) for _ in range(5)]
        while len(feed._waiters) < 5:  # noqa: SLF001 - all registered
            await asyncio.sleep(0.001)
        threading.Thread(target=feed.bump).start()
        await asyncio.wait_for(asyncio.gather(*waiters), 30)

    asyncio.run(go())
    assert not feed._waiters  # noqa: SLF001 - nothing left behind
