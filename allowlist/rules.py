"""Domain rules and their matcher: longest suffix on label boundaries wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from allowlist.categories import BypassKind, Category, Origin
from allowlist.names import normalise_domain

# At one name, which origin wins: IT's own word beats presets, presets beat the catalogue.
_ORIGIN_RANK = {Origin.IT: 0, Origin.BYPASS_LIST: 1, Origin.PRESET: 2, Origin.CATALOGUE: 3}


@dataclass(frozen=True, slots=True)
class Rule:
    """``domain`` matches itself and (unless ``exact``) every subdomain of it."""

    domain: str
    category: Category
    platform: str | None = None  # catalogue key, e.g. "instagram", when category is PLATFORM
    exact: bool = False
    note: str = ""
    origin: Origin = Origin.IT
    source: str = ""  # preset or catalogue name the rule came from
    bypass: BypassKind | None = None
    rule_id: int | None = None

    @classmethod
    def make(cls, domain: str, category: Category | str, **kw: object) -> Rule:
        """Validating constructor for rules coming from people or files."""
        return cls(normalise_domain(domain), Category(category), **kw)  # type: ignore[arg-type]

    def describe(self) -> str:
        scope = self.domain if self.exact else f"{self.domain} and its subdomains"
        origin = f"{self.origin.value}:{self.source}" if self.source else self.origin.value
        return f"{scope} ({origin})"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Immutable compiled rules. Built once per policy revision, shared by every lookup."""

    _suffix: dict[str, Rule] = field(default_factory=dict)
    _exact: dict[str, Rule] = field(default_factory=dict)

    @classmethod
    def compile(cls, rules: Iterable[Rule]) -> RuleSet:
        suffix: dict[str, Rule] = {}
        exact: dict[str, Rule] = {}
        for rule in rules:
            table = exact if rule.exact else suffix
            old = table.get(rule.domain)
            if old is None or _ORIGIN_RANK[rule.origin] < _ORIGIN_RANK[old.origin]:
                table[rule.domain] = rule
        return cls(suffix, exact)

    def __len__(self) -> int:
        return len(self._suffix) + len(self._exact)

    def rules(self) -> list[Rule]:
        return [*self._exact.values(), *self._suffix.values()]

    def match(self, name: str) -> Rule | None:
        """Deepest rule for an already-normalised ``name``; ``None`` when nothing matches.

        Walks the name's suffixes from longest to shortest, so the cost is one dict probe per
        label, independent of the number of rules.
        """
        hit = self._exact.get(name)
        if hit is not None:
            return hit
        get = self._suffix.get
        hit = get(name)
        if hit is not None:
            return hit
        i = name.find(".")
        while i != -1:
            hit = get(name[i + 1 :])
            if hit is not None:
                return hit
            i = name.find(".", i + 1)
        return None
