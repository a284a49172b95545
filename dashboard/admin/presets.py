"""Switching presets on and off; switching off an essential one is asked about first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.errors import ServiceError
from api.presets.service import set_preset
from api.session import DbSession, attempt
from dashboard.admin.allowlist import allowlist_view
from dashboard.admin.common import Admin, confirm, redirect_done, settings_of
from dashboard.admin.wording import PRESET_WARNING

router = APIRouter(include_in_schema=False)


@router.post("/admin/presets/{key}", response_class=HTMLResponse)
def toggle_preset(request: Request, s: DbSession, key: Annotated[str, Path(max_length=50)],
                  who: Admin, enabled: Annotated[str, Form(max_length=5)] = "0",
                  confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    on = enabled == "1"
    if not on and key in PRESET_WARNING and confirmed != "1":
        return confirm(request, title=f"Switch off “{key}”?", message=PRESET_WARNING[key],
                       action=f"/admin/presets/{key}", fields={"enabled": "0"},
                       yes="Yes, switch it off", back="/admin/allowlist#presets")
    try:
        with attempt(s):
            set_preset(s, key=key, enabled=on, settings=settings_of(request),
                       actor=who.username)
    except ServiceError as exc:
        return allowlist_view(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/allowlist", "preset-on" if on else "preset-off")
