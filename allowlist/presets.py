"""Presets: named groups of allow rules that IT switches on instead of typing host names.

The groups live in ``allowlist/data/presets.toml`` with a plain-words description for IT and
the sources of every host name, so IT can read what it is switching on. Some presets need
the council's own host names (the democracy and webcast sites); those are placeholders in
the data, filled from settings, and a missing setting is a clear error rather than a preset
that silently allows nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from allowlist.categories import ALLOWED_CATEGORIES, Category, Origin
from allowlist.datafile import load_schema_1
from allowlist.names import DomainError, normalise_domain
from allowlist.rules import Rule

DATA_FILE = "presets.toml"

# Host settings a preset may use as ``{placeholder}``, with the hint shown when one is missing.
HOST_SETTINGS: dict[str, str] = {
    "democracy_host": "the democracy (modern.gov) site's host name, e.g. democracy.example.gov.uk",
    "webcast_host": "the webcast site's host name, e.g. example.public-i.tv",
}
_PLACEHOLDER = re.compile(r"^\{([a-z_]+)\}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_PRESET_FIELDS = frozenset(
    {"key", "title", "description", "category", "requires", "sources", "rule"}
)
_RULE_FIELDS = frozenset({"domain", "exact", "note"})


class PresetError(ValueError):
    """A preset cannot be used as asked (unknown key, missing host, bad data); says why."""


@dataclass(frozen=True, slots=True)
class PresetRule:
    """``domain`` is normalised, or a ``{setting}`` placeholder filled in at use."""

    domain: str
    exact: bool = False
    note: str = ""

    @property
    def placeholder(self) -> str | None:
        m = _PLACEHOLDER.match(self.domain)
        return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    title: str
    description: str
    category: Category
    rules: tuple[PresetRule, ...]
    requires: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def resolve(
        self, hosts: Mapping[str, str | None], extra_hosts: Iterable[str] = ()
    ) -> list[Rule]:
        """This preset's rules with placeholders filled from ``hosts``, plus IT's extra hosts."""
        missing = [s for s in self.requires if not (hosts.get(s) or "").strip()]
        if missing:
            needs = "; ".join(f"{s} ({HOST_SETTINGS[s]})" for s in missing)
            raise PresetError(f"preset {self.key!r} ({self.title}) needs {needs}")
        filled: dict[str, str] = {}
        for setting in self.requires:
            value = hosts[setting] or ""
            try:
                filled[setting] = normalise_domain(value)
            except DomainError as exc:
                raise PresetError(f"preset {self.key!r}: setting {setting}: {exc}") from None
        out = []
        for rule in self.rules:
            ph = rule.placeholder
            domain = filled[ph] if ph is not None else rule.domain
            out.append(self._rule(domain, rule.exact, rule.note))
        for raw in extra_hosts:
            try:
                domain = normalise_domain(raw)
            except DomainError as exc:
                raise PresetError(f"preset {self.key!r}: extra host {raw!r}: {exc}") from None
            out.append(self._rule(domain, False, "added by IT"))
        return out

    def _rule(self, domain: str, exact: bool, note: str) -> Rule:
        return Rule(
            domain, self.category, exact=exact, note=note, origin=Origin.PRESET, source=self.key
        )


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PresetError(f"{what} must be a list of text")
    return tuple(value)


def _parse_rule(raw: object, where: str, requires: tuple[str, ...]) -> PresetRule:
    if not isinstance(raw, Mapping):
        raise PresetError(f"{where}: each [[preset.rule]] must be a table")
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise PresetError(f"{where}: rule has unknown field(s) {sorted(unknown)}")
    domain, exact, note = raw.get("domain"), raw.get("exact", False), raw.get("note", "")
    if not isinstance(domain, str):
        raise PresetError(f"{where}: rule 'domain' must be text")
    if not isinstance(exact, bool) or not isinstance(note, str):
        raise PresetError(f"{where}: rule {domain!r}: 'exact' must be true/false, 'note' text")
    m = _PLACEHOLDER.match(domain)
    if m:
        if m.group(1) not in HOST_SETTINGS:
            raise PresetError(f"{where}: unknown placeholder {domain!r}")
        if m.group(1) not in requires:
            raise PresetError(f"{where}: placeholder {domain!r} is not in 'requires'")
        return PresetRule(domain, exact, note)
    try:
        return PresetRule(normalise_domain(domain), exact, note)
    except DomainError as exc:
        raise PresetError(f"{where}: domain {domain!r}: {exc}") from None


def parse_presets(
    data: str | Mapping[str, object], *, origin: str = DATA_FILE
) -> dict[str, Preset]:
    """key → :class:`Preset`, in file order; raise :class:`PresetError` on any defect."""
    data = load_schema_1(data, origin=origin, error=PresetError)
    tables = data.get("preset")
    if not isinstance(tables, list) or not tables:
        raise PresetError(f"{origin}: no [[preset]] entries")
    out: dict[str, Preset] = {}
    for i, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise PresetError(f"{origin}: preset #{i} is not a table")
        key = table.get("key")
        where = f"{origin}: preset {key!r}" if isinstance(key, str) else f"{origin}: preset #{i}"
        if not isinstance(key, str) or not _KEY.match(key):
            raise PresetError(f"{where}: key must be lower-case letters, digits, '-' or '_'")
        if key in out:
            raise PresetError(f"{where}: key listed twice")
        unknown = set(table) - _PRESET_FIELDS
        if unknown:
            raise PresetError(f"{where}: unknown field(s) {sorted(unknown)}")
        title, description = table.get("title"), table.get("description")
        if not isinstance(title, str) or not title.strip():
            raise PresetError(f"{where}: 'title' must be non-empty text")
        if not isinstance(description, str) or not description.strip():
            raise PresetError(f"{where}: 'description' must be non-empty text")
        raw_category = table.get("category")
        category = None
        if isinstance(raw_category, str) and raw_category in ALLOWED_CATEGORIES:
            category = Category(raw_category)
        if category is None:
            allowed = ", ".join(sorted(c.value for c in ALLOWED_CATEGORIES))
            raise PresetError(f"{where}: 'category' must be one of {allowed}")
        requires = _strings(table.get("requires", []), f"{where}: 'requires'")
        for setting in requires:
            if setting not in HOST_SETTINGS:
                raise PresetError(f"{where}: unknown host setting {setting!r} in 'requires'")
        raw_rules = table.get("rule")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise PresetError(f"{where}: needs at least one [[preset.rule]]")
        rules = tuple(_parse_rule(r, where, requires) for r in raw_rules)
        unused = set(requires) - {r.placeholder for r in rules}
        if unused:
            raise PresetError(f"{where}: 'requires' lists {sorted(unused)} but no rule uses it")
        out[key] = Preset(
            key=key,
            title=title.strip(),
            description=description.strip(),
            category=category,
            rules=rules,
            requires=requires,
            sources=_strings(table.get("sources", []), f"{where}: 'sources'"),
        )
    return out


@lru_cache(maxsize=1)
def _shipped() -> Mapping[str, Preset]:
    text = resources.files("allowlist").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return parse_presets(text)


def load_presets() -> dict[str, Preset]:
    """The shipped presets, key → :class:`Preset` in file order (a fresh dict each call)."""
    return dict(_shipped())


def preset_rules(
    enabled: Iterable[str],
    *,
    democracy_host: str | None = None,
    webcast_host: str | None = None,
    extra_hosts: Mapping[str, Iterable[str]] | None = None,
    presets: Mapping[str, Preset] | None = None,
) -> list[Rule]:
    """Rules (origin PRESET, ``source`` = preset key) for the ``enabled`` presets.

    ``extra_hosts`` maps a preset key to more suffixes IT wants under that preset (e.g. the
    webcast player's video hosts seen during a test). Output follows the data file's order,
    not the order of ``enabled``, so a rebuilt rule set is identical for identical settings.
    """
    catalogue = load_presets() if presets is None else presets
    wanted = set(enabled)
    unknown = wanted - set(catalogue)
    if unknown:
        raise PresetError(
            f"unknown preset(s) {sorted(unknown)}; known presets: {', '.join(catalogue)}"
        )
    extra = dict(extra_hosts or {})
    stray = set(extra) - wanted
    if stray:
        raise PresetError(f"extra hosts given for preset(s) not switched on: {sorted(stray)}")
    hosts = {"democracy_host": democracy_host, "webcast_host": webcast_host}
    out: list[Rule] = []
    for key, preset in catalogue.items():
        if key in wanted:
            out.extend(preset.resolve(hosts, extra.get(key, ())))
    return out
