"""Report times: ``builder.london`` (a per-hour lookup for UTC times) writes exactly what
``astimezone(Europe/London).isoformat(timespec="seconds")`` writes, on clock-change days,
in London's mean-time era (offset -00:01:15), at the ends of the calendar, for naive
(UTC) and other-zone times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allowlist.clock import LONDON
from api.reports import builder


def reference(t: datetime) -> str:
    return builder.aware(t).astimezone(LONDON).isoformat(timespec="seconds")


EDGES = [datetime(2026, 3, 29, 0, 59, 59, 999999), datetime(2026, 3, 29, 1, 0),
         datetime(2026, 3, 29, 1, 59, 59), datetime(2026, 10, 25, 0, 59, 59),
         datetime(2026, 10, 25, 1, 0), datetime(2026, 10, 25, 1, 30, 5),
         datetime(1847, 12, 1, 0, 0), datetime(1847, 12, 1, 0, 1, 14),
         datetime(1847, 12, 1, 0, 1, 15), datetime(1800, 6, 1, 12, 0, 30),
         datetime(1941, 5, 4, 1, 0), datetime(1968, 10, 27, 0, 0),  # double summer, BST
         datetime(1, 1, 1, 0, 0, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]


@pytest.mark.parametrize("t", EDGES)
def test_edges(t: datetime) -> None:
    u = t.replace(tzinfo=UTC)
    others = [u.astimezone(timezone(timedelta(hours=-5)))] if 1 < t.year < 9999 else []
    for v in (u, t, *others):
        try:
            want = reference(v)
        except OverflowError:  # beyond the calendar in London's zone: the same error
            with pytest.raises(OverflowError):
                builder.london(v)
            continue
        assert builder.london(v) == want


@settings(max_examples=3000, deadline=None)
@given(st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1)))
def test_any_time(t: datetime) -> None:
    u = t.replace(tzinfo=UTC)
    assert builder.london(u) == reference(u)
    assert builder.london(t) == reference(t)


def test_none() -> None:
    assert builder.london(None) is None
