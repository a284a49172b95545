"""UK time wherever a person reads a report's times: ``report verify`` prints them as
Europe/London wall-clock time with the zone named, and every CSV the reports produce (the
report table, the per-lookup CSV, the subject-access export) writes ISO 8601 in
Europe/London with the offset, under headers that name the zone."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from allowlist.clock import LONDON
from api.reports import service, signing
from api.reports.times import uk_text
from dashboard.main.cli import main
from tests.reports.seed import NOW, Golden, seed_golden

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)")


def _cli(g: Golden, *args: str) -> int:
    return main(["--config", str(g.settings.site.data_dir / "chamberguard.toml"), *args])


def test_uk_text_names_the_zone_on_both_sides_of_the_clock_change() -> None:
    assert uk_text(datetime(2026, 6, 10, 20, 0, tzinfo=UTC)) == \
        "2026-06-10 21:00:00 BST (Europe/London)"
    assert uk_text("2026-01-14T19:30:00+00:00") == "2026-01-14 19:30:00 GMT (Europe/London)"
    assert uk_text(datetime(2026, 10, 25, 1, 30)) == "2026-10-25 01:30:00 GMT (Europe/London)"
    assert uk_text(None) == "–"


def _times_are_london(rows: list[dict[str, str]], column: str) -> int:
    """Every non-empty cell of ``column`` is London ISO time with London's offset then."""
    seen = 0
    for r in rows:
        cell = r[column]
        if not cell:
            continue
        m = ISO.fullmatch(cell)
        assert m, (column, cell)
        t = datetime.fromisoformat(cell)
        assert t.utcoffset() == t.astimezone(LONDON).utcoffset(), cell
        seen += 1
    return seen


def test_every_report_csv_is_in_uk_time_with_the_zone_named(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    try:
        doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                            meeting_id=g.ids["meeting"], now=NOW, lookups=True)
        for fmt, columns in (("csv", ("first (Europe/London)", "last (Europe/London)")),
                             ("lookups", ("time (Europe/London)",))):
            body, _, _ = signing.split(service.issue(db=g.db, settings=g.settings, doc=doc,
                                                     fmt=fmt, actor="t"))
            rows = list(csv.DictReader(io.StringIO(body.decode())))
            assert sum(_times_are_london(rows, c) for c in columns) > 0, fmt
            if fmt == "csv":
                meta = {r["name"]: r["detail"] for r in rows if r["record"] == "meta"}
                assert meta["timezone"] == "Europe/London"
        _, data = service.subject_access(db=g.db, settings=g.settings, member="Ada",
                                         fmt="csv", actor="officer")
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert _times_are_london(rows, "when (Europe/London)") > 0
    finally:
        g.db.dispose()


def test_report_verify_prints_uk_time_with_the_zone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = seed_golden(tmp_path)
    try:
        out = tmp_path / "m.csv"
        assert _cli(g, "report", str(g.ids["meeting"]), "--format", "csv", "-o", str(out)) == 0
        capsys.readouterr()
        assert _cli(g, "report", "verify", str(out)) == 0
        said = capsys.readouterr().out
        generated = re.search(r"generated (.*)$", said, re.M)
        issued = re.search(r"register: issued (.*) by ", said)
        assert generated and issued, said
        for text in (generated.group(1), issued.group(1)):
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT|BST) \(Europe/London\)",
                                text), text
    finally:
        g.db.dispose()
