"""Site mode (everyone sees it; IT changes it) and the effective settings (IT, read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.auth.deps import require
from api.auth.roles import CONFIGURE, LIVE_VIEW
from api.session import DbSession
from api.site import schemas, service
from api.users.service import Principal

router = APIRouter(prefix="/api/v1", tags=["site"])


@router.get("/site/mode")
def get_mode(request: Request, s: DbSession,
             _: Annotated[Principal, Depends(require(LIVE_VIEW))]) -> schemas.ModeOut:
    return schemas.ModeOut.model_validate(
        service.mode_view(s, settings=request.app.state.settings))


@router.put("/site/mode")
def set_mode(request: Request, s: DbSession, body: schemas.ModeIn,
             who: Annotated[Principal, Depends(require(CONFIGURE))]) -> schemas.ModeOut:
    """``enforce`` or ``monitor-only`` (decide and record everything, refuse nothing)."""
    view = service.set_mode(s, mode=body.mode, settings=request.app.state.settings,
                            actor=who.username)
    return schemas.ModeOut.model_validate(view)


@router.get("/settings")
def get_settings(request: Request,
                 _: Annotated[Principal, Depends(require(CONFIGURE))]) -> schemas.SettingsOut:
    return schemas.SettingsOut.model_validate(service.settings_view(request.app.state.settings))
