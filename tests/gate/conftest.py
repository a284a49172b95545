"""The gate tests' world: a migrated database seeded as IT and the clerk would, read by the
real settings and policy loaders (tests/factories.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from allowlist.decision import Policy
from monitor.settings import Settings
from tests import factories

MEMBER_MAC = "02:00:5e:10:00:01"
NOW = datetime.now(UTC)


class World:
    """A migrated database holding one member's device, a meeting in progress and IT's rules;
    the settings and policy snapshot the gate would load from it."""

    def __init__(self, tmp: Path) -> None:
        self.settings: Settings = factories.settings(tmp)
        self.db = factories.migrated_db(tmp)
        factories.seed(
            self.db,
            rules=[("facebook.com", "platform", "facebook")],
            seats=[factories.Seat("Cllr A", MEMBER_MAC)],
            meetings=[("Full Council", NOW - timedelta(hours=1), NOW + timedelta(hours=1))],
        )
        self.policy: Policy = factories.policy(self.db, self.settings, NOW)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.db.dispose()
