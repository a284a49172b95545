"""Request and response bodies for IT's allowlist rules."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from allowlist.categories import Category


class RuleCategory(enum.StrEnum):
    """The categories IT may give a name (bypass entries come only from the bypass list)."""

    AGENDA = Category.AGENDA.value
    WEBCAST = Category.WEBCAST.value
    ESSENTIAL = Category.ESSENTIAL.value
    PLATFORM = Category.PLATFORM.value
    BLOCKED = Category.BLOCKED.value


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str = Field(min_length=1, max_length=300,
                        description="host name; covers its subdomains unless exact")
    category: RuleCategory
    platform: str | None = Field(None, max_length=32,
                                 description="platform key, required for category platform")
    exact: bool = False
    note: str = Field("", max_length=500)
    confirm_effect: str | None = Field(
        None, max_length=1000,
        description="a rule that would allow a social platform or a public suffix is refused "
                    "(409 confirmation_required, details.effect) until this repeats its effect")


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    domain: str
    category: str
    platform: str | None
    exact: bool
    note: str
    created_at: datetime
