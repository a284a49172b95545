"""The ``chamberguard`` program: one parser composed from each layer's commands.

Each layer registers the commands that belong to it — the gate's in monitor/cli.py, the
record-keeping ones in api, the serving and rendering ones in dashboard — and this module
only lists them, in the order ``--help`` shows them. Nothing here does the work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from api import cli as records
from api.errors import ServiceError
from api.wifi import cli as wifi
from chamberguard import demo, run
from dashboard import cli as web
from dashboard.privacy import cli as privacy
from monitor import cli as gate
from monitor.cli_support import CliError
from monitor.settings import ConfigError

# The command table: (where the command lives).register, in help order.
COMMANDS: tuple[Callable[[Any], None], ...] = (
    run.register,               # chamberguard/run.py: gate + web in one process
    gate.register_gate,         # monitor/cli.py
    web.register_web,           # dashboard/cli.py
    records.register_records,   # api/cli.py: db, user, member, device, meetings, learn
    gate.register_replay,
    records.register_explain,
    demo.register,              # chamberguard/demo
    gate.register_doctor,
    gate.register_check,        # asks the running gate through the database
    web.register_reports,       # api/reports/cli.py, drawn by dashboard/reports/render.py
    privacy.register,           # dashboard/privacy/cli.py
    wifi.register,              # api/wifi/cli.py
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chamberguard",
        description="Keeps members' registered devices on the chamber Wi-Fi to the agenda and "
        "webcast during meetings, and records attempts to reach social platforms. "
        "Run 'chamberguard COMMAND --help' for a command's options.",
        epilog="Times are shown in UK time. The configuration file is TOML; see "
        "deploy/chamberguard.toml for every setting.")
    p.add_argument(
        "--config",
        default=os.environ.get("CHAMBERGUARD_CONFIG"),
        help="TOML config file (default: $CHAMBERGUARD_CONFIG)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"chamberguard: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (CliError, ServiceError) as exc:
        print(f"chamberguard: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
