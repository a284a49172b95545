"""Shared fixtures for the policy core: a realistic rule set and a policy with one meeting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allowlist.builder import build_ruleset
from allowlist.catalogue import load_catalogue
from allowlist.categories import Mode
from allowlist.clock import LONDON, MeetingClock
from allowlist.decision import Device, Member, Policy
from allowlist.rules import Rule, RuleSet

DEMOCRACY = "democracy.example.gov.uk"
WEBCAST = "example.public-i.tv"
ALL_PRESETS = ("moderngov", "public-i", "os-connectivity", "certificates")

MEMBER_MAC = "02:00:00:00:00:01"  # registered to a member
UNREGISTERED_MAC = "02:00:00:00:00:02"  # known device, no member
GUEST_MAC = "02:00:00:00:00:99"  # never seen


def london(y: int, mo: int, d: int, h: int, mi: int = 0, *, fold: int = 0) -> datetime:
    """Europe/London wall-clock time → aware UTC, the way meetings are stored."""
    return datetime(y, mo, d, h, mi, tzinfo=LONDON, fold=fold).astimezone(UTC)


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return build_ruleset(
        it_rules=[
            Rule.make("blocked.example.org", "blocked", note="IT: never in meetings"),
            Rule.make("intranet.example.gov.uk", "agenda"),
        ],
        enabled_presets=ALL_PRESETS,
        democracy_host=DEMOCRACY,
        webcast_host=WEBCAST,
        extra_preset_hosts={"public-i": ["video.example-cdn.net"]},
    )


@pytest.fixture(scope="session")
def meeting() -> MeetingClock:
    start = london(2026, 11, 26, 18)
    return MeetingClock(42, "Full Council", start, start + timedelta(hours=3))


@pytest.fixture(scope="session")
def devices() -> dict[str, Device]:
    return {
        MEMBER_MAC: Device(1, MEMBER_MAC, "Cllr Jones's phone", Member(7, "Cllr Jones")),
        UNREGISTERED_MAC: Device(2, UNREGISTERED_MAC, "unknown tablet", None),
    }


def make_policy(
    ruleset: RuleSet, meeting: MeetingClock, devices: dict[str, Device], mode: Mode = Mode.ENFORCE
) -> Policy:
    return Policy(
        ruleset, devices, (meeting,), mode, platform_names=load_catalogue().names(), revision=1
    )


@pytest.fixture()
def policy(ruleset: RuleSet, meeting: MeetingClock, devices: dict[str, Device]) -> Policy:
    return make_policy(ruleset, meeting, devices)
