"""Reading the bundled TOML data files (catalogue, presets, bypass list) — one way for all three.

Each file carries ``schema = 1`` so a future format change is refused with a clear message rather
than half-read; each caller names its own error class so the message says which file is at fault.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping


def load_schema_1(
    data: str | Mapping[str, object], *, origin: str, error: type[Exception]
) -> Mapping[str, object]:
    """TOML text (or its parsed form) → its top-level table; raise ``error`` naming ``origin``."""
    if isinstance(data, str):
        try:
            data = tomllib.loads(data)
        except tomllib.TOMLDecodeError as exc:
            raise error(f"{origin}: not valid TOML: {exc}") from None
    if data.get("schema") != 1:
        raise error(f"{origin}: expected 'schema = 1'")
    return data
