"""Input types shared by the schemas and routes: ids, times, MACs and domains.

Times: an ISO 8601 time without a zone means Europe/London wall-clock time (what a clerk
types); everything is converted to aware UTC before it reaches a service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field

from allowlist.clock import LONDON
from allowlist.macs import MacError, normalise_mac
from allowlist.names import DomainError, normalise_domain
from api.errors import Invalid

# The id columns are INTEGER: 32-bit signed on PostgreSQL (SQLite would take 64 bits). An id
# beyond that cannot exist on either database, so it is refused here — the same 422 on both —
# instead of reaching PostgreSQL, which fails on the bind (a 500 before issue 20).
MAX_ID = 2**31 - 1

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]


def as_utc(value: datetime) -> datetime:
    """Naive → Europe/London; aware → UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(UTC)


def _bounded(value: datetime) -> datetime:
    # Year 1 or 9999 in London overflows when converted to UTC; refuse before it does.
    if not 1900 <= value.year <= 2999:
        raise ValueError("time must be between the years 1900 and 2999")
    return as_utc(value)


# Pydantic parses ISO 8601; this then applies the London default and converts to UTC.
Time = Annotated[datetime, AfterValidator(_bounded)]


def parse_time(raw: str) -> datetime:
    """ISO 8601 text → aware UTC, for places that take a plain string."""
    try:
        return _bounded(datetime.fromisoformat(raw))
    except ValueError as exc:
        raise Invalid(f"{raw!r} is not an ISO 8601 time (e.g. 2026-11-26T19:30): {exc}") from None


def mac(raw: str) -> str:
    """Canonical MAC, or 422 with normalise_mac's own words."""
    try:
        return normalise_mac(raw)
    except MacError as exc:
        raise Invalid(str(exc)) from None


def domain(raw: str) -> str:
    """Canonical domain, or 422 with normalise_domain's own words."""
    try:
        return normalise_domain(raw)
    except DomainError as exc:
        raise Invalid(str(exc)) from None
