"""Issue 20, fault 2: formula injection in CSV. Every CSV the project writes goes through
:func:`monitor.csvout.write_csv`; a label a member typed on the (login-free) registration page
comes out of the subject-access CSV as text, never as a live formula."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

from sqlalchemy import select

from api.auth.roles import Role
from monitor.csvout import FORMULA_PREFIXES, neutralise, write_csv
from monitor.store.models import Device
from tests.reports.test_api import Api, api  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]
EVIL = '=HYPERLINK("http://198.51.100.9/x","open")'


def test_fault_2_subject_access_csv_neutralises_a_typed_label(api: Api) -> None:  # noqa: F811
    ada = api.g.ids["ada"]
    with api.g.db.session() as s:
        dev = s.execute(select(Device).where(Device.member_id == ada)).scalars().first()
        assert dev is not None
        dev.label = EVIL
    r = api.get(Role.MONITORING_OFFICER, f"/api/v1/reports/subject-access/{ada}?format=csv")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    cells = [c for row in rows for c in row]
    assert "'" + EVIL in cells
    assert not [c for c in cells if c.lstrip(" ").startswith(FORMULA_PREFIXES)]


def test_fault_2_writer_neutralises_every_formula_prefix() -> None:
    for p in FORMULA_PREFIXES:
        assert neutralise(p + "1+1") == "'" + p + "1+1"
    assert neutralise("  =1") == "'  =1"
    assert neutralise(-3) == -3 and neutralise("Cllr Ada") == "Cllr Ada"
    out = write_csv(["a", "b"], [["-2+3", 5], ["@SUM(A1)", None]]).decode()
    assert out == "a,b\r\n'-2+3,5\r\n'@SUM(A1),\r\n"


def test_fault_2_no_other_csv_writer_in_the_project() -> None:
    """csv.writer / DictWriter appear only in monitor/csvout.py."""
    offenders = []
    for pkg in ("allowlist", "monitor", "api", "dashboard", "chamberguard"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path == ROOT / "monitor" / "csvout.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("writer", "DictWriter") \
                        and isinstance(node.value, ast.Name) and node.value.id == "csv":
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
