"""Presets: switch the shipped groups of allow rules on and off (the rules stay data)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.presets import Preset, PresetError, load_presets
from api.audit.service import record
from api.errors import Invalid, NotFound
from monitor.settings import Settings
from monitor.store.models import PresetRow
from monitor.store.policy_loader import enabled_presets
from monitor.store.revision import bump_revision


def _hosts(settings: Settings) -> dict[str, str | None]:
    return {"democracy_host": settings.policy.democracy_host,
            "webcast_host": settings.policy.webcast_host}


def preset_view(preset: Preset, *, enabled: bool, settings: Settings) -> dict[str, Any]:
    """A preset with its rules as they would apply here (host placeholders filled in)."""
    problem = None
    try:
        rules = [{"domain": r.domain, "exact": r.exact, "note": r.note}
                 for r in preset.resolve(_hosts(settings))]
    except PresetError as exc:
        problem = str(exc)
        rules = [{"domain": r.domain, "exact": r.exact, "note": r.note} for r in preset.rules]
    return {"key": preset.key, "title": preset.title, "description": preset.description,
            "category": preset.category.value, "enabled": enabled,
            "requires": list(preset.requires), "sources": list(preset.sources),
            "rules": rules, "problem": problem}


def list_presets(s: Session, *, settings: Settings) -> list[dict[str, Any]]:
    on = set(enabled_presets(s, settings))
    return [preset_view(p, enabled=key in on, settings=settings)
            for key, p in load_presets().items()]


def set_preset(s: Session, *, key: str, enabled: bool, settings: Settings,
               actor: str) -> dict[str, Any]:
    """Switch one preset. Until IT first does this, the config file's list applies; the first
    switch copies that list into the database so the other presets keep their state."""
    presets = load_presets()
    preset = presets.get(key)
    if preset is None:
        raise NotFound(f"no preset {key!r}; known presets: {', '.join(presets)}")
    if enabled:
        try:
            preset.resolve(_hosts(settings))
        except PresetError as exc:
            raise Invalid(str(exc)) from None
    current = set(enabled_presets(s, settings))
    rows = {r.key: r for r in s.execute(select(PresetRow)).scalars()}
    for k in presets:
        if k not in rows:
            rows[k] = PresetRow(key=k, enabled=k in current)
            s.add(rows[k])
    was = key in current
    rows[key].enabled = enabled
    s.flush()
    if was != enabled:
        record(s, actor=actor, action="enable" if enabled else "disable", entity="preset",
               entity_id=key, before={"enabled": was}, after={"enabled": enabled})
        bump_revision(s)
    return preset_view(preset, enabled=enabled, settings=settings)
