"""IT's counters as a labelled table in plain English (issue 21 item 8), read through the
one adapter (dashboard.counters.named_counters) from the typed heartbeat counters."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from dashboard.counters import counter_rows, named_counters
from dashboard.queries import GateView
from monitor.counters import GateCounters, GateStats
from monitor.heartbeat import GateState
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


def test_typed_counters_read_in_order_and_errors_ask_for_attention() -> None:
    stats = GateStats(queries=5, errors={"udp listener": 2})
    view = GateView(GateState.UP, counters=GateCounters(stats, {"new_thing": 3}))
    rows = counter_rows(named_counters(view))
    assert [(r.label, r.value, r.attention) for r in rows][:3] == [
        ("Lookups received", 5, False),
        ("Answered by the gate itself", 0, False),
        ("Passed on to the council's DNS server", 0, False)]
    by_name = {r.name: r for r in rows}
    assert by_name["upstream_errors"].value == 0 and not by_name["upstream_errors"].attention
    assert (by_name["error.udp listener"].label, by_name["error.udp listener"].attention) == (
        "Failures in udp listener", True)
    assert (by_name["new_thing"].label, by_name["new_thing"].group) == ("New thing", "Other")
    assert rows[-1].name == "new_thing"


def test_no_counters_before_the_gate_reports() -> None:
    assert named_counters(GateView(GateState.NEVER)) == {}
    assert counter_rows({}) == []


@given(st.dictionaries(st.text(min_size=1, max_size=40), st.integers(0, 2**62), max_size=40))
def test_any_counters_read_to_one_row_each(counters: dict[str, int]) -> None:
    assert len(counter_rows(counters)) == len(counters)
