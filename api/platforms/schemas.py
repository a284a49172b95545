"""Bodies for the platform catalogue and IT's additions to it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class PlatformOut(BaseModel):
    key: str
    name: str
    suffixes: list[str]
    source: str
    checked: str
    notes: str
    added_by_it: list[str] = Field(description="suffixes IT added here (removable)")


class PlatformAdd(BaseModel):
    """A new platform (give ``name``) or more domains for a known one."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str | None = Field(None, min_length=1, max_length=100)
    suffixes: list[Annotated[str, Field(max_length=300)]] = Field(min_length=1, max_length=100)
