"""Issue #18: learn-mode counts noted on the DNS loop and flushed on a worker thread lose
nothing (the swap happens under a lock)."""

from __future__ import annotations

import threading
from typing import Any

from monitor.learn import LearnRecorder


class FakeSession:
    """Takes flushed rows; ``execute`` answers "no row yet" so every flush adds rows."""

    def __init__(self) -> None:
        self.lookups = 0

    def execute(self, *_: Any) -> Any:
        class R:
            def scalar_one_or_none(self) -> None:
                return None
        return R()

    def add(self, row: Any) -> None:
        self.lookups += row.lookups


def test_concurrent_note_and_flush_lose_no_count() -> None:
    rec = LearnRecorder()
    rec.active = {"02:00:5e:10:00:01": 1}
    s = FakeSession()
    n, done = 200_000, threading.Event()

    def flusher() -> None:
        while not done.is_set():
            rec.flush(s)  # type: ignore[arg-type]
        rec.flush(s)  # type: ignore[arg-type]

    t = threading.Thread(target=flusher)
    t.start()
    for i in range(n):
        rec.note("02:00:5e:10:00:01", f"name{i % 7}.example.org", 1.0e9)
    done.set()
    t.join()
    assert s.lookups == n
