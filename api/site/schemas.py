"""Bodies for the site mode and the read-only settings view."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from allowlist.categories import Mode


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode


class ModeOut(BaseModel):
    mode: Mode
    source: Literal["database", "config"] = Field(
        description="database: set by IT here; config: the config file's default applies")
    config_default: Mode
    topology: str
    revision: int


class SettingsOut(BaseModel):
    """The effective settings (file + environment), with any secret redacted."""

    settings: dict[str, Any]
    database_url: str
