"""The gate side's commands: ``gate``, ``replay``, ``doctor`` and ``check`` (which asks the
room's running gate, through the database, for the pre-meeting check).

They need nothing above monitor. dashboard/main/cli.py composes them with the web side's
commands into the one ``chamberguard`` program; each ``register_*`` adds one command.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.cli_support import CliError, build_program, ctx, run_program, use_uvloop


# -- gate ----------------------------------------------------------------------------------
def cmd_gate(args: argparse.Namespace) -> int:
    """`gate`: the guard, which runs `gate --worker` and fails open if it dies.
    `gate --fail-open`: install the fail-open table and exit (systemd ExecStopPost)."""
    from monitor.daemon import GateDaemon, table_spec
    from monitor.guard import Guard, fail_open, record_outage, worker_command
    from monitor.nft.enforcer import Enforcer

    settings, db = ctx(args)
    if args.sensor:
        from monitor.sensor import sensor_main

        return sensor_main(settings, db)
    spec = table_spec(settings)
    if args.fail_open:
        if spec is not None:
            fail_open(settings, Enforcer(spec))
        record_outage(db, settings.site.room, "gate service stopped; the chamber failed open")
        print("fail-open table installed: nobody restricted, DNS forwarded upstream")
        return 0
    if args.worker:
        use_uvloop()
        asyncio.run(GateDaemon(settings, db, config_path=args.config).run())
        return 0
    guard = Guard(
        settings,
        db,
        worker_command(args.config),
        Enforcer(spec) if spec is not None else None,
        hang_seconds=args.hang_seconds,
    )
    return guard.run()


def register_gate(sub: Any) -> None:
    g = sub.add_parser("gate", help="the privileged gateway daemon (guard + worker)")
    g.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    g.add_argument("--sensor", action="store_true", help=argparse.SUPPRESS)
    g.add_argument(
        "--fail-open",
        action="store_true",
        help="install the fail-open table and exit (service manager's stop hook)",
    )
    g.add_argument(
        "--hang-seconds",
        type=float,
        default=8.0,
        help="kill and fail open if the worker's loop stalls this long",
    )
    g.set_defaults(func=cmd_gate)


# -- replay --------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    """A capture file through the same parsing and classification as the live sensor."""
    from monitor.capture.replay import ReplayError, replay_jsonl
    from monitor.store.policy_loader import load_policy

    settings, db = ctx(args)
    with db.session() as s:
        policy = load_policy(s, settings, datetime.now(UTC))

    def decide(domain: str) -> tuple[str | None, str | None]:
        rule, category = policy.classify(domain)
        return category.value, rule.platform if rule is not None else None

    try:
        n = replay_jsonl(args.pcap, sys.stdout, decide=decide)
    except (ReplayError, OSError) as exc:
        raise CliError(f"cannot replay {args.pcap}: {exc}") from None
    print(f"{n} observations", file=sys.stderr)
    return 0


def register_replay(sub: Any) -> None:
    rp = sub.add_parser("replay", help="run a pcap through the passive monitor")
    rp.add_argument("pcap")
    rp.add_argument("--jsonl", action="store_true", required=True,
                    help="one JSON object per observation (the only format)")
    rp.set_defaults(func=cmd_replay)


# -- doctor --------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    from monitor.doctor import run_doctor
    from monitor.settings import load_settings

    settings = load_settings(args.config)
    return run_doctor(settings, as_json=args.json, dhcp_configs=args.dhcp_config,
                      offline=args.offline)


def register_doctor(sub: Any) -> None:
    doc = sub.add_parser("doctor", help="check this host can run the gate (exit 1 if not)")
    doc.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    doc.add_argument("--dhcp-config", action="append", default=None, metavar="FILE",
                     help="a dnsmasq or Kea DHCP config to check (default: the usual paths)")
    doc.add_argument("--offline", action="store_true",
                     help="send nothing on the network (skips the upstream resolver check)")
    doc.set_defaults(func=cmd_doctor)


# -- check ---------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    """The pre-meeting check as a green/red list; exit 1 if any line is a problem. Asked of
    the room's running gate through the database, as the web page does."""
    import getpass

    from monitor.check.requests import as_text, ask_and_wait

    settings, db = ctx(args)
    view = ask_and_wait(db, settings.site.room, f"cli:{getpass.getuser()}")
    print("\n".join(as_text(view)))
    return 0 if view.ok else 1


def register_check(sub: Any) -> None:
    chk = sub.add_parser("check", help="check the chamber before a meeting (exit 1 if not ready)",
                         description="Asks the room's running gate (through the database) to "
                         "check: gate, firewall, sensor, presets, whether a member's device in a "
                         "meeting may reach the agenda and webcast, whether those sites resolve "
                         "and answer, and which members' devices are on the chamber Wi-Fi.")
    chk.set_defaults(func=cmd_check)


# -- the gate's own program ----------------------------------------------------------------
GATE_COMMANDS = (register_gate, register_replay, register_doctor, register_check)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m monitor.cli``: the gate side's commands alone. The guard starts its worker
    and the worker its sensor this way, so the gate's processes never load the web side."""
    return run_program(build_program(GATE_COMMANDS, description="The chamber gate's commands."),
                       argv)


if __name__ == "__main__":
    sys.exit(main())
