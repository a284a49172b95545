"""IT's troubleshooting list of unlisted names refused to restricted devices: upserted per
device and name on the gate's tick, and deleted after ``refused_names_hours`` (issue 21)."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.refused_names import RefusedNames
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Device, RefusedNameRow

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def test_refused_names_are_counted_per_device_and_purged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        dev = Device(mac="02:00:5e:10:00:01", label="iPad")
        s.add(dev)
        s.flush()
        dev_id = dev.id
    rec = RefusedNames(keep=timedelta(hours=24))
    rec.note(dev_id, "papers-cdn.example.net", T0.timestamp())
    rec.note(dev_id, "papers-cdn.example.net", (T0 + timedelta(seconds=5)).timestamp())
    rec.note(dev_id, "old.example.net", (T0 - timedelta(hours=30)).timestamp())
    with db.session() as s:
        assert rec.flush(s, T0) == 2
    rec.note(dev_id, "papers-cdn.example.net", (T0 + timedelta(minutes=1)).timestamp())
    with db.session() as s:
        rec.flush(s, T0 + timedelta(minutes=1))
        rows = {r.name: r for r in s.execute(select(RefusedNameRow)).scalars()}
        assert set(rows) == {"papers-cdn.example.net"}  # older than 24 h: gone
        row = rows["papers-cdn.example.net"]
        assert row.lookups == 3 and row.first_seen == T0
        assert row.last_seen == T0 + timedelta(minutes=1)
    with db.session() as s:
        rec.flush(s, T0 + timedelta(hours=25))
        assert s.execute(select(RefusedNameRow)).first() is None
    db.dispose()



def test_notes_from_many_threads_while_the_tick_takes_batches_lose_nothing() -> None:
    """The gate loop and a worker thread note names while the tick takes the batch: every
    lookup lands in exactly one batch, with its first and last time. The switch interval is
    shortened so the threads interleave inside ``note`` and ``take`` (without the lock this
    loses lookups, or a batch holds a count without its times)."""
    rec = RefusedNames(keep=timedelta(hours=24))
    per_thread, threads = 20_000, 4
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                # a new name each time: the path that adds keys, where a swap can fall
                rec.note(seed, f"n{i}.example.net", T0.timestamp() + i)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    total = 0
    torn: list[tuple[int, str]] = []

    def collect() -> None:
        nonlocal total
        batch = rec.take()
        for key, n in list(batch.counts.items()):
            total += n
            if key not in batch.first or key not in batch.last:
                torn.append(key)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        start.wait()
        while any(w.is_alive() for w in workers):
            collect()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(old)
    collect()
    assert not errors and not torn
    assert total == per_thread * threads
