"""Operations commands, registered on the ``chamberguard`` parser by :func:`register`:

    chamberguard demo [--port 8000] [--data-dir DIR] [--members 4] [--guests 2] [--replay]
    chamberguard demo --clean        remove namespaces a killed demo left behind
    chamberguard doctor [--json]     what this host is missing to run the gate

Both are thin: parse, call :mod:`api.demo` / :mod:`monitor.doctor`, print.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.settings import Settings


def cmd_demo(args: argparse.Namespace) -> int:
    from api.demo import DemoError, DemoOptions, clean_leftovers, run_demo

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
    from api.demo import DemoError, DemoOptions, run_demo

    try:
        return run_demo(DemoOptions(data_dir=settings.site.data_dir / "demo",
                                    port=settings.web.port))
    except DemoError as exc:
        print(f"chamberguard demo: {exc}", file=sys.stderr)
        return 2


def cmd_doctor(args: argparse.Namespace) -> int:
    from monitor.doctor import run_doctor
    from monitor.settings import load_settings

    settings = load_settings(args.config)
    return run_doctor(settings, as_json=args.json, dhcp_configs=args.dhcp_config,
                      offline=args.offline)


def cmd_check(args: argparse.Namespace) -> int:
    """The pre-meeting check as a green/red list; exit 1 if any line is a problem. Asked of
    the room's running gate through the database, as the web page does."""
    import getpass

    from api.cli_support import ctx
    from monitor.check.requests import as_text, ask_and_wait

    settings, db = ctx(args)
    view = ask_and_wait(db, settings.site.room, f"cli:{getpass.getuser()}")
    print("\n".join(as_text(view)))
    return 0 if view.ok else 1


def register(sub: Any) -> None:
    """Add ``demo`` and ``doctor`` to the subparsers of ``chamberguard``."""
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

    doc = sub.add_parser("doctor", help="check this host can run the gate (exit 1 if not)")
    doc.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    doc.add_argument("--dhcp-config", action="append", default=None, metavar="FILE",
                     help="a dnsmasq or Kea DHCP config to check (default: the usual paths)")
    doc.add_argument("--offline", action="store_true",
                     help="send nothing on the network (skips the upstream resolver check)")
    doc.set_defaults(func=cmd_doctor)

    chk = sub.add_parser("check", help="check the chamber before a meeting (exit 1 if not ready)",
                         description="Asks the room's running gate (through the database) to "
                         "check: gate, firewall, sensor, presets, whether a member's device in a "
                         "meeting may reach the agenda and webcast, whether those sites resolve "
                         "and answer, and which members' devices are on the chamber Wi-Fi.")
    chk.set_defaults(func=cmd_check)
