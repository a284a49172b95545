"""The platform catalogue: which domain suffixes belong to which social platform.

Kept as data (``allowlist/data/platforms.toml``) with a source per platform, so that IT and
the monitoring officer can see *why* a name is reported as, say, Instagram, and so the list
can be corrected without touching code. Everything is validated when loaded: a broken data
file must stop the service at start-up with a message naming the platform and the domain,
not surface later as a wrong line in a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources

from allowlist.categories import Category, Origin
from allowlist.datafile import load_schema_1
from allowlist.names import DomainError, normalise_domain
from allowlist.rules import Rule

DATA_FILE = "platforms.toml"
IT_SOURCE = "added by IT"
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_PLATFORM_FIELDS = frozenset({"key", "name", "suffixes", "source", "checked", "notes"})


class CatalogueError(ValueError):
    """The catalogue data (or an IT addition to it) is unusable; the message says where."""


@dataclass(frozen=True, slots=True)
class Platform:
    """One platform: ``suffixes`` are normalised and each covers its subdomains."""

    key: str
    name: str
    suffixes: tuple[str, ...]
    source: str
    checked: str = ""  # ISO date the source was last checked
    notes: str = ""
    added_by_it: frozenset[str] = frozenset()  # the suffixes IT added locally


@dataclass(frozen=True, slots=True)
class PlatformEntry:
    """IT's own addition: a new platform (``name`` required) or more suffixes for a known one."""

    key: str
    suffixes: tuple[str, ...]
    name: str | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> PlatformEntry:
        """Accept the shape a settings form or database row naturally has."""
        unknown = set(raw) - {"key", "suffixes", "name"}
        if unknown:
            raise CatalogueError(f"extra platform entry: unknown field(s) {sorted(unknown)}")
        key, name, suffixes = raw.get("key"), raw.get("name"), raw.get("suffixes")
        if not isinstance(key, str):
            raise CatalogueError("extra platform entry: 'key' must be text")
        if name is not None and not isinstance(name, str):
            raise CatalogueError(f"extra platform {key!r}: 'name' must be text")
        if isinstance(suffixes, str) or not isinstance(suffixes, Iterable):
            raise CatalogueError(f"extra platform {key!r}: 'suffixes' must be a list of domains")
        items = tuple(suffixes)
        if not all(isinstance(s, str) for s in items):
            raise CatalogueError(f"extra platform {key!r}: every suffix must be text")
        return cls(key=key, suffixes=items, name=name)


@dataclass(frozen=True)
class Catalogue:
    """Immutable set of platforms; :meth:`rules` turns it into matcher rules."""

    platforms: tuple[Platform, ...]
    shared_infrastructure: frozenset[str] = frozenset()
    _by_key: dict[str, Platform] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {p.key: p for p in self.platforms})

    def __iter__(self) -> Iterator[Platform]:
        return iter(self.platforms)

    def __len__(self) -> int:
        return len(self.platforms)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __getitem__(self, key: str) -> Platform:
        return self._by_key[key]

    def get(self, key: str) -> Platform | None:
        return self._by_key.get(key)

    def names(self) -> dict[str, str]:
        """key → display name, the shape ``Policy.platform_names`` takes."""
        return {p.key: p.name for p in self.platforms}

    def rules(self) -> list[Rule]:
        """One PLATFORM rule per suffix; ``source`` is the platform key for ``describe()``."""
        return [
            Rule(
                suffix,
                Category.PLATFORM,
                platform=p.key,
                note=IT_SOURCE if suffix in p.added_by_it else p.name,
                origin=Origin.CATALOGUE,
                source=p.key,
            )
            for p in self.platforms
            for suffix in p.suffixes
        ]

    def merged(self, extra: Iterable[PlatformEntry | Mapping[str, object]]) -> Catalogue:
        """This catalogue plus IT's additions, validated by the same rules as the data file."""
        platforms = {p.key: p for p in self.platforms}
        owner = {s: p.key for p in self.platforms for s in p.suffixes}
        for raw in extra:
            entry = raw if isinstance(raw, PlatformEntry) else PlatformEntry.from_mapping(raw)
            where = f"extra platform {entry.key!r}"
            _check_key(entry.key, where)
            known = platforms.get(entry.key)
            if known is None and not (entry.name and entry.name.strip()):
                raise CatalogueError(f"{where}: a new platform needs a display name")
            added = _suffixes(
                entry.suffixes, where, entry.key, owner, self.shared_infrastructure
            )
            if known is None:
                platforms[entry.key] = Platform(
                    entry.key, (entry.name or "").strip(), added, IT_SOURCE,
                    added_by_it=frozenset(added),
                )
            else:
                platforms[entry.key] = Platform(
                    known.key,
                    known.name,
                    known.suffixes + added,
                    known.source,
                    known.checked,
                    known.notes,
                    known.added_by_it | frozenset(added),
                )
        return Catalogue(tuple(platforms.values()), self.shared_infrastructure)


