"""Bodies for meetings: manual creation and the view shown to the clerk."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.validation import Time


class MeetingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    start: Time = Field(description="ISO 8601; no zone = London time")
    end: Time
    room: str | None = Field(None, max_length=100)
    committee_title: str = Field("", max_length=300)


class ClerkActionOut(BaseModel):
    action: str
    at: str
    by: str | None


class MeetingOut(BaseModel):
    id: int
    title: str
    committee: str
    source: str
    source_id: str | None
    start: str
    end: str
    status: str
    room: str | None
    location: str | None
    in_scope: bool
    state: str = Field(description="scheduled | in-session | adjourned | ended | cancelled")
    clerk_actions: list[ClerkActionOut]
