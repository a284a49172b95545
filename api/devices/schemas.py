"""Bodies for devices, the CSV import and claiming a seen device."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.validation import IdField


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mac: str = Field(min_length=1, max_length=40,
                     description="any common notation: aa:bb:.., AA-BB-.., aabb.ccdd.eeff")
    member_id: IdField | None = Field(None, description="omit for a known, unregistered device")
    label: str = Field("", max_length=200)


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(max_length=200)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: IdField
    label: str | None = Field(None, max_length=200)


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csv: str = Field(max_length=2 * 1024 * 1024,
                     description="CSV text with a header row: mac[,member][,label]")
    dry_run: bool = Field(False, description="check every line, change nothing")


class ImportOut(BaseModel):
    rows: int
    created: int
    updated: int
    dry_run: bool


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    mac: str
    label: str
    member_id: int | None
    randomised: bool = Field(description="a per-network private address (locally administered)")
    hostname: str | None
    created_at: datetime
    last_seen: datetime | None
    last_ip: str | None
