"""The platform catalogue as shipped, plus domains IT adds locally (stored in the database).

IT's additions are validated by the catalogue's own rules (Catalogue.merged), so a domain
can never belong to two platforms and shared infrastructure can never be labelled a platform.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.catalogue import CatalogueError, Platform, PlatformEntry, load_catalogue
from api import validation
from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from monitor.store.models import PlatformDomainRow
from monitor.store.policy_loader import extra_platforms
from monitor.store.revision import bump_revision


def list_platforms(s: Session) -> list[Platform]:
    return list(load_catalogue(extra_platforms(s)))


def get_platform(s: Session, *, key: str) -> Platform:
    p = load_catalogue(extra_platforms(s)).get(key)
    if p is None:
        raise NotFound(f"no platform {key!r}")
    return p


def add_domains(s: Session, *, key: str, suffixes: list[str], name: str | None = None,
                actor: str) -> Platform:
    """Add a platform, or domains to one; 422 with the catalogue's reason if unusable."""
    if len(suffixes) > 100:
        raise Invalid("at most 100 domains at once")
    domains = [validation.domain(d) for d in suffixes]
    existing = extra_platforms(s)
    known = key in load_catalogue(existing)
    try:
        merged = load_catalogue([*existing, PlatformEntry(key, tuple(domains), name)])
    except CatalogueError as exc:
        raise Invalid(str(exc)) from None
    stored_name = None if known else (name or "").strip()
    for d in domains:
        s.add(PlatformDomainRow(platform=key, name=stored_name, domain=d))
    s.flush()
    record(s, actor=actor, action="add-domains", entity="platform", entity_id=key,
           after={"name": merged[key].name, "domains": domains, "new_platform": not known})
    bump_revision(s)
    return merged[key]


def remove_domain(s: Session, *, key: str, domain: str, actor: str) -> None:
    """Remove a domain IT added; the shipped catalogue is changed only by a release."""
    name = validation.domain(domain)
    platform = get_platform(s, key=key)
    row = s.execute(select(PlatformDomainRow).where(
        PlatformDomainRow.platform == key, PlatformDomainRow.domain == name)).scalar_one_or_none()
    if row is None:
        if name in platform.suffixes:
            raise Conflict(f"{name} is part of the shipped catalogue; to treat it differently, "
                           "add an IT rule for it")
        raise NotFound(f"{name} is not listed under platform {key!r}")
    s.delete(row)
    record(s, actor=actor, action="remove-domain", entity="platform", entity_id=key,
           before={"domain": name})
    bump_revision(s)
