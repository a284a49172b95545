"""What the import contracts cannot say: no import cycle between our modules (static imports,
including imports inside functions).

Which way packages may import — dashboard > api > monitor > allowlist, a pure
allowlist, a web side that never loads the gate — is import-linter's job: the contracts are in
pyproject.toml ([tool.importlinter]) and `make test` runs `lint-imports` before pytest.
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


def test_only_the_composition_root_reaches_it() -> None:
    """dashboard.main may import the gate side (pyproject's ignore_imports name each edge); no
    other module may import dashboard.main, or a web page could reach the gate through it."""
    bad = {mod: sorted(d for d in deps if d.startswith("dashboard.main"))
           for mod, deps in graph().items() if not mod.startswith("dashboard.main")}
    assert not {m: d for m, d in bad.items() if d}


def test_the_gate_starts_its_processes_through_its_own_program() -> None:
    """The guard's worker and the worker's sensor run ``python -m monitor.cli``: the gate's
    processes never load the web side."""
    from monitor.guard import worker_command

    cmd = worker_command(None)
    assert cmd[1:3] == ["-m", "monitor.cli"]
    assert not {m for m in graph()["monitor.cli"] if m.split(".")[0] in ("api", "dashboard")}
