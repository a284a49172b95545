"""The example configs: every setting documented, every file loads (DESIGN §7, §10)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.settings import Settings, load_settings
from tests.deploy.conftest import DEPLOY

EXAMPLE = DEPLOY / "chamberguard.toml"
TOPOLOGIES = {"inline.toml": "inline", "resolver-only.toml": "resolver-only",
              "mirror.toml": "mirror"}


def every_setting() -> Iterator[tuple[str, str]]:
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), section
        for key in model.model_fields:
            yield section, key


def test_example_names_every_setting_and_loads() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    missing = [f"[{s}] {k}" for s, k in every_setting() if k not in data.get(s, {})]
    assert not missing, f"deploy/chamberguard.toml lacks: {', '.join(missing)}"
    extra = [f"[{s}]" for s in data if s not in Settings.model_fields]
    assert not extra, extra
    settings = load_settings(EXAMPLE, env={})  # unknown keys or bad values would raise
    assert settings.site.topology == "inline"
    assert settings.site.data_dir == Path("/var/lib/chamberguard")
    assert settings.web.secure_cookies, "the example sits behind the TLS proxy"


def test_every_key_in_the_example_is_explained() -> None:
    """A comment line right above the key (or on its line) says what it does."""
    lines = EXAMPLE.read_text().splitlines()
    bare = []
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[] ")
            continue
        m = re.match(r"^([a-z0-9_]+)\s*=(.*)$", line)
        if not m:
            continue
        above = lines[i - 1].strip() if i else ""
        if not (above.startswith("#") or "#" in m.group(2)):
            bare.append(f"[{section}] {m.group(1)}")
    assert not bare, f"undocumented keys: {', '.join(bare)}"


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_topology_examples_load(name: str) -> None:
    path = DEPLOY / "config" / name
    settings = load_settings(path, env={})
    assert settings.site.topology == TOPOLOGIES[name]
    if name == "mirror.toml":
        assert settings.site.mode.value == "monitor-only"
        assert settings.capture.enabled and settings.capture.interface
    if name == "resolver-only.toml":
        assert not settings.nftables.enabled
    if name == "inline.toml":
        assert settings.nftables.enabled and settings.chamber.interface


def test_runbook_and_readme_point_at_each_topology() -> None:
    runbook = (DEPLOY / "RUNBOOK.md").read_text()
    readme = (DEPLOY / "README.md").read_text()
    for name in TOPOLOGIES:
        assert f"config/{name}" in runbook, name
        assert f"config/{name}" in readme, name
    for heading in ("meeting about to start", "gate down", "member cannot reach papers",
                    "wrongly recorded"):
        assert heading in runbook.lower(), heading
