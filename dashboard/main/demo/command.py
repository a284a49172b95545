"""``chamberguard demo``: start the chamber (live where the kernel allows, else replayed),
print the logins, wait, and clean up; and ``run``'s demo when no Wi-Fi is configured."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard.main.demo.live import LiveChamber, clean_leftovers, netns_list
from dashboard.main.demo.processes import (
    Interrupted,
    checkpoint,
    port_free,
    start_web,
    stop_process,
    stop_signals,
    tail,
    wait_until,
    web_up,
)
from dashboard.main.demo.replay import ReplayStats, replay_capture
from dashboard.main.demo.setup import (
    DEMO_PCAP,
    GUEST_MACS,
    MEETING_TITLE,
    MEMBERS,
    ROLES,
    DemoError,
    DemoOptions,
    Logins,
    prepare_data_dir,
    setup_database,
    write_config,
)

if TYPE_CHECKING:
    from monitor.settings import Settings
    from monitor.store.db import Database

log = logging.getLogger(__name__)


def _banner(opts: DemoOptions, logins: Logins, how: str) -> None:
    from allowlist.clock import LONDON

    out = opts.out
    end = logins.meeting_end.astimezone(LONDON).strftime("%H:%M")
    print(f"chamberguard demo: {how}", file=out)
    print(f"  dashboard:  http://127.0.0.1:{opts.port}/", file=out)
    print("  logins (passwords are shown only now):", file=out)
    for role, what in ROLES:
        print(f"    {role:<20} {logins.passwords[role]:<18} {what}", file=out)
    print(f"  meeting in session: {MEETING_TITLE!r} (id {logins.meeting_id}) until {end} "
          "London time", file=out)
    print(f"  data and logs: {opts.data_dir.resolve()}", file=out)
    print("demo running; Ctrl-C stops it and removes everything it made", file=out, flush=True)


def run_demo(opts: DemoOptions) -> int:
    from monitor.chamber_sim.netns import unavailable_reason
    from monitor.settings import load_settings
    from monitor.store.db import Database

    if not port_free(opts.port):
        raise DemoError(f"port {opts.port} on 127.0.0.1 is in use (pass --port)")
    opts.members = max(1, min(opts.members, len(MEMBERS)))
    opts.guests = max(0, min(opts.guests, len(GUEST_MACS)))
    reason = "--replay was given" if opts.replay else unavailable_reason()
    if reason is None:
        if not (shutil.which("dnsmasq") or Path("/usr/sbin/dnsmasq").exists()):
            reason = "dnsmasq is not installed (apt-get install dnsmasq-base)"
        elif not (shutil.which("nft") or Path("/usr/sbin/nft").exists()):
            reason = "nftables is not installed (apt-get install nftables)"
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()
    with stop_signals(stop):
        try:
            prepare_data_dir(opts.data_dir)
            config = write_config(opts, live=reason is None)
            settings = load_settings(config, env={})
            db = Database(settings.database_url)
            logins = setup_database(settings, db, opts.members)
            checkpoint(stop)
            if reason is None:
                return _run_live(opts, config, logins, stop)
            return _run_replay(opts, config, settings, db, logins, reason, stop)
        except Interrupted:
            print("demo interrupted while starting; cleaned up", file=opts.out, flush=True)
            return 130
        except Exception:
            if not stop.is_set():
                raise
            # Ctrl-C also reaches the helpers start-up runs (same terminal process group),
            # which then fail: that is the interruption, not an error.
            print("demo interrupted while starting; cleaned up", file=opts.out, flush=True)
            return 130


def _wait(opts: DemoOptions, stop: threading.Event,
          problem: Callable[[], str | None]) -> int:
    deadline = None if opts.duration is None else time.monotonic() + opts.duration
    while not stop.wait(0.5):
        trouble = problem()
        if trouble:
            print(f"chamberguard demo: {trouble}", file=sys.stderr, flush=True)
            return 1
        if deadline is not None and time.monotonic() >= deadline:
            break
    return 0


def _run_live(opts: DemoOptions, config: Path, logins: Logins, stop: threading.Event) -> int:
    chamber = LiveChamber(opts, config, stop)
    try:
        print(f"chamberguard demo: building the chamber (namespaces {chamber.net.prefix}-*)",
              file=opts.out, flush=True)
        chamber.build_network()
        chamber.start_services()
        chamber.start_traffic()
        _banner(opts, logins, f"a simulated chamber on real kernel networking — "
                f"{len(chamber.members)} members' devices and {len(chamber.guests)} guests, "
                "the gate enforcing in namespace " + chamber.net.gw)
        code = _wait(opts, stop, chamber.problem)
    finally:
        print("chamberguard demo: stopping; removing namespaces, tables and processes",
              file=opts.out, flush=True)
        chamber.close()
    left = [ns for ns in netns_list() if ns.startswith(chamber.net.prefix + "-")]
    if left:
        print(f"chamberguard demo: could not remove {', '.join(left)}", file=sys.stderr)
        return 1
    print("chamberguard demo: stopped, nothing left behind", file=opts.out, flush=True)
    return code


def _run_replay(opts: DemoOptions, config: Path, settings: Settings, db: Database,
                logins: Logins, reason: str, stop: threading.Event) -> int:
    from monitor.events import EventWriter

    if opts.replay:
        print("--replay: replaying a bundled capture instead of building namespaces",
              file=opts.out, flush=True)
    else:
        print(f"namespaces unavailable ({reason}): replaying a bundled capture instead",
              file=opts.out, flush=True)
    web = start_web(config, opts.data_dir / "web.log")
    writer = EventWriter(db, room=settings.site.room)
    writer.start()
    totals = ReplayStats()

    def loop() -> None:
        while not stop.is_set():
            try:
                st = replay_capture(settings, db, DEMO_PCAP, pace=opts.pace * 0.5, stop=stop,
                                    writer=writer)
            except Exception:
                log.exception("replaying the demo capture failed")
                return
            totals.attempts += st.attempts
            totals.bypasses += st.bypasses
            totals.passes += st.passes
            stop.wait(20 * opts.pace)

    worker = threading.Thread(target=loop, name="demo-replay", daemon=True)

    def problem() -> str | None:
        if web.poll() is not None:
            return f"the web app exited; its log:\n{tail(opts.data_dir / 'web.log')}"
        return None

    try:
        wait_until(lambda: web_up(opts.port), "the web app", 45, problem, stop)
        worker.start()
        _banner(opts, logins, f"replaying {DEMO_PCAP.name} through the monitor (monitor-only: "
                "nothing is enforced)")
        code = _wait(opts, stop, problem)
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(10)
        writer.flush()
        writer.stop()
        stop_process(web)
    print(f"chamberguard demo: stopped ({totals.passes} replays, {totals.attempts} attempts, "
          f"{totals.bypasses} bypasses recorded)", file=opts.out, flush=True)
    return code


# -- the commands ---------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    if args.clean:
        return clean_leftovers()
    data_dir = args.data_dir
    if data_dir is None:
        from monitor.settings import load_settings

        data_dir = load_settings(args.config).site.data_dir / "demo"
    opts = DemoOptions(data_dir=Path(data_dir), port=args.port, members=args.members,
                       guests=args.guests, replay=args.replay, prefix=args.prefix or "",
                       duration=args.duration, pace=args.pace)
    try:
        return run_demo(opts)
    except DemoError as exc:
        print(f"chamberguard demo: {exc}", file=sys.stderr)
        return 2


def demo_for_run(settings: Settings) -> int:
    """``chamberguard run`` with no chamber interface: the demo, on the configured web port,
    with its data under ``<data_dir>/demo``."""
    try:
        return run_demo(DemoOptions(data_dir=settings.site.data_dir / "demo",
                                    port=settings.web.port))
    except DemoError as exc:
        print(f"chamberguard demo: {exc}", file=sys.stderr)
        return 2


def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="a simulated chamber with live traffic (one command)",
                       description="Start a simulated chamber: namespaces, a fake internet, "
                       "the gate enforcing, members' and guests' devices making traffic, and "
                       "the dashboard on 127.0.0.1. Without namespaces (not root, or the "
                       "kernel refuses) it replays a bundled capture instead.")
    d.add_argument("--port", type=int, default=8000, help="dashboard port on 127.0.0.1")
    d.add_argument("--data-dir", help="where the demo's database and logs go "
                   "(default: <data_dir>/demo; wiped on start, only if the demo made it)")
    d.add_argument("--members", type=int, default=4, help="members' devices (1-6)")
    d.add_argument("--guests", type=int, default=2, help="guest devices (0-6)")
    d.add_argument("--replay", action="store_true",
                   help="replay the bundled capture even where namespaces are available")
    d.add_argument("--prefix", help=argparse.SUPPRESS)
    d.add_argument("--duration", type=float, help="stop after this many seconds")
    d.add_argument("--pace", type=float, default=1.0,
                   help="multiply the traffic's intervals by this (0.2: five times busier)")
    d.add_argument("--clean", action="store_true",
                   help="remove namespaces (cgdemo*) left by a demo that was killed")
    d.set_defaults(func=cmd_demo)
