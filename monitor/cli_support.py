"""What every command module shares, at the lowest layer that has commands: the user-facing
error and settings + database for a command.

Here, not in api, so that the gate's commands (monitor/cli.py) need nothing above monitor;
api/cli_support.py re-exports both for the web side's commands.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from monitor.settings import ConfigError, Settings, load_settings
from monitor.store.db import Database


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def ctx(args: argparse.Namespace) -> tuple[Settings, Database]:
    """Settings and the database, its schema brought to head first (zero set-up: a new
    install's first command creates the SQLite file; alembic is a no-op when current), and
    the configured privacy level made the one in force (audited when it changes)."""
    from monitor.evidence.levels import sync_level
    from monitor.store.migrate import upgrade

    settings = load_settings(args.config)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    sync_level(db, settings, actor=f"config file {args.config or '(defaults)'}"[:100])
    return settings, db


def use_uvloop() -> None:
    """uvloop's event loop for the long-running processes (the gate's hot path)."""
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass


def build_program(registers: Sequence[Callable[[Any], None]], *,
                  description: str) -> argparse.ArgumentParser:
    """A ``chamberguard`` parser with the common options and the given commands: the whole
    program (dashboard/main/cli.py) or the gate's own (monitor/cli.py, which the gate's guard
    runs for its worker and sensor processes)."""
    p = argparse.ArgumentParser(
        prog="chamberguard", description=description,
        epilog="Times are shown in UK time. The configuration file is TOML; see "
        "deploy/chamberguard.toml for every setting.")
    p.add_argument("--config", default=os.environ.get("CHAMBERGUARD_CONFIG"),
                   help="TOML config file (default: $CHAMBERGUARD_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for register in registers:
        register(sub)
    return p


def run_program(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                user_errors: tuple[type[Exception], ...] = ()) -> int:
    """Parse, set up logging, run the command; a user's error is one line and exit 2."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"chamberguard: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not isinstance(exc, (CliError, *user_errors)):
            raise
        print(f"chamberguard: {exc}", file=sys.stderr)
        return 2
