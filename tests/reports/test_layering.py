"""Report building is a domain service: no module in api/ imports the dashboard's report
code (the dashboard draws HTML and PDF and is passed in). The one exception is the command
line's entry point, which composes the dashboard's renderer into ``chamberguard report``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSES = {"api/cli.py"}  # the entry point: wires the renderer in


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_api_does_not_import_the_dashboards_reports() -> None:
    offenders = []
    for path in sorted((ROOT / "api").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in COMPOSES:
            continue
        if any(m == "dashboard.reports" or m.startswith("dashboard.reports.")
               for m in _imports(path)):
            offenders.append(rel)
    assert offenders == []


def test_api_reports_imports_no_dashboard_at_all() -> None:
    for path in sorted((ROOT / "api" / "reports").rglob("*.py")):
        assert not any(m == "dashboard" or m.startswith("dashboard.")
                       for m in _imports(path)), path
