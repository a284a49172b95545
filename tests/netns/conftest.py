"""netns tests run for real or skip with the kernel's reason — never pass without running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.chamber_sim.netns import unavailable_reason
from tests.netns.harness import Chamber, have


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/netns" in str(item.fspath):
            item.add_marker(pytest.mark.netns)


@pytest.fixture(scope="session")
def netns_ok() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    for tool in ("dnsmasq", "nft"):
        if not have(tool):
            pytest.skip(f"{tool} is not installed (the test command installs it as root)")


@pytest.fixture
def chamber(netns_ok: None, tmp_path: Path) -> Iterator[Chamber]:
    c = Chamber(tmp_path)
    try:
        c.build()
        yield c
    finally:
        c.destroy()


@pytest.fixture
def monitor_only_chamber(netns_ok: None, tmp_path: Path) -> Iterator[Chamber]:
    c = Chamber(tmp_path)
    try:
        c.build(mode="monitor-only")
        yield c
    finally:
        c.destroy()
