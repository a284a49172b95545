"""IT's gate counters as a labelled table (issue 21 item 8), at laptop, landscape-iPad and
phone sizes: readable names with the numbers beside them, the page never scrolls sideways
(the table scrolls inside its own box if it must), and the axe checks pass."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Browser, Server, login
from tests.browser.test_dashboard import axe_check, expect
from tests.browser.test_live_screen import SIZES, no_sideways_scroll
from tests.dashboard.seed import heartbeat

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_it_reads_the_gate_counters_as_a_table(server: Server, browser: Browser, width: int,
                                               height: int) -> None:
    ex = expect()
    heartbeat(server.seeded.db)  # 120 lookups, 7 refused
    page = browser.session(width=width, height=height)
    login(page, server, "it", "/admin")
    table = page.get_by_role("table", name="Counters since the gate started")
    table.scroll_into_view_if_needed()
    ex(table).to_be_visible()
    row = table.get_by_role("row").filter(has_text="Lookups received")
    ex(row).to_contain_text("120")
    # every counter the gate keeps is a row (zeros too): pick the one named "refused"
    ex(table.get_by_role("row", name="Refused refused", exact=False)).to_contain_text("7")
    ex(page.locator("body")).not_to_contain_text("queries=120")
    no_sideways_scroll(page)
    axe_check(page, f"IT overview with counters, {width}×{height}")
