"""Social platforms: the shipped catalogue merged with IT's additions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from allowlist.catalogue import Platform
from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.platforms import schemas, service
from api.session import DbSession
from api.users.service import Principal

router = APIRouter(prefix="/api/v1/platforms", tags=["platforms"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]
PlatformKey = Annotated[str, Path(max_length=32)]


def _out(p: Platform) -> schemas.PlatformOut:
    return schemas.PlatformOut(key=p.key, name=p.name, suffixes=list(p.suffixes),
                               source=p.source, checked=p.checked, notes=p.notes,
                               added_by_it=sorted(p.added_by_it))


@router.get("")
def list_platforms(s: DbSession, _: Admin) -> list[schemas.PlatformOut]:
    return [_out(p) for p in service.list_platforms(s)]


@router.post("", status_code=201)
def add_platform_domains(s: DbSession, body: schemas.PlatformAdd,
                         who: Admin) -> schemas.PlatformOut:
    p = service.add_domains(s, key=body.key, name=body.name, suffixes=body.suffixes,
                            actor=who.username)
    return _out(p)


@router.get("/{key}")
def get_platform(s: DbSession, key: PlatformKey, _: Admin) -> schemas.PlatformOut:
    return _out(service.get_platform(s, key=key))


@router.delete("/{key}/domains/{domain}", status_code=204)
def remove_platform_domain(s: DbSession, key: PlatformKey,
                           domain: Annotated[str, Path(max_length=300)], who: Admin) -> Response:
    service.remove_domain(s, key=key, domain=domain, actor=who.username)
    return Response(status_code=204)
