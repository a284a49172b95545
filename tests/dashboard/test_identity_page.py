"""IT's Wi-Fi identity page: roster import (all or nothing), keys, slips with a QR code, and
the device list saying how each device is identified."""

from __future__ import annotations

import re

from sqlalchemy import select

from monitor.store.models import Member, WifiKey
from tests.dashboard.conftest import Site
from tests.dashboard.test_pages import post
from tests.identity.test_roster import ROSTER

PAGE = "/admin/identity"


def test_only_it_opens_it(site: Site) -> None:
    for user in ("clerk", "viewer", "officer"):
        assert site.login(user).get(PAGE).status_code == 403
    assert 'href="/admin/identity"' in site.login("it").get("/").text


def test_roster_upload_is_all_or_nothing_and_idempotent(site: Site) -> None:
    c = site.login("it")
    bad = ROSTER.replace(b"<councillorid>7378</councillorid>", b"<councillorid>x</councillorid>")
    r = post(c, f"{PAGE}/roster", page=PAGE, files={"file": ("roster.xml", bad, "text/xml")})
    assert r.status_code == 422 and "Nothing imported" in r.text
    assert "line 14: &lt;councillorid&gt; &#39;x&#39; is not a modern.gov id" in r.text
    with site.seeded.db.session() as s:
        assert s.execute(select(Member).where(Member.moderngov_id.is_not(None))).first() is None
    r = post(c, f"{PAGE}/roster", page=PAGE,
             files={"file": ("roster.xml", ROSTER, "text/xml")})
    assert r.status_code == 200 and "Councillor Jane Example" in r.text, r.text
    again = post(c, f"{PAGE}/roster", page=PAGE,
                 files={"file": ("roster.xml", ROSTER, "text/xml")})
    assert "0 new, 0 updated, 3 unchanged" in again.text
    r = post(c, f"{PAGE}/roster", page=PAGE, files={"file": ("", b"", "text/xml")})
    assert r.status_code == 422 and "no modern.gov site is configured" in r.text


def test_keys_slips_and_rotation(site: Site) -> None:
    site.client.app.state.settings.identity.wifi_ssid = "Chamber"  # type: ignore[attr-defined]
    c = site.login("it")
    r = post(c, f"{PAGE}/keys", page=PAGE)
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}?done=keys"
    with site.seeded.db.session() as s:
        key = s.execute(select(WifiKey).where(WifiKey.member_id == site.ids["ada"])
                        ).scalar_one()
        first = key.passphrase
    slip = c.get(f"{PAGE}/keys/{site.ids['ada']}/slip")
    assert slip.status_code == 200 and first in slip.text
    assert "<strong>Chamber</strong>" in slip.text
    assert "<svg" in slip.text and "QR code to join the Wi-Fi network Chamber" in slip.text
    assert not re.search(r"\sstyle=", slip.text)  # the CSP allows no inline styles
    r = post(c, f"{PAGE}/keys/{site.ids['ada']}/rotate", page=PAGE)
    assert r.status_code == 303
    with site.seeded.db.session() as s:
        rotated = s.execute(select(WifiKey).where(WifiKey.member_id == site.ids["ada"])
                            ).scalar_one().passphrase
    assert rotated != first and rotated in c.get(f"{PAGE}/keys/{site.ids['ada']}/slip").text
    listing = c.get(PAGE).text
    assert first not in listing and rotated not in listing  # only the slip shows a key
    assert not re.search(r"\sstyle=|<script(?![^>]*\bsrc=\"/static/)", listing)


def test_the_device_list_says_how_each_device_is_identified(site: Site) -> None:
    text = site.login("it").get("/admin/devices").text
    assert "<th scope=\"col\">Identified by</th>" in text
    assert "MAC address only" in text
