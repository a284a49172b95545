"""The ``chamberguard`` program: one parser composed from each layer's commands.

Each layer registers the commands that belong to it — the gate's in monitor/cli.py, the
record-keeping ones in api, the serving and rendering ones in dashboard — and this module
only lists them, in the order ``--help`` shows them. Nothing here does the work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from api import cli as records
from api.errors import ServiceError
from api.wifi import cli as wifi
from dashboard import cli as web
from dashboard.main import demo, run
from dashboard.privacy import cli as privacy
from monitor import cli as gate
from monitor.cli_support import build_program, run_program

# The command table: (where the command lives).register, in help order.
COMMANDS: tuple[Callable[[Any], None], ...] = (
    run.register,               # dashboard/main/run.py: gate + web in one process
    gate.register_gate,         # monitor/cli.py
    web.register_web,           # dashboard/cli.py
    records.register_records,   # api/cli.py: db, user, member, device, meetings, learn
    gate.register_replay,
    records.register_explain,
    demo.register,              # dashboard/main/demo
    gate.register_doctor,
    gate.register_check,        # asks the running gate through the database
    web.register_reports,       # api/reports/cli.py, drawn by dashboard/reports/render.py
    privacy.register,           # dashboard/privacy/cli.py
    wifi.register,              # api/wifi/cli.py
)


def build_parser() -> argparse.ArgumentParser:
    return build_program(COMMANDS, description=(
        "Keeps members' registered devices on the chamber Wi-Fi to the agenda and webcast "
        "during meetings, and records attempts to reach social platforms. "
        "Run 'chamberguard COMMAND --help' for a command's options."))


def main(argv: Sequence[str] | None = None) -> int:
    return run_program(build_parser(), argv, (ServiceError,))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
