"""What every command module shares, at the lowest layer that has commands: the user-facing
error and settings + database for a command.

Here, not in api, so that the gate's commands (monitor/cli.py) need nothing above monitor;
api/cli_support.py re-exports both for the web side's commands.
"""

from __future__ import annotations

import argparse
import asyncio

from monitor.settings import Settings, load_settings
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
