"""Bodies for registration codes. The plain code appears in exactly one response: the POST."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.registration.service import DEFAULT_HOURS, MAX_HOURS, CodeState


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hours: int = Field(DEFAULT_HOURS, ge=1, le=MAX_HOURS,
                       description="how long the code can be used")


class CodeIssued(BaseModel):
    id: int
    member_id: int
    member: str
    code: str = Field(description="shown once; give it to the member, it is not stored")
    expires_at: datetime
    register_url: str = Field("", description="where the member registers (chamber Wi-Fi)")
    notice_url: str = Field("", description="the notice for members: what is recorded, how "
                                            "long, who sees it — give it with the code")


class CodeOut(BaseModel):
    """A code's history, never the code: the database only holds its hash."""

    id: int
    member_id: int
    created_at: datetime
    created_by: str
    expires_at: datetime
    used_at: datetime | None
    device_id: int | None
    state: CodeState
