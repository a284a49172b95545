"""`make soak`: one simulated week of a gate that is never restarted.

A real :class:`monitor.daemon.GateDaemon` (real database, event writer, spool and DNS
listeners on loopback) whose policy clock is simulated: 20 meetings imported from a modern.gov
GetMeetings answer on the Sunday before, a revised answer on the Tuesday (three meetings moved,
one cancelled), one meeting overrunning (the clerk starts it and ends it 45 min late). Every
simulated step the gate ticks once and members and guests send DNS queries over loopback.

Per meeting it prints when the gate actually refused a member (restricted from/until, taken
from the DNS answers) against the schedule ± grace (or the clerk's end), the attempts recorded
against that meeting versus the refusals the member got, and at the end the process's RSS and
open file descriptors. Exits non-zero when an edge is more than 2 s off, an event was lost,
anyone was refused outside a meeting, or RSS/fds grew by 10 % or more.

Steps are 1 s within 10 s of every scheduled edge (old and new times of moved meetings, the
cancelled meeting's too) and 60 s elsewhere: a restriction that flips anywhere else shows up
as an edge minutes off, never as a pass.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from allowlist.clock import ClerkAction
from api.meetings.service import clerk_action
from api.meetings.sources.moderngov import parse_meetings
from api.meetings.sync import import_meetings
from monitor import dnswire
from monitor.daemon import GateDaemon
from monitor.settings import Settings, load_settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Event, Meeting
from tests.ports import free_port

FIXTURES = Path(__file__).parent / "fixtures"
SIM_START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # the Sunday before; London = UTC in March
SIM_END = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)
FIRST_DAY = datetime(2026, 3, 2, tzinfo=UTC)  # the first day with meetings
REVISE_AT = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
OVERRUN_ID = "7017"  # Saturday 18:30: started on time, ended 45 min late by the clerk
OVERRUN = timedelta(minutes=45)
GRACE = timedelta(minutes=5)
TOLERANCE = timedelta(seconds=2)
COARSE, FINE, NEAR = timedelta(seconds=60), timedelta(seconds=1), timedelta(seconds=10)

FACEBOOK, AGENDA = "www.facebook.com", "democracy.example.gov.uk"
# Clients on loopback addresses (the chamber subnet of this run), with their MACs.
MEMBER_A = ("127.0.10.11", "02:00:5e:10:00:01")  # asks for Facebook every step
MEMBER_B = ("127.0.10.12", "02:00:5e:10:00:02")  # asks for the agenda every step
GUESTS = (("127.0.10.21", "02:00:5e:20:00:01"), ("127.0.10.22", "02:00:5e:20:00:02"))


class SimClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


class Upstream(asyncio.DatagramProtocol):
    """Answers every A query with 203.0.113.10 (the soak's only upstream, on loopback)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = dnswire.parse_query(data)
        self.transport.sendto(dnswire.make_address_answer(q, data, "203.0.113.10", 300), addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[bytes]] = {}
        self.qid = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        fut = self.waiting.pop(int.from_bytes(data[:2], "big"), None)
        if fut is not None and not fut.done():
            fut.set_result(data)

    async def ask(self, name: str, server: tuple[str, int]) -> int:
        """The answer's RCODE (-1: no answer within 2 s)."""
        self.qid = (self.qid + 1) & 0xFFFF
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[self.qid] = fut
        self.transport.sendto(dnswire.make_query(name, qid=self.qid), server)
        try:
            return (await asyncio.wait_for(fut, 2.0))[3] & 0xF
        except TimeoutError:
            self.waiting.pop(self.qid, None)
            return -1


@dataclass
class Expected:
    source_id: str
    title: str
    start: datetime  # final schedule
    end: datetime
    until: datetime  # end + grace, or the clerk's end
    cancelled: bool
    moved_from: datetime | None = None
    meeting_id: int = 0



def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(fd_targets())


def fd_targets() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return sorted(out)


def write_config(tmp: Path, port: int, upstream: int) -> Settings:
    path = tmp / "soak.toml"
    path.write_text(f"""
[site]
name = "Soak Council"
room = "chamber"
mode = "enforce"
topology = "resolver-only"
data_dir = "{tmp / "data"}"

[chamber]
interface = ""
subnets = ["127.0.10.0/24"]

[dns]
listen = "127.0.0.1"
port = {port}
upstream = "127.0.0.1:{upstream}"
fast_path = false
rate_limit_qps = 1000
rate_limit_burst = 1000

[policy]
democracy_host = "{AGENDA}"
webcast_host = "example.public-i.tv"
grace_minutes = {int(GRACE.total_seconds() // 60)}

[capture]
enabled = false

[nftables]
enabled = false
""")
    return load_settings(path, env={})


def import_fixture(db: Database, settings: Settings, name: str) -> None:
    meetings = parse_meetings((FIXTURES / name).read_bytes())
    with db.session() as s:
        import_meetings(s, meetings=meetings, settings=settings, actor="soak",
                        source_label=name)


def expectations(db: Database) -> list[Expected]:
    first = {m.source_id: m for m in parse_meetings(
        (FIXTURES / "getmeetings_week.xml").read_bytes())}
    out = []
    with db.session() as s:
        for row in s.execute(select(Meeting).order_by(Meeting.start)).scalars():
            sid = row.source_id or ""
            orig = first[sid].start if sid in first else None
            until = row.end + (OVERRUN if sid == OVERRUN_ID else GRACE)
            out.append(Expected(sid, f"{row.committee_title} {row.start:%a %H:%M}", row.start,
                                row.end, until, row.status == "cancelled" or not row.in_scope,
                                orig if orig is not None and orig != row.start else None,
                                row.id))
    return out


def steps(edges: list[datetime]) -> list[datetime]:
    """SIM_START → SIM_END: every 60 s, and every second within 10 s of an edge."""
    out: set[datetime] = set()
    t = SIM_START
    while t < SIM_END:
        out.add(t)
        t += COARSE
    for e in edges:
        for k in range(-int(NEAR.total_seconds()), int(NEAR.total_seconds()) + 1):
            out.add(e + k * FINE)
    return sorted(x for x in out if SIM_START <= x < SIM_END)


def fmt(t: datetime) -> str:
    return f"{t:%a %H:%M:%S}"


async def soak() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="cg-soak-"))
    port, up_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    settings = write_config(tmp, port, up_port)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    from api.devices.service import register_device
    from api.members.service import create_member

    with db.session() as s:
        for name, (_, mac) in (("Cllr Ada Lovelace", MEMBER_A), ("Cllr Grace Hopper", MEMBER_B)):
            m = create_member(s, name=name, actor="soak")
            register_device(s, mac=mac, member_id=m.id, label="phone", actor="soak")

    loop = asyncio.get_running_loop()
    up_t, _ = await loop.create_datagram_endpoint(Upstream, local_addr=("127.0.0.1", up_port))
    clock = SimClock(SIM_START)
    import_fixture(db, settings, "getmeetings_week.xml")  # imported days ahead
    gate = GateDaemon(settings, db, clock=clock)
    await gate.start()
    for ip, mac in (MEMBER_A, MEMBER_B, *GUESTS):
        gate.neighbours.learn(ip, mac)
    clients: dict[str, Client] = {}
    transports = []
    for ip, _ in (MEMBER_A, MEMBER_B, *GUESTS):
        tr, c = await loop.create_datagram_endpoint(Client, local_addr=(ip, 0))
        clients[ip] = c
        transports.append(tr)
    server = ("127.0.0.1", port)

    # Schedule edges known in advance (the first fixture, plus the revised one's).
    import_probe = [m.start for n in ("getmeetings_week.xml", "getmeetings_week_revised.xml")
                    for m in parse_meetings((FIXTURES / n).read_bytes())]
    edges = [e for st in import_probe for e in (st - GRACE, st + timedelta(hours=3) + GRACE)]
    overrun_start = next(m.start for m in parse_meetings(
        (FIXTURES / "getmeetings_week.xml").read_bytes()) if m.source_id == OVERRUN_ID)
    overrun_end = overrun_start + timedelta(hours=3) + OVERRUN
    edges += [overrun_start, overrun_end]

    samples: list[tuple[datetime, bool]] = []
    wrong: list[str] = []
    sent_refusals = 0
    revised = clerk_started = clerk_ended = False
    start_mem = start_fds = end_fds = 0
    first_fds: list[str] = []
    n = 0
    for t in steps(edges):
        clock.t = t
        if not revised and t >= REVISE_AT:
            import_fixture(db, settings, "getmeetings_week_revised.xml")
            revised = True
        mid = _meeting_id(db, OVERRUN_ID)
        if not clerk_started and t >= overrun_start:
            _clerk(db, settings, mid, ClerkAction.START, t)
            clerk_started = True
        if not clerk_ended and t >= overrun_end:
            _clerk(db, settings, mid, ClerkAction.END, t)
            clerk_ended = True
        await gate.tick()
        a = await clients[MEMBER_A[0]].ask(FACEBOOK, server)
        b = await clients[MEMBER_B[0]].ask(AGENDA, server)
        g1 = await clients[GUESTS[0][0]].ask(FACEBOOK, server)
        g2 = await clients[GUESTS[1][0]].ask(AGENDA, server)
        refused = a == dnswire.RCODE_NXDOMAIN
        sent_refusals += refused
        samples.append((t, refused))
        if a not in (0, dnswire.RCODE_NXDOMAIN):
            wrong.append(f"{t}: member A got rcode {a}")
        for who, rc in (("member B (agenda)", b), ("guest 1", g1), ("guest 2", g2)):
            if rc != 0:
                wrong.append(f"{t}: {who} got rcode {rc}")
        n += 1
        # Start: the first day with meetings (Monday): the most fds open at any of its steps,
        # RSS at its end — by then every thread has its database connection and the event
        # writer its spool segment (on the quiet Sunday before, neither is open yet). End: the
        # most fds during the last day, RSS at the end. A single sample at each end measured
        # whether a segment or a pooled connection happened to be open, not growth.
        if FIRST_DAY <= t < FIRST_DAY + timedelta(days=1):
            fds = open_fds()
            if fds > start_fds:
                start_fds, first_fds = fds, fd_targets()
        elif not start_mem and t >= FIRST_DAY + timedelta(days=1):
            gc.collect()
            start_mem = rss_kib()
        if t >= SIM_END - timedelta(days=1):
            end_fds = max(end_fds, open_fds())
    gate.writer.flush(30)
    gc.collect()
    end_mem = rss_kib()
    if os.environ.get("SOAK_DEBUG"):
        print("fds at start:", first_fds, "\nfds at end:", fd_targets())

    exp = expectations(db)
    per_meeting = _recorded(db)
    spans = _spans(samples)
    ok = not wrong
    print(f"soak: simulated {SIM_START:%a %d %b %H:%M} → {SIM_END:%a %d %b %H:%M} UTC, "
          f"{n} steps, gate never restarted ({gate.reloads} snapshot reloads), "
          f"grace {GRACE.seconds // 60} min, edges must be within {TOLERANCE.seconds} s")
    head = (f"{'meeting':42} {'scheduled from':>14} {'restricted from':>15} {'Δ':>4}  "
            f"{'scheduled until':>15} {'restricted until':>16} {'Δ':>4}  {'sent':>5} "
            f"{'recorded':>8} {'lost':>4}  note")
    print(head)
    print("-" * len(head))
    used: set[int] = set()
    for e in exp:
        note = ("cancelled or out of scope" if e.cancelled else
                f"moved from {e.moved_from:%a %H:%M}" if e.moved_from else
                "overran: clerk ended 45 min late" if e.source_id == OVERRUN_ID else "")
        if e.cancelled:
            hit = [i for i, (a, b) in enumerate(spans) if a < e.until and b > e.start - GRACE]
            sent = sum(1 for t, r in samples if r and e.start - GRACE <= t < e.until)
            rec = per_meeting.get(e.meeting_id, 0)
            good = not hit and rec == 0
            ok &= good
            print(f"{e.title:42} {'—':>14} {'never' if not hit else 'RESTRICTED':>15} {'':>4}  "
                  f"{'—':>15} {'—':>16} {'':>4}  {sent:>5} {rec:>8} {'':>4}  {note}"
                  f"{'' if good else '  ✗'}")
            continue
        want_from = e.start - GRACE
        idx = min(range(len(spans)), key=lambda i: abs(spans[i][0] - want_from), default=None)
        if idx is None:
            ok = False
            print(f"{e.title:42} never restricted  ✗")
            continue
        used.add(idx)
        got_from, got_until = spans[idx]
        d1 = (got_from - want_from).total_seconds()
        d2 = (got_until - e.until).total_seconds()
        sent = sum(1 for t, r in samples if r and got_from <= t < got_until)
        rec = per_meeting.get(e.meeting_id, 0)
        lost = sent - rec
        good = abs(d1) <= TOLERANCE.seconds and abs(d2) <= TOLERANCE.seconds and lost == 0
        ok &= good
        print(f"{e.title:42} {fmt(want_from):>14} {fmt(got_from):>15} {d1:>+4.0f}  "
              f"{fmt(e.until):>15} {fmt(got_until):>16} {d2:>+4.0f}  {sent:>5} {rec:>8} "
              f"{lost:>4}  {note}{'' if good else '  ✗'}")
    stray = [spans[i] for i in range(len(spans)) if i not in used]
    for s_from, s_until in stray:
        ok = False
        print(f"unexpected restriction {fmt(s_from)} → {fmt(s_until)}  ✗")
    total_sent = sent_refusals
    total_rec = sum(per_meeting.values())
    mem_growth = 100.0 * (end_mem - start_mem) / start_mem if start_mem else 0.0
    fd_growth = 100.0 * (end_fds - start_fds) / start_fds if start_fds else 0.0
    print("-" * len(head))
    print(f"events: sent {total_sent} refused member lookups, recorded {total_rec} attempts, "
          f"lost {total_sent - total_rec}; writer dropped {gate.writer.dropped}")
    print(f"other clients: {len(wrong)} wrong answers (agenda refused, guest refused, timeout)")
    for w in wrong[:5]:
        print("  ", w)
    print(f"gate RSS: {start_mem / 1024:.1f} MiB after the first meeting day, "
          f"{end_mem / 1024:.1f} MiB at the end ({mem_growth:+.1f} %)")
    print(f"gate open fds (most at any step): {start_fds} on the first meeting day, "
          f"{end_fds} on the last day ({fd_growth:+.1f} %)")
    ok &= total_sent == total_rec and gate.writer.dropped == 0
    ok &= mem_growth < 10.0 and fd_growth < 10.0
    print("soak:", "PASS" if ok else "FAIL")
    for tr in transports:
        tr.close()
    up_t.close()
    gate.stop()
    await gate.shutdown()
    db.dispose()
    return 0 if ok else 1


def _meeting_id(db: Database, source_id: str) -> int:
    with db.session() as s:
        return int(s.execute(select(Meeting.id).where(Meeting.source_id == source_id))
                   .scalar_one())


def _clerk(db: Database, settings: Settings, mid: int, action: ClerkAction, at: datetime) -> None:
    with db.session() as s:
        clerk_action(s, meeting_id=mid, action=action, actor="clerk", grace=GRACE, at=at)


def _recorded(db: Database) -> dict[int, int]:
    with db.session() as s:
        rows = s.execute(select(Event.meeting_id, func.count()).where(
            Event.kind == "attempt", Event.mac == MEMBER_A[1]).group_by(Event.meeting_id))
        return {int(m or 0): int(c) for m, c in rows}


def _spans(samples: list[tuple[datetime, bool]]) -> list[tuple[datetime, datetime]]:
    """Runs of refused samples: (first refused step, first free step after it)."""
    out: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for t, r in samples:
        if r and opened is None:
            opened = t
        elif not r and opened is not None:
            out.append((opened, t))
            opened = None
    if opened is not None:
        out.append((opened, samples[-1][0]))
    return out


def main() -> int:
    return asyncio.run(soak())


if __name__ == "__main__":
    sys.exit(main())
