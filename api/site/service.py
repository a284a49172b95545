"""Site mode (enforce | monitor-only) and a read-only, secret-free view of the settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from allowlist.categories import Mode
from api.audit.service import record
from api.site.conditions import record_conditions
from monitor.settings import Settings
from monitor.store.models import Site
from monitor.store.policy_loader import site_mode
from monitor.store.revision import bump_revision, current_revision, ensure_site


def mode_view(s: Session, *, settings: Settings) -> dict[str, Any]:
    site = s.get(Site, 1)
    return {"mode": site_mode(s, settings),
            "source": "database" if site is not None and site.mode else "config",
            "config_default": settings.site.mode, "topology": settings.site.topology,
            "revision": current_revision(s)}


def set_mode(s: Session, *, mode: Mode | str, settings: Settings, actor: str) -> dict[str, Any]:
    """Switch enforcement on or off for the whole site; the gate picks it up by revision."""
    mode = Mode(mode)
    before = site_mode(s, settings)
    site = ensure_site(s)
    site.mode = mode.value
    s.flush()
    if before is not mode:
        record(s, actor=actor, action="set-mode", entity="site", entity_id=site.id,
               before={"mode": before.value}, after={"mode": mode.value})
        bump_revision(s)
        record_conditions(s, settings, actor=actor, reason="mode changed")
    return mode_view(s, settings=settings)


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable; hidden)"


def settings_view(settings: Settings) -> dict[str, Any]:
    """Everything IT configured, for support calls; the database password never leaves."""
    data = settings.model_dump(mode="json")
    if data["database"]["url"]:
        data["database"]["url"] = redact_url(data["database"]["url"])
    return {"settings": data, "database_url": redact_url(settings.database_url)}
