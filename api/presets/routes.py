"""Presets: list them with their rules; IT switches them on and off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.presets import schemas, service
from api.session import DbSession
from api.users.service import Principal

router = APIRouter(prefix="/api/v1/presets", tags=["presets"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]
PresetKey = Annotated[str, Path(max_length=32)]


@router.get("")
def list_presets(request: Request, s: DbSession, _: Admin) -> list[schemas.PresetOut]:
    rows = service.list_presets(s, settings=request.app.state.settings)
    return [schemas.PresetOut.model_validate(r) for r in rows]


@router.put("/{key}")
def set_preset(request: Request, s: DbSession, key: PresetKey, body: schemas.PresetPatch,
               who: Admin) -> schemas.PresetOut:
    view = service.set_preset(s, key=key, enabled=body.enabled,
                              settings=request.app.state.settings, actor=who.username)
    return schemas.PresetOut.model_validate(view)
