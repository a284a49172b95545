"""IT's own allowlist rules: the council's word, ranked above presets and the catalogue."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allowlist.catalogue import load_catalogue
from allowlist.categories import Category
from api import validation
from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from api.rules.risk import effect
from monitor.store.models import RuleRow
from monitor.store.policy_loader import extra_platforms
from monitor.store.revision import bump_revision

IT_CATEGORIES = frozenset({Category.AGENDA, Category.WEBCAST, Category.ESSENTIAL,
                           Category.PLATFORM, Category.BLOCKED})


def _view(r: RuleRow) -> dict[str, object]:
    return {"domain": r.domain, "category": r.category, "platform": r.platform,
            "exact": r.exact, "note": r.note}


def _validated(s: Session, *, domain: str, category: Category | str, platform: str | None,
               note: str) -> tuple[str, Category, str | None, str]:
    name = validation.domain(domain)
    if "." not in name:
        raise Invalid(f"{name!r} is a whole top-level domain; a rule must name a site")
    try:
        cat = Category(category)
    except ValueError:
        cat = None
    if cat not in IT_CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(sorted(IT_CATEGORIES))}")
    assert cat is not None
    if cat is Category.PLATFORM:
        if not platform:
            raise Invalid("a platform rule needs the platform key, e.g. 'instagram'")
        if platform not in load_catalogue(extra_platforms(s)):
            raise Invalid(f"unknown platform {platform!r}; see /api/v1/platforms")
    elif platform:
        raise Invalid("only a platform rule names a platform")
    if len(note) > 500:
        raise Invalid("note is longer than 500 characters")
    return name, cat, (platform if cat is Category.PLATFORM else None), note.strip()


def _clash(s: Session, *, domain: str, exact: bool, rule_id: int | None = None) -> None:
    q = select(RuleRow.id).where(RuleRow.domain == domain, RuleRow.exact.is_(exact))
    other = s.execute(q).scalar_one_or_none()
    if other is not None and other != rule_id:
        kind = "an exact rule" if exact else "a rule"
        raise Conflict(f"there is already {kind} for {domain} (rule {other})")


class ConfirmationNeeded(Conflict):
    """The rule would allow a social platform or a public suffix: say so, and ask again
    with ``confirm_effect`` equal to the effect (``details["effect"]``)."""

    code = "confirmation_required"


def _confirmed(s: Session, *, name: str, exact: bool, cat: Category,
               confirm_effect: str | None) -> str | None:
    eff = effect(s, domain=name, exact=exact, category=cat)
    if eff is not None and (confirm_effect or "").strip() != eff:
        raise ConfirmationNeeded(f"{eff} Confirm by sending this effect text as "
                                 "confirm_effect.", details={"effect": eff})
    return eff


def create_rule(s: Session, *, domain: str, category: Category | str, platform: str | None = None,
                exact: bool = False, note: str = "", actor: str,
                confirm_effect: str | None = None) -> RuleRow:
    name, cat, platform, note = _validated(s, domain=domain, category=category,
                                           platform=platform, note=note)
    _clash(s, domain=name, exact=exact)
    eff = _confirmed(s, name=name, exact=exact, cat=cat, confirm_effect=confirm_effect)
    r = RuleRow(domain=name, category=cat.value, platform=platform, exact=exact, note=note)
    s.add(r)
    s.flush()
    record(s, actor=actor, action="create", entity="rule", entity_id=r.id,
           after={**_view(r), **({"effect": eff} if eff else {})})
    bump_revision(s)
    return r


def get_rule(s: Session, *, rule_id: int) -> RuleRow:
    r = s.get(RuleRow, rule_id)
    if r is None:
        raise NotFound(f"no rule {rule_id}")
    return r


def update_rule(s: Session, *, rule_id: int, domain: str, category: Category | str,
                platform: str | None = None, exact: bool = False, note: str = "",
                actor: str, confirm_effect: str | None = None) -> RuleRow:
    r = get_rule(s, rule_id=rule_id)
    name, cat, platform, note = _validated(s, domain=domain, category=category,
                                           platform=platform, note=note)
    _clash(s, domain=name, exact=exact, rule_id=r.id)
    eff = _confirmed(s, name=name, exact=exact, cat=cat, confirm_effect=confirm_effect)
    before = _view(r)
    r.domain, r.category, r.platform, r.exact, r.note = name, cat.value, platform, exact, note
    s.flush()
    record(s, actor=actor, action="update", entity="rule", entity_id=r.id, before=before,
           after={**_view(r), **({"effect": eff} if eff else {})})
    bump_revision(s)
    return r


def delete_rule(s: Session, *, rule_id: int, actor: str) -> None:
    r = get_rule(s, rule_id=rule_id)
    record(s, actor=actor, action="delete", entity="rule", entity_id=r.id, before=_view(r))
    s.delete(r)
    bump_revision(s)


def list_rules(s: Session, *, limit: int, offset: int, category: str | None = None,
               search: str | None = None) -> tuple[list[RuleRow], int]:
    q = select(RuleRow)
    if category is not None:
        q = q.where(RuleRow.category == category)
    if search:
        q = q.where(RuleRow.domain.contains(search.lower(), autoescape=True))
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = s.execute(q.order_by(RuleRow.domain, RuleRow.id).limit(limit).offset(offset)).scalars()
    return list(rows), total

