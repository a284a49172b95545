"""What the web side's command modules share: user-facing errors, time parsing, settings + DB.

Its own module so that per-domain command modules (api/meetings/cli.py, dashboard/cli.py)
never import api.cli. ``CliError`` and ``ctx`` live one layer down (monitor/cli_support.py),
where the gate's commands use them too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.cli_support import CliError, ctx

__all__ = ["CliError", "ctx", "parse_time"]


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
