"""A gate-like writer process for the crash and multi-room tests.

    python -m tests.events.writer_child URL SPOOL_DIR ROOM COUNT [--forever]

Submits COUNT attempt events (``detail`` = ``n=<i>``) through a real :class:`EventWriter` and
prints ``ack <n>`` each time the writer reports the first n as durable (written straight to
fd 1, so a line the parent has read was printed before any kill). With ``--forever`` it keeps
submitting until killed; otherwise it flushes, stops and prints ``done``.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.events import EventAction, EventKind, EventRecord, EventWriter
from monitor.store.db import Database


def main(argv: list[str]) -> int:
    url, spool, room, count = argv[0], Path(argv[1]), argv[2], int(argv[3])
    forever = "--forever" in argv
    db = Database(url)

    def acked(n: int) -> None:
        os.write(1, f"ack {n}\n".encode())

    w = EventWriter(db, room=room, spool_dir=spool, on_durable=acked, batch=100)
    w.start()
    i = 0
    while forever or i < count:
        rec = EventRecord(datetime.now(UTC), EventKind.ATTEMPT, EventAction.REFUSED, room=room,
                          mac="02:00:5e:10:00:01", device_id=1, member_id=1, meeting_id=1,
                          domain="www.instagram.com", platform="instagram", category="social",
                          rule="catalogue:instagram", detail=f"n={i}")
        if w.submit(rec):
            i += 1
        else:
            time.sleep(0.001)  # this test wants every event: wait for room (a gate would not)
        if i % 200 == 0:
            time.sleep(0.001)  # a stream, not one burst: the kill lands mid-stream
    w.flush(60)
    w.stop()
    os.write(1, f"done written={w.written} dropped={w.dropped}\n".encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
