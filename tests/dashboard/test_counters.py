"""IT's counters as a labelled table in plain English (issue 21 item 8), read through the
one adapter (dashboard.counters.named_counters) from the typed counters or the older
``k=v`` detail."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from dashboard.counters import counter_rows, named_counters, parse_detail
from tests.dashboard.conftest import Site
from tests.dashboard.seed import heartbeat


def test_it_sees_the_gate_counters_as_a_labelled_table(site: Site) -> None:
    heartbeat(site.seeded.db)  # the gate reported 120 lookups, 7 refused
    c = site.login("it")
    html = c.get("/admin").text
    assert "queries=120" not in html  # the raw string is gone
    table = html[html.index('<table class="counters"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<th scope="row">([^<]+)<code class="muted">(\w+)</code></th>\s*'
                      r'<td class="num">([\d,]+)', table)
    seen = [(label.strip(), name, n) for label, name, n in rows]
    assert ("Lookups received", "queries", "120") in seen
    assert ("Refused", "refused", "7") in seen
    assert all(label != name for label, name, _ in seen)  # every one named in plain words


@dataclass
class _Typed:
    """A stand-in for the typed heartbeat counters: only ``named()`` is read."""

    values: dict[str, int]

    def named(self) -> dict[str, int]:
        return self.values


@dataclass
class _View:
    counters: _Typed | None = None
    detail: str = ""


def test_typed_counters_win_over_the_old_string_and_errors_ask_for_attention() -> None:
    view = _View(_Typed({"queries": 5, "error.udp listener": 2, "upstream_errors": 0,
                         "new_thing": 3}), detail="queries=999")
    rows = counter_rows(named_counters(view))
    assert [(r.label, r.value, r.attention) for r in rows] == [
        ("Lookups received", 5, False),
        ("Errors from the council's DNS server", 0, False),
        ("Failures in udp listener", 2, True),
        ("New thing", 3, False)]


def test_old_detail_string_reads_without_the_sensor_state() -> None:
    assert named_counters(_View(detail="queries=120,refused=7,sensor=running")) == {
        "queries": 120, "refused": 7}
    assert named_counters(_View(detail="stopped")) == {}


@given(st.text(max_size=300))
def test_any_detail_string_reads_to_counters_or_nothing(detail: str) -> None:
    out = parse_detail(detail)
    assert all(isinstance(v, int) for v in out.values())
    assert len(counter_rows(out)) == len(out)