def _check_key(key: object, where: str) -> None:
    if not isinstance(key, str) or not _KEY.match(key):
        raise CatalogueError(
            f"{where}: key {key!r} must be lower-case letters, digits, '-' or '_' (max 32)"
        )


def _suffixes(
    raw: object,
    where: str,
    key: str,
    owner: dict[str, str],
    shared: frozenset[str],
) -> tuple[str, ...]:
    """Validate and normalise suffixes, recording each in ``owner`` (suffix → platform key)."""
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise CatalogueError(f"{where}: 'suffixes' must be a list of domains")
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise CatalogueError(f"{where}: domain {item!r} is not text")
        try:
            name = normalise_domain(item)
        except DomainError as exc:
            raise CatalogueError(f"{where}: domain {item!r}: {exc}") from None
        if "." not in name:
            raise CatalogueError(
                f"{where}: domain {item!r} is a bare top-level name and would match everything"
            )
        if name in shared:
            raise CatalogueError(
                f"{where}: domain {item!r} is shared infrastructure serving unrelated sites; "
                "list a narrower host the platform owns"
            )
        other = owner.get(name)
        if other is not None:
            whose = "this platform" if other == key else f"platform {other!r}"
            raise CatalogueError(f"{where}: domain {item!r} is already listed under {whose}")
        owner[name] = key
        out.append(name)
    if not out:
        raise CatalogueError(f"{where}: needs at least one domain suffix")
    return tuple(out)


def _text(table: Mapping[str, object], name: str, where: str, *, required: bool = True) -> str:
    value = table.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogueError(f"{where}: {name!r} must be non-empty text")
    return value.strip()


def parse_catalogue(data: str | Mapping[str, object], *, origin: str = DATA_FILE) -> Catalogue:
    """Build a :class:`Catalogue` from TOML text (or its parsed form); raise on any defect."""
    data = load_schema_1(data, origin=origin, error=CatalogueError)
    shared_table = data.get("shared_infrastructure", {})
    never = shared_table.get("never", []) if isinstance(shared_table, Mapping) else None
    if not isinstance(never, list):
        raise CatalogueError(f"{origin}: [shared_infrastructure] never must be a list of domains")
    try:
        shared = frozenset(normalise_domain(str(n)) for n in never)
    except DomainError as exc:
        raise CatalogueError(f"{origin}: [shared_infrastructure]: {exc}") from None
    tables = data.get("platform")
    if not isinstance(tables, list) or not tables:
        raise CatalogueError(f"{origin}: no [[platform]] entries")
    platforms: list[Platform] = []
    owner: dict[str, str] = {}
    for i, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise CatalogueError(f"{origin}: platform #{i} is not a table")
        key = table.get("key")
        label = repr(key) if isinstance(key, str) else f"#{i}"
        where = f"{origin}: platform {label}"
        _check_key(key, where)
        assert isinstance(key, str)
        unknown = set(table) - _PLATFORM_FIELDS
        if unknown:
            raise CatalogueError(f"{where}: unknown field(s) {sorted(unknown)}")
        if key in {p.key for p in platforms}:
            raise CatalogueError(f"{where}: key listed twice")
        checked = _text(table, "checked", where)
        try:
            date.fromisoformat(checked)
        except ValueError:
            raise CatalogueError(
                f"{where}: 'checked' must be an ISO date (YYYY-MM-DD), got {checked!r}"
            ) from None
        platforms.append(
            Platform(
                key=key,
                name=_text(table, "name", where),
                suffixes=_suffixes(table.get("suffixes"), where, key, owner, shared),
                source=_text(table, "source", where),
                checked=checked,
                notes=_text(table, "notes", where, required=False),
            )
        )
    return Catalogue(tuple(platforms), shared)


@lru_cache(maxsize=1)
def _shipped() -> Catalogue:
    text = resources.files("allowlist").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return parse_catalogue(text)


def load_catalogue(
    extra: Iterable[PlatformEntry | Mapping[str, object]] = (),
) -> Catalogue:
    """The shipped catalogue, plus IT's additions when given. Parsed once per process."""
    base = _shipped()
    extra = tuple(extra)
    return base.merged(extra) if extra else base
