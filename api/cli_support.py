"""What every CLI command module shares: user-facing errors, time parsing, settings + DB.

Its own module so that per-domain command modules (api/meetings/cli.py, api/ops_cli.py)
never import api.cli, which imports them.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from monitor.settings import Settings, load_settings
from monitor.store.db import Database


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without a zone is Europe/London local time (what a clerk means)."""
    from allowlist.clock import LONDON

    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-26T19:30)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=LONDON)
    return t.astimezone(UTC)


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
