"""The DPIA draft and the members' notice come from the installation itself: change the
configuration (retention, privacy level, topology, database) and the draft changes with it;
add a column to the schema and it appears. Pages: one click from the IT overview."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, String

from api.auth.roles import CONFIGURE, LIVE_VIEW, PRIVACY, REPORTS, Role
from api.privacy import facts as facts_module
from api.privacy.facts import PERSONAL, gather, storage
from dashboard.app import create_app, create_registration_app
from dashboard.main.cli import main
from dashboard.privacy import render
from monitor.evidence.levels import sync_level
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Base, Event
from tests.dashboard.conftest import Site, csrf_of  # noqa: F401
from tests.dashboard.conftest import site as dashboard_site  # noqa: F401
from tests.reports.seed import make_settings


def draft(tmp: Path, extra: str) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    settings = make_settings(tmp, extra)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        sync_level(db, settings)
        with db.session() as s:
            return render.dpia_markdown(gather(s, settings))
    finally:
        db.dispose()


def section(md: str, number: int) -> str:
    m = re.search(rf"^## {number}\. .*?(?=^## |\Z)", md, re.S | re.M)
    assert m, f"no section {number}"
    return m.group(0)


def table_rows(md: str) -> dict[str, list[str]]:
    out = {}
    for line in section(md, 2).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 7 and cells[2].startswith("`"):
            out[cells[2].strip("`")] = cells
    return out


def test_the_draft_follows_the_configuration(tmp_path: Path) -> None:
    base = draft(tmp_path / "a", "")
    changed = draft(tmp_path / "b", 'topology = "mirror"\n'  # lands in make_settings' [site]
                    '[retention]\nevents_days = 30\nreports_years = 3\n'
                    '[privacy]\nlevel = "counts"\n')
    # retention
    assert "**365 days**" in section(base, 4) and "**6 years**" in section(base, 4)
    assert "**30 days**" in section(changed, 4) and "**3 years**" in section(changed, 4)
    assert "deleted as soon as its report is signed" in section(changed, 4)
    assert "30 days" in table_rows(changed)["events"][6]
    # privacy level: the events row says which columns are not stored
    assert "**full**" in section(base, 1) and "**counts**" in section(changed, 1)
    assert table_rows(base)["events"][4] == "—"
    assert table_rows(changed)["events"][4] == "`domain`, `rule`"
    assert "`domain`" in table_rows(base)["events"][3]
    assert "`domain`" not in table_rows(changed)["events"][3]
    # topology
    assert "Inline gateway (`inline`)" in section(base, 1)
    assert "Mirror port (`mirror`)" in section(changed, 1)
    assert "Mirror topology: nothing is blocked" in section(changed, 8)
    assert "Mirror topology" not in section(base, 8)


def test_the_data_items_are_the_schema_columns(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    md = draft(tmp_path / "a", "")
    rows = table_rows(md)
    assert set(rows) == set(PERSONAL)
    for name, cells in rows.items():
        listed = set(re.findall(r"`(\w+)`", cells[3] + cells[4]))
        assert listed == {c.name for c in Base.metadata.tables[name].columns}, name
    # A column added to the model appears without anyone editing the draft.
    col = Column("imaginary_note", String(10))
    Event.__table__.append_column(col)
    try:
        md2 = draft(tmp_path / "b", "")
    finally:
        Event.__table__._columns.remove(col)
    assert "`imaginary_note`" in table_rows(md2)["events"][3]
    # ...and a table nobody described is still named.
    monkeypatch.delitem(facts_module.PERSONAL, "learned_names")
    md3 = draft(tmp_path / "c", "")
    assert "`learned_names`" in section(md3, 2).split("Other tables", 1)[1]


def test_roles_come_from_the_permission_model(tmp_path: Path) -> None:
    md = section(draft(tmp_path, ""), 5)
    for name, what in (("REPORTS", REPORTS), ("CONFIGURE", CONFIGURE), ("PRIVACY", PRIVACY),
                       ("LIVE_VIEW", LIVE_VIEW)):
        line = next(ln for ln in md.splitlines()
                    if ln.startswith("| " + facts_module.ROLE_SET_TEXT[name][:30]))
        titles = {facts_module.ROLE_TITLE[r] for r in what}
        assert set(line.rsplit("|", 2)[1].strip().split(", ")) == titles, name
    assert facts_module.ROLE_TITLE[Role.VIEWER] not in next(
        ln for ln in md.splitlines() if "signed meeting" in ln)


def test_where_the_data_lives_never_shows_credentials(tmp_path: Path) -> None:
    s = make_settings(tmp_path, '[database]\nurl = "postgresql://cg:s3cret@db.example.internal'
                                ':5433/chamber"\n')
    where = storage(s)
    assert where["engine"] == "PostgreSQL" and where["host"] == "db.example.internal"
    assert where["port"] == "5433" and where["database"] == "chamber"
    assert "s3cret" not in repr(where) and "cg" not in where.values()
    (tmp_path / "x").mkdir()
    sq = storage(make_settings(tmp_path / "x", ""))
    assert sq["engine"] == "SQLite" and sq["file"].endswith("chamberguard.db")


def test_judgement_is_marked_for_the_council(tmp_path: Path) -> None:
    md = section(draft(tmp_path, ""), 9)
    for title in ("Lawful basis", "Necessity and proportionality", "Consultation"):
        assert re.search(rf"### 9\.\d {title} — COUNCIL TO COMPLETE", md), title
    assert md.count("_[Council to complete.]_") == len(facts_module.JUDGEMENT)


def test_cli_writes_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path, '[privacy]\nlevel = "platform"\n')
    cfg = str(tmp_path / "chamberguard.toml")
    for fmt, magic in (("md", b"# Data protection impact assessment"), ("html", b"<!doctype"),
                       ("pdf", b"%PDF-")):
        out = tmp_path / f"dpia.{fmt}"
        assert main(["--config", cfg, "privacy", "dpia", "--format", fmt, "-o", str(out)]) == 0
        assert out.read_bytes().startswith(magic)
    out = tmp_path / "notice.md"
    assert main(["--config", cfg, "privacy", "notice", "-o", str(out)]) == 0
    text = out.read_text()
    assert "Privacy level in force: **platform**" in text
    assert f"kept for {settings.retention.events_days} days" in text
    assert main(["--config", cfg, "privacy", "level"]) == 0
    assert "privacy level in force: platform" in capsys.readouterr().out


def test_one_click_from_the_it_overview(dashboard_site: Site) -> None:  # noqa: F811
    it = dashboard_site.login("it")
    overview = it.get("/admin")
    assert overview.status_code == 200
    for link, marker in (('id="dpia-link"', "Data protection impact assessment"),
                         ('id="notice-link"', "How chamberguard records devices")):
        href = re.search(r'href="(/privacy/[a-z]+)" ' + link, overview.text)
        assert href and href.group(1), link
        page = it.get(href.group(1))
        assert page.status_code == 200 and marker in page.text
        assert "style-src 'sha256-" in page.headers["content-security-policy"]
    assert "Oldest event held" in overview.text and "Next purge" in overview.text
    assert "Privacy level:</strong> full" in overview.text
    officer = dashboard_site.login("officer")
    assert officer.get("/privacy/dpia?format=md").text.startswith("# Data protection")
    assert dashboard_site.login("clerk").get("/privacy/dpia").status_code == 403
    assert dashboard_site.login("viewer").get("/privacy/notice").status_code == 200


@pytest.fixture
def chamber_app(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    settings = make_settings(tmp_path, '[privacy]\nlevel = "platform"\n'
                                       '[retention]\nevents_days = 90\n')
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    sync_level(db, settings)
    yield settings, db
    db.dispose()


def test_the_notice_is_on_the_registration_listener(chamber_app: tuple[Settings, Database]
                                                    ) -> None:
    settings, db = chamber_app
    client = TestClient(create_registration_app(settings, db))
    r = client.get("/register/privacy")
    assert r.status_code == 200
    assert "How chamberguard records devices during council meetings" in r.text
    assert "kept for 90 days" in r.text and "<strong>platform</strong>" in r.text
    assert 'href="/register"' in r.text
    form = client.get("/register")  # the registration page links to it
    assert 'href="/register/privacy"' in form.text
    staff = TestClient(create_app(settings, db))
    assert staff.get("/register/privacy").status_code == 200  # public: no login
