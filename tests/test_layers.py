"""Dependencies point one way (the brief): allowlist ← monitor ← api ← dashboard-mount.

allowlist is pure: it imports none of our other packages and no I/O libraries. monitor never
imports api or dashboard. No import cycle between our modules (static imports, including
imports inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("allowlist", "monitor", "api", "dashboard")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def own(name: str, mods: dict[str, Path]) -> str | None:
    while name:
        if name in mods:
            return name
        name = name.rpartition(".")[0]
    return None


def graph() -> dict[str, set[str]]:
    mods = modules()
    g: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = {own(i, mods) for i in imports_of(path)}
        g[mod] = {d for d in deps if d and d != mod and not mod.startswith(d + ".")}
    return g


def test_allowlist_is_pure() -> None:
    io_libs = {"socket", "sqlalchemy", "fastapi", "httpx", "subprocess", "asyncio", "scapy"}
    for mod, path in modules().items():
        if mod.startswith("allowlist"):
            imps = imports_of(path)
            assert not {i.split(".")[0] for i in imps} & set(PACKAGES[1:]), mod
            assert not {i.split(".")[0] for i in imps} & io_libs, mod


def test_monitor_never_imports_api_or_dashboard() -> None:
    for mod, deps in graph().items():
        if mod.startswith("monitor"):
            bad = [d for d in deps if d.split(".")[0] in ("api", "dashboard")]
            assert not bad, f"{mod} imports {bad}"


def test_no_import_cycles() -> None:
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n)
