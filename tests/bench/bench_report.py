"""Benchmark: a meeting report on a database of 1 M events, beside the bare SQL its numbers
need, in the same run (DESIGN §9). Not collected by pytest.

Run: ``python tests/bench/bench_report.py [--events 1000000] [--meeting-events 20000]
[--backend sqlite|postgresql|both] [--repeat 5]``

The database holds ``--events`` attempt/bypass/outage rows over ~200 meetings of 40 members,
bulk-loaded with driver ``executemany`` in big batches (hash-chained, as the sink would
have written them, so the report's chain look-ups are real). One meeting — the one
reported — holds ``--meeting-events`` of them: a heavy evening of background sync.

Timed, best of ``--repeat`` interleaved runs:

* **fetch** (the baseline) — the bare SQL the report's numbers need: every column of the
  meeting's events that the episode rule and the tallies read (time, kind, verdict, device,
  member, MAC, name, platform, channels, detail), through the driver, rows fetched. Since
  issue 19 an episode is labelled opened or background by the *names and times* of its
  lookups, so no GROUP BY can give the report's numbers: the least SQL they need reads every
  lookup once;
* **report** — ``chamberguard report MEETING_ID --format json`` minus the process start
  (one pass over the meeting's rows, see api.reports.query):
  build the document (every event of the meeting read, grouped into episodes per the gap
  rule, members, devices, sessions, outages, mode history, chain head), render, sign
  (Ed25519) and enter it in the register;
* for reference: the count aggregate (``count/min/max`` per member, platform and kind — the
  baseline before issue 19, when the report's numbers were counts), the same report as HTML
  (Jinja2 + SVG timelines, with the appendix of every lookup), and the document alone.

Target: report ≤ 3 × fetch. PDF (tagged PDF/UA-1 through WeasyPrint) ≤ 2 s, printed
beside the HTML report of the same run, wall and CPU time (a shared machine's load shows as
wall above CPU). PostgreSQL runs in a throwaway cluster (tests/pg.py, fsync on)
when its server binaries are installed, and is skipped with the reason otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from api.reports import service  # noqa: E402
from dashboard.reports import render  # noqa: E402
from monitor.evidence import chain  # noqa: E402
from monitor.evidence.sink import COLUMNS  # noqa: E402
from monitor.settings import Settings, load_settings  # noqa: E402
from monitor.store.db import Database  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.models import ClerkActionRow, Device, Meeting, Member  # noqa: E402

BATCH = 50_000
TARGET = 3.0
PDF_TARGET = 2.0  # seconds, a 20,000-event meeting (issue 19; it was 11.3 s)
MEMBERS = 40
MEETINGS = 200
PLATFORMS = [("instagram", "i.instagram.com"), ("facebook", "graph.facebook.com"),
             ("tiktok", "www.tiktok.com"), ("x", "x.com"), ("snapchat", "app.snapchat.com"),
             ("whatsapp", "web.whatsapp.com"), ("youtube", "www.youtube.com")]
T0 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
AGGREGATE = ("SELECT member_id, platform, kind, count(*), min(ts), max(ts) FROM events "
             "WHERE meeting_id = {p} GROUP BY member_id, platform, kind")


def settings_for(data_dir: Path, url: str) -> Settings:
    cfg = data_dir / "bench.toml"
    cfg.write_text(f'[site]\ndata_dir = "{data_dir}"\nroom = "chamber"\n'
                   f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return load_settings(cfg, env={})


def seed_schedule(db: Database) -> tuple[int, list[tuple[int, int, int]], list[int]]:
    """Members, devices, meetings (with clerk actions). Returns the reported meeting's id,
    (device, member, mac index) triples and every meeting id (oldest first)."""
    with db.session() as s:
        devices = []
        for i in range(MEMBERS):
            m = Member(name=f"Cllr Member {i:02d}")
            s.add(m)
            s.flush()
            for j in range(1 + i % 2):
                d = Device(mac=f"02:00:5e:{i:02x}:{j:02x}:01", label=f"Device {j}",
                           member_id=m.id)
                s.add(d)
                s.flush()
                devices.append((d.id, m.id, len(devices)))
        ids = []
        for k in range(MEETINGS):
            start = T0 + timedelta(days=2 * k)
            mt = Meeting(title=f"Meeting {k}", committee_title="Council", start=start,
                         end=start + timedelta(hours=3), room="chamber")
            s.add(mt)
            s.flush()
            for action, minutes in (("start", 2), ("adjourn", 80), ("resume", 95),
                                    ("end", 175)):
                s.add(ClerkActionRow(meeting_id=mt.id, action=action,
                                     at=start + timedelta(minutes=minutes), by_user="clerk"))
            ids.append(mt.id)
    return ids[MEETINGS // 2], devices, ids


def generate(n: int, target: int, target_n: int, devices: list[tuple[int, int, int]],
             meetings: list[int]) -> list[tuple[object, ...]]:
    """Rows in COLUMNS order and time order. Background sync comes in bursts: a device
    looks one platform up 10-60 times within half a minute to five minutes."""
    rnd = random.Random(7)
    per = {m: (n - target_n) // (len(meetings) - 1) for m in meetings if m != target}
    per[target] = target_n
    rows: list[tuple[object, ...]] = []
    span = 170 * 60
    for k, mid in enumerate(meetings):
        start = T0 + timedelta(days=2 * k, minutes=2)
        made: list[tuple[float, tuple[int, int, int], int, bool]] = []
        while len(made) < per[mid]:
            dev = devices[rnd.randrange(len(devices))]
            plat = rnd.randrange(len(PLATFORMS))
            at, dur = rnd.random() * span, rnd.uniform(30, 300)
            bypass = rnd.random() < 0.02
            for _ in range(1 if bypass else rnd.randint(10, 60)):
                made.append((min(span, at + rnd.random() * dur), dev, plat, bypass))
        made = sorted(made[:per[mid]], key=lambda x: x[0])
        for i, (sec, (dev, mem, _), plat, bypass) in enumerate(made):
            ts = (start + timedelta(seconds=sec)).replace(tzinfo=None).isoformat(
                " ", "microseconds")
            mac = f"02:00:5e:{(mem - 1) % 256:02x}:00:01"
            if bypass:
                rows.append((f"b{k}-{i}", ts, "bypass", "refused", "chamber", mac, dev, mem,
                             mid, "dns.google", None, "bypass", "dns", None, "doh"))
                continue
            name, dom = PLATFORMS[plat]
            rows.append((f"b{k}-{i}", ts, "attempt", "refused", "chamber", mac, dev, mem, mid,
                         dom, name, "platform", "dns", f"{dom} (catalogue)", None))
        if k % 50 == 0:  # an outage now and then
            a = start + timedelta(minutes=30)
            rows.append((f"o{k}", a.replace(tzinfo=None).isoformat(" ", "microseconds"),
                         "outage", "observed", "chamber", None, None, None, None, None, None,
                         None, "dns", None,
                         f"gate was down from {a.isoformat()} to "
                         f"{(a + timedelta(minutes=3)).isoformat()}"))
    rows.sort(key=lambda r: str(r[1]))
    return rows


def bulk_load(url: str, rows: list[tuple[object, ...]]) -> float:
    """Driver executemany in batches of 50 000, the chain computed as the sink would."""
    linked, head = chain.chain_rows(chain.GENESIS, rows)
    cols = ", ".join((*COLUMNS, "prev_hash", "hash"))
    t = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        sql = f"INSERT INTO events ({cols}) VALUES ({', '.join('?' * (len(COLUMNS) + 2))})"
        for i in range(0, len(linked), BATCH):
            conn.executemany(sql, linked[i:i + BATCH])
            conn.commit()
        conn.execute("UPDATE event_chain SET head_hash = ? WHERE id = 1", (head,))
        conn.commit()
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # likewise: the load's WAL folded in
        conn.close()
    else:
        import psycopg

        marks = ["%s"] * (len(COLUMNS) + 2)
        marks[1] = "(%s::timestamp AT TIME ZONE 'UTC')"
        sql = f"INSERT INTO events ({cols}) VALUES ({', '.join(marks)})"
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            with pg.cursor() as cur:
                for i in range(0, len(linked), BATCH):
                    cur.executemany(sql, linked[i:i + BATCH])
                    pg.commit()
                cur.execute("UPDATE event_chain SET head_hash = %s WHERE id = 1", (head,))
            pg.commit()
            pg.autocommit = True
            pg.execute("VACUUM ANALYZE events")
            # the load's dirty pages written out now, not by the checkpointer while the
            # report (whose register entry commits) is being timed
            pg.execute("CHECKPOINT")
    return time.perf_counter() - t


# Every column api.reports.query.scan_runs reads (the episode rule and the tallies).
FETCH = ("SELECT id, ts, kind, action, device_id, member_id, mac, meeting_id, domain, "
         "platform, channels, detail FROM events WHERE meeting_id = {p}")


def aggregate(url: str, meeting_id: int, sql: str = AGGREGATE) -> Callable[[], int]:
    """A bare query through the driver, rows fetched (default: the aggregate)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        lite = sql.format(p="?")

        def run_sqlite() -> int:
            conn = sqlite3.connect(path)
            rows = conn.execute(lite, (meeting_id,)).fetchall()
            conn.close()
            return len(rows)

        return run_sqlite
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    pg_sql = sql.format(p="%s")

    def run_pg() -> int:
        with psycopg.connect(dsn) as pg:
            return len(pg.execute(pg_sql, (meeting_id,)).fetchall())

    return run_pg


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_backend(name: str, args: argparse.Namespace, tmp: Path) -> bool:
    cluster = None
    if name == "postgresql":
        from tests.pg import PgCluster, unavailable_reason

        reason = unavailable_reason()
        if reason:
            print(f"[postgresql] skipped: {reason}")
            return True
        cluster = PgCluster(durable=True).start()
        url = cluster.new_database()
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
    try:
        settings = settings_for(tmp, url)
        db = Database(url)
        target, devices, meetings = seed_schedule(db)
        rows = generate(args.events, target, args.meeting_events, devices, meetings)
        load = bulk_load(url, rows)
        del rows
        with db.engine.connect() as c:
            total = c.execute(text("SELECT count(*) FROM events")).scalar()
            in_meeting = c.execute(text("SELECT count(*) FROM events WHERE meeting_id = :m"),
                                   {"m": target}).scalar()
        print(f"[{name}] {total:,} events loaded in {load:.1f} s "
              f"({total / load:,.0f} rows/s, executemany x {BATCH:,}); reported meeting "
              f"holds {in_meeting:,}")
        agg = aggregate(url, target)
        fetch = aggregate(url, target, FETCH)
        agg()  # warm the cache for all alike

        def report(fmt: str) -> Callable[[], bytes]:
            def go() -> bytes:
                _, data = service.report_file(db=db, settings=settings, kind="meeting", fmt=fmt,
                                              actor="bench", meeting_id=target,
                                              render=render.body)
                return data
            return go

        def document() -> object:
            return service.build(db=db, settings=settings, kind="meeting", actor="bench",
                                 meeting_id=target)

        report("json")()
        results: dict[str, list[float]] = {"aggregate": [], "fetch": [], "json": [],
                                           "html": [], "doc": []}
        for _ in range(args.repeat):  # interleaved: a busy machine slows all alike
            results["aggregate"].append(best(agg, 1))
            results["fetch"].append(best(fetch, 1))
            results["json"].append(best(report("json"), 1))
            results["html"].append(best(report("html"), 1))
            results["doc"].append(best(document, 1))
        b = {k: min(v) for k, v in results.items()}
        ratio = b["json"] / b["fetch"]
        ok = ratio <= TARGET
        print(f"    bare SQL fetch of what the numbers need (every lookup's columns): "
              f"{b['fetch'] * 1000:7.1f} ms")
        print(f"    report --format json (build + render + sign + register):        "
              f"{b['json'] * 1000:7.1f} ms")
        print(f"    ratio report/fetch: {ratio:.2f} (target ≤ {TARGET:g}) "
              f"{'ok' if ok else 'ABOVE TARGET'}")
        print(f"    reference: count aggregate per member, platform and kind "
              f"{b['aggregate'] * 1000:.1f} ms (report/aggregate "
              f"{b['json'] / b['aggregate']:.2f}); document alone {b['doc'] * 1000:.1f} ms; "
              f"report --format html with every lookup {b['html'] * 1000:.1f} ms "
              f"({b['html'] / b['fetch']:.2f}x fetch)")
        if args.pdf:
            # WeasyPrint's import (0.5-1 s: its CSS and font modules) happens once per
            # process, like the process start the other figures leave out too.
            import weasyprint  # noqa: F401

            pdf_wall, pdf_cpu, html_wall, html_cpu = [], [], [], []
            for _ in range(args.pdf_repeat):  # interleaved with the HTML it is drawn from
                for fmt, wall, cpu in (("pdf", pdf_wall, pdf_cpu),
                                       ("html", html_wall, html_cpu)):
                    t, c = time.perf_counter(), time.process_time()
                    report(fmt)()
                    wall.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
            pw, pc = min(pdf_wall), min(pdf_cpu)
            verdict = "ok" if pw <= PDF_TARGET else (
                "ABOVE TARGET in wall time (CPU " + ("ok" if pc <= PDF_TARGET else "above") + ")")
            print(f"    report --format pdf (tagged PDF/UA-1, build + WeasyPrint + sign): "
                  f"{pw:.2f} s wall, {pc:.2f} s CPU (target ≤ {PDF_TARGET:g} s) {verdict}")
            print(f"      beside report --format html, same run: {min(html_wall):.2f} s wall, "
                  f"{min(html_cpu):.2f} s CPU; wall above CPU means a busy machine")
        if args.verify_chain:
            t = time.perf_counter()
            rep = service.verify_events(db=db, settings=settings)
            el = time.perf_counter() - t
            print(f"    for information: verify-chain over {rep.checked:,} events "
                  f"{el:.1f} s ({rep.checked / el:,.0f} events/s), ok={rep.ok}")
        db.dispose()
        return ok
    finally:
        if cluster is not None:
            cluster.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--meeting-events", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--no-pdf", dest="pdf", action="store_false")
    ap.add_argument("--pdf-repeat", type=int, default=3)
    ap.add_argument("--no-verify-chain", dest="verify_chain", action="store_false")
    args = ap.parse_args()
    print(f"bench_report: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.events:,} events")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    ok = True
    for b in backends:
        tmp = Path(tempfile.mkdtemp(prefix=f"cg-bench-report-{b}-"))
        if b == "postgresql" and os.geteuid() == 0:
            os.chmod(tmp, 0o755)
        try:
            ok = run_backend(b, args, tmp) and ok
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
