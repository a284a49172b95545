"""Rules that would open a platform or a public suffix: their effect, in words.

An IT rule allowing ``instagram.com`` as "agenda" (or ``gov.uk``, a public suffix that covers
thousands of unrelated sites) means that while it is active nothing there is refused or
recorded — the report would be silent about exactly what it exists to show. Such a rule is
not forbidden (a council may webcast on a platform), but it needs a confirmation that names
its effect, and it is flagged on the dashboard and in every report made while it is active.

Pure: the catalogue and the public-suffix test are passed in.
"""

from __future__ import annotations

from collections.abc import Callable

from allowlist.catalogue import Catalogue
from allowlist.categories import ALLOWED_CATEGORIES, Category


def _covers(rule: str, exact: bool, name: str) -> bool:
    return name == rule or (not exact and name.endswith("." + rule))


def allow_effect(domain: str, *, exact: bool, category: Category | str, catalogue: Catalogue,
                 is_public_suffix: Callable[[str], bool]) -> str | None:
    """The effect of an allowing rule on platforms or a public suffix, or None if it has
    none (a rule that refuses, or an ordinary site)."""
    if Category(category) not in ALLOWED_CATEGORIES:
        return None
    hit: list[str] = []
    for p in catalogue:
        if any(_covers(domain, exact, s) or _covers(s, False, domain) for s in p.suffixes):
            hit.append(p.name)
    scope = domain if exact else f"{domain} and every name under it"
    if hit:
        names = ", ".join(sorted(hit))
        return (f"This rule allows {scope} for members' devices during meetings. That "
                f"includes the social platform {names}: while the rule is active, lookups "
                "of it are answered and nothing of it is refused or recorded.")
    if not exact and is_public_suffix(domain):
        return (f"This rule allows every site under the public suffix {domain} for "
                "members' devices during meetings (sites of many unrelated owners): while "
                "it is active, nothing under it is refused or recorded.")
    return None
