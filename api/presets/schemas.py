"""Response and request bodies for presets (named groups of allow rules kept as data)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PresetRuleOut(BaseModel):
    domain: str
    exact: bool
    note: str


class PresetOut(BaseModel):
    key: str
    title: str
    description: str
    category: str
    enabled: bool
    requires: list[str]
    sources: list[str]
    rules: list[PresetRuleOut]
    problem: str | None = None  # e.g. a host setting the preset needs is missing


class PresetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool
