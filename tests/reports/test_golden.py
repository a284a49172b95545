"""The golden meeting in all four formats: the same per-member numbers in each, read back
the way a reader would (JSON parsed, CSV rows, HTML table cells, text extracted from the
PDF with pypdf)."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pypdf
import pytest

from api.reports import formats, service, signing
from dashboard.reports import render
from tests.reports.seed import (
    ADA,
    EXPECTED,
    EXPECTED_PLATFORMS,
    EXPECTED_TOTALS,
    GRACE,
    IN_SESSION_MINUTES,
    NOW,
    UPTIME,
    Golden,
    seed_golden,
)

Numbers = dict[str, tuple[int, int, int]]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Golden, dict[str, Any],
                                                                        dict[str, bytes]]]:
    g = seed_golden(tmp_path_factory.mktemp("golden"))
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="officer",
                        meeting_id=g.ids["meeting"], now=NOW, lookups=True)
    files = {fmt: service.issue(db=g.db, settings=g.settings, doc=doc, fmt=fmt, actor="officer",
                            render=render.body)
             for fmt in formats.FORMATS}
    yield g, doc, files
    g.db.dispose()


def _expected_numbers() -> Numbers:
    return {name: v[:3] for name, v in EXPECTED.items()}


def test_the_document_has_the_expected_numbers(issued: tuple[Golden, dict[str, Any],
                                                             dict[str, bytes]]) -> None:
    _, doc, _ = issued
    got = {m["name"]: (m["episodes"], m["lookups"], m["bypass_attempts"], m["first"][11:19],
                       m["last"][11:19]) for m in doc["members"]}
    assert got == EXPECTED
    for m in doc["members"]:
        assert {p["name"]: (p["episodes"], p["lookups"]) for p in m["platforms"]} == \
            EXPECTED_PLATFORMS[m["name"]]
    t = doc["totals"]
    assert (t["episodes"], t["lookups"], t["bypass_attempts"]) == EXPECTED_TOTALS
    mt = doc["meeting"]
    assert mt["in_session_minutes"] == IN_SESSION_MINUTES
    assert (mt["scheduled_start"], mt["actual_start"], mt["actual_end"]) == (
        "2026-06-10T19:00:00+01:00", "2026-06-10T19:02:00+01:00", "2026-06-10T21:15:00+01:00")
    assert [a["action"] for a in mt["clerk_actions"]] == ["start", "adjourn", "resume", "end"]
    gate = doc["conditions"]["gate"]
    assert gate["uptime_percent"] == UPTIME == 95.8
    assert gate["outage_minutes"] == 5 and len(gate["outages"]) == 1
    assert gate["outages"][0]["start"] == "2026-06-10T20:39:50+01:00"
    assert [i["detail"] for i in gate["incidents"]] == ["event queue full: 3 events dropped"]
    assert doc["conditions"]["unregistered_devices_seen"] == 1
    assert doc["conditions"]["mode_at_start"] == "enforce"
    ada = next(m for m in doc["members"] if m["name"] == ADA)
    assert [d["label"] for d in ada["devices"]] == ["iPad", "iPhone"]
    # The next week's meeting is not in this report.
    assert doc["evidence"]["events_covered"] == 16


def test_json_has_the_same_numbers(issued: tuple[Golden, dict[str, Any],
                                                 dict[str, bytes]]) -> None:
    _, doc, files = issued
    data = json.loads(files["json"])
    assert set(data) == {"report", "signature"}
    report = data["report"]
    # Each issued file is a report of its own (its own id); the content is the document's.
    assert report["report_id"] == data["signature"]["report_id"]
    assert {**report, "report_id": None} == json.loads(json.dumps({**doc, "report_id": None}))
    got = {m["name"]: (m["episodes"], m["lookups"], m["bypass_attempts"])
           for m in report["members"]}
    assert got == _expected_numbers()


def test_csv_has_the_same_numbers(issued: tuple[Golden, dict[str, Any],
                                                dict[str, bytes]]) -> None:
    _, _, files = issued
    body, _, fmt = signing.split(files["csv"])
    assert fmt == "csv"
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    got = {r["name"]: (int(r["episodes"]), int(r["lookups"]), int(r["bypass_attempts"]))
           for r in rows if r["record"] == "member"}
    assert got == _expected_numbers()
    plats = {(r["name"], r["platform"]): (int(r["episodes"]), int(r["lookups"]))
             for r in rows if r["record"] == "member-platform"}
    assert plats == {(n, p): v for n, ps in EXPECTED_PLATFORMS.items() for p, v in ps.items()}
    total = next(r for r in rows if r["record"] == "total")
    assert (int(total["episodes"]), int(total["lookups"]),
            int(total["bypass_attempts"])) == EXPECTED_TOTALS
    episodes = [r for r in rows if r["record"] == "episode"]
    assert len(episodes) == EXPECTED_TOTALS[0]
    assert sum(int(r["lookups"]) for r in episodes) == EXPECTED_TOTALS[1]
    meta = {r["name"]: r["detail"] for r in rows if r["record"] == "meta"}
    assert meta["gate_uptime_percent"] == str(UPTIME)
    assert meta["in_session_minutes"] == str(IN_SESSION_MINUTES)


class _Members(HTMLParser):
    """Rows of the members table: the row header, then the cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "members") in attrs:
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_html_has_the_same_numbers_and_no_inline_styles(
        issued: tuple[Golden, dict[str, Any], dict[str, bytes]]) -> None:
    _, _, files = issued
    body, _, _ = signing.split(files["html"])
    text = body.decode()
    p = _Members()
    p.feed(text)
    header, *rows = p.rows
    assert header[:6] == ["Member", "Devices present", "Likely opened", "Background",
                          "Lookups", "Other DNS service"]
    got = {r[0]: (int(r[2]) + int(r[3]), int(r[4]), int(r[5])) for r in rows}
    assert got == _expected_numbers()
    assert all(r[2] == "0" for r in rows)  # the golden meeting's lookups are all background
    assert "Instagram 0 / 3 / 5" in text and "TikTok 0 / 1 / 2" in text
    # CSP: no style attributes; the only <style> is the inlined print CSS (hash-allowed).
    assert not re.search(r"<[^>]+\sstyle=", text)
    assert text.count("<style>") == 1 and render.css() in text
    assert text.count("<svg") == 2  # a timeline per member with contacts
    assert "contacted" not in text.lower()
    assert "Looked up Instagram — refused" in text  # the episode table, in the one vocabulary
    assert "Appendix: the lookups, by episode" in text and "graph.instagram.com" in text


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_pdf_renders_and_its_text_has_the_same_numbers(
        issued: tuple[Golden, dict[str, Any], dict[str, bytes]], tmp_path: Path) -> None:
    _, doc, files = issued
    data = files["pdf"]
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data)
    for name in EXPECTED:  # the PDF details members with a likely-opened episode only
        assert name in text
        for platform, (pe, pl) in EXPECTED_PLATFORMS[name].items():
            assert f"{platform} 0 / {pe} / {pl}" in text
    assert "Background activity likely (6 episodes)" in text
    # The appendix lists background episodes lookup by lookup: every lookup's UK time is
    # there under its episode, with its name, verdict and channel.
    for r in doc["lookups"]:
        if r["episode"] is None:
            continue
        para = text[text.index(f"Episode {r['episode']}: "):]
        para = para[:para.find("Episode ", 10) if "Episode " in para[10:] else len(para)]
        t = datetime.fromisoformat(r["at"])
        assert f"{r['name']} ({r['verdict']}, {r['channel']}," in para, (r, para)
        assert t.strftime("%H:%M:%S") in para or f":{t:%S}" in para, (r, para)
    assert "Another DNS service used (3)" in text
    assert "`" not in text  # no markup artefacts
    # Tagged PDF/UA-1, page 1 has the summary and the members table, dates in UK time.
    reader0 = pypdf.PdfReader(io.BytesIO(data))
    root = reader0.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]
    assert "pdfuaid" in reader0.xmp_metadata.rdf_root.toxml() if reader0.xmp_metadata \
        else False
    page1 = " ".join(reader0.pages[0].extract_text().split())
    assert "had records" in page1 and "Cllr Ada Lovelace" in page1 and "Cllr Grace Hopper" in page1
    created = str(reader0.metadata["/CreationDate"])
    assert created.endswith("+01'00'") or created.endswith("+01'00"), created  # BST
    e, lk, b = EXPECTED_TOTALS
    assert (f"2 of 2 members listed had records: 0 episodes where an app or site was likely "
            f"opened, {e} of likely background activity ({lk} lookups in all), and {b} uses of "
            "another DNS service.") in text
    assert f"{UPTIME}%" in text
    assert "Method and limits" in text and "mobile data" in text
    _, block, _ = signing.split(data)
    assert block["report_id"] in text.replace(" ", "")
    # The attached report.json carries the same document.
    reader = pypdf.PdfReader(io.BytesIO(data))
    attached = json.loads(reader.attachments["report.json"][0])
    assert {m["name"]: (m["episodes"], m["lookups"], m["bypass_attempts"])
            for m in attached["members"]} == _expected_numbers()


def test_every_format_verifies(issued: tuple[Golden, dict[str, Any],
                                             dict[str, bytes]]) -> None:
    g, doc, files = issued
    for fmt, data in files.items():
        v = service.verify_file(data=data, settings=g.settings, db=g.db)
        assert v.ok, (fmt, v.reason)
        assert v.signature["format"] == fmt
        assert any("register: issued" in d for d in v.details)
        assert any("last event covered" in d and "unchanged" in d for d in v.details)


def test_names_stay_in_their_places(issued: tuple[Golden, dict[str, Any],
                                                  dict[str, bytes]]) -> None:
    """Neutral words and London times: nothing says a member 'used' or 'accessed'."""
    _, _, files = issued
    for fmt in ("html", "csv", "json"):
        low = files[fmt].decode().lower()
        for word in ("used instagram", "accessed", "browsed", "violation", "breach"):
            assert word not in low, (fmt, word)
    assert GRACE in files["csv"].decode()


def test_pdf_metadata_is_uk_time_and_rendering_is_quiet(
        issued: tuple[Golden, dict[str, Any], dict[str, bytes]],
        caplog: pytest.LogCaptureFixture) -> None:
    """The PDF's creation date is the report's UK time (not UTC), and WeasyPrint's
    per-property chatter stays off the operator's terminal (issue 21)."""
    _, doc, files = issued
    created = pypdf.PdfReader(io.BytesIO(files["pdf"])).metadata.creation_date
    assert created is not None
    assert created.utcoffset() == datetime.fromisoformat(doc["generated_at"]).utcoffset()
    caplog.set_level(logging.DEBUG)
    render.pdf(doc)
    noisy = [r for r in caplog.records if r.name.split(".")[0] in ("weasyprint", "fontTools")
             and r.levelno < logging.ERROR]
    assert noisy == []
