"""The audit trail as shown to the monitoring officer (read-only: there is no write API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from allowlist.clock import to_london


def _uk(t: datetime) -> datetime:
    """Stored in UTC; shown in UK time (ISO 8601 with the +00:00/+01:00 offset), the time
    the officer reading the log lives in. A naive value is UTC (SQLite drops the zone)."""
    return to_london(t if t.tzinfo is not None else t.replace(tzinfo=UTC))


# isoformat, not pydantic's default: "+00:00" in winter rather than "Z", one form all year.
UkTime = Annotated[datetime, AfterValidator(_uk),
                   PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json"),
                   WithJsonSchema({"type": "string", "format": "date-time"})]


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ts: UkTime = Field(description="when, in UK time (Europe/London) with its offset")
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
