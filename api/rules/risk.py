"""The effect check for IT rules (allowlist.risk) with this installation's catalogue and
the Public Suffix List (tldextract's bundled snapshot, as learn mode uses; never fetched),
private suffixes included (``github.io`` covers many owners too)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from allowlist.catalogue import load_catalogue
from allowlist.categories import Category
from allowlist.risk import allow_effect
from monitor.store.models import RuleRow
from monitor.store.policy_loader import extra_platforms


@cache
def _extract() -> Any:
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                 include_psl_private_domains=True)


def is_public_suffix(name: str) -> bool:
    ext = _extract()(name)
    return not ext.domain and ext.suffix == name


def effect(s: Session, *, domain: str, exact: bool, category: Category | str) -> str | None:
    return allow_effect(domain, exact=exact, category=category,
                        catalogue=load_catalogue(extra_platforms(s)),
                        is_public_suffix=is_public_suffix)


def flagged_rules(s: Session) -> list[tuple[RuleRow, str]]:
    """IT's rules that allow a platform or a public suffix, with their effect."""
    rows = s.query(RuleRow).order_by(RuleRow.id).all()
    cat = load_catalogue(extra_platforms(s))
    out = []
    for r in rows:
        e = allow_effect(r.domain, exact=r.exact, category=r.category, catalogue=cat,
                         is_public_suffix=is_public_suffix)
        if e is not None:
            out.append((r, e))
    return out
