"""Domain rules and their matcher: longest suffix on label boundaries wins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    # Derived: the rule for a name at the name itself (exact beats suffix), so the first
    # step of the walk is one probe, not two.
    _at: dict[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_at", {**self._suffix, **self._exact})

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
        label, independent of the number of rules: the name itself (:meth:`at`), then what
        covers every name under its parent (:meth:`under`).
        """
        hit = self._at.get(name)
        if hit is not None:
            return hit
        _, dot, parent = name.partition(".")
        return self.under(parent) if dot else None

    @property
    def at(self) -> Callable[[str], Rule | None]:
        """``at(name)``: the rule at ``name`` itself (an exact rule beats a suffix rule
        there), no walk. A bound ``dict.get``, so the decision memo calls it without a
        Python frame."""
        return self._at.get

    def under(self, parent: str) -> Rule | None:
        """Deepest suffix rule covering every name directly under ``parent``.

        ``match(label + "." + parent)`` is ``at(label + "." + parent)`` or this, whatever the
        label: names under one parent (CDN shards, random subdomains) share this walk, so the
        decision memo caches it by parent. ``str.partition`` yields the next suffix in one
        call (cheaper than ``find`` then a slice).
        """
        get = self._suffix.get
        name = parent
        while True:
            hit = get(name)
            if hit is not None:
                return hit
            _, dot, name = name.partition(".")
            if not dot:
                return None
