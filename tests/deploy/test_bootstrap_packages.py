"""Every program the code and the tests run comes from a package deploy/bootstrap.sh installs.

The bug this guards against: the sensor compiled its filter with ``tcpdump``, which bootstrap
never installed; CI passed only because its machine had tcpdump from earlier work. Here the
source is read (not run) for the programs it starts — ``subprocess.run(["prog", ...])`` and
friends, ``shutil.which("prog")`` — and each one is traced to its Debian package with
``dpkg -S``. That package must be in bootstrap's lists (bench-only programs may come from its
bench list) or be part of every Debian system (Essential or Priority: required).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "deploy" / "bootstrap.sh"
SCANNED = ("allowlist", "monitor", "api", "dashboard", "tests")
RUNNERS = {"run", "Popen", "check_output", "check_call", "call", "execvp", "execv", "which",
           "create_subprocess_exec"}

if shutil.which("dpkg") is None:  # pragma: no cover - the project targets Debian
    pytest.skip("dpkg is not installed (not a Debian system)", allow_module_level=True)


def bootstrap_packages() -> dict[str, set[str]]:
    text = BOOTSTRAP.read_text()
    lists = dict(re.findall(r'^(RUN|TEST|BENCH)_PKGS="([^"]*)"', text, re.M))
    assert set(lists) == {"RUN", "TEST", "BENCH"}, "bootstrap.sh's package lists moved"
    return {k: set(v.split()) for k, v in lists.items()}


def programs_in(path: Path) -> Iterator[tuple[str, int]]:
    """(program, line) for each literal program name a call in ``path`` starts."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        fn = node.func
        if isinstance(fn, ast.Attribute):
            name = fn.attr
        else:
            name = fn.id if isinstance(fn, ast.Name) else ""
        if name not in RUNNERS:
            continue
        first = node.args[0]
        if isinstance(first, (ast.List, ast.Tuple)) and first.elts:
            first = first.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) \
                and re.fullmatch(r"[a-z][a-z0-9_.+-]*", first.value):
            yield first.value, node.lineno


def called_programs() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            for prog, line in programs_in(path):
                found.setdefault(prog, []).append(f"{path.relative_to(REPO)}:{line}")
    return found


def package_of(program: str) -> str | None:
    """The Debian package that ships ``program`` on this machine, or None."""
    where = shutil.which(program)
    if where is None:
        # Off PATH (initdb lives in /usr/lib/postgresql/<v>/bin): any installed */bin/<name>.
        out = subprocess.run(["dpkg", "-S", f"*/bin/{program}"], capture_output=True, text=True,
                             check=False)
        return out.stdout.split(":")[0].strip() if out.returncode == 0 else None
    candidates = {where, str(Path(where).resolve())}
    for p in list(candidates):  # merged /usr: dpkg may know /bin/x for /usr/bin/x, or back
        if p.startswith("/usr/"):
            candidates.add(p[4:])
        else:
            candidates.add("/usr" + p)
    for p in sorted(candidates):
        out = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return out.stdout.split(":")[0].strip()
    return None


def with_dependencies(packages: set[str]) -> set[str]:
    """The packages and everything they pull in (as installed here): what apt-get installs."""
    table = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Depends},${Pre-Depends}\n"],
        capture_output=True, text=True, check=True).stdout
    depends: dict[str, list[list[str]]] = {}
    for row in table.splitlines():
        name, status, deps = (row.split("\t") + ["", ""])[:3]
        if status.endswith(" installed"):
            depends[name] = [[c.split()[0].split(":")[0] for c in alt.split("|")]
                             for alt in deps.split(",") if alt.strip()]
    seen: set[str] = set()
    todo = [p for p in packages if p in depends]
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        for alternative in depends.get(pkg, []):
            todo.extend(c for c in alternative if c in depends)
    return seen


def everywhere(package: str) -> bool:
    """Essential or Priority: required — on every Debian system, minbase included."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Essential} ${Priority}", package],
                         capture_output=True, text=True, check=False).stdout
    return out.startswith("yes") or out.endswith("required")


def test_the_scan_finds_the_programs_we_know_are_called() -> None:
    """The scan itself works: programs called in well-known places are found."""
    found = called_programs()
    for prog in ("ip", "nft", "systemd-analyze", "runuser"):
        assert prog in found, sorted(found)


def test_every_program_called_comes_from_a_package_bootstrap_installs() -> None:
    lists = bootstrap_packages()
    closure = with_dependencies(lists["RUN"] | lists["TEST"])
    closure_bench = closure | with_dependencies(lists["BENCH"])
    problems = []
    for prog, places in sorted(called_programs().items()):
        where = shutil.which(prog)
        if where and Path(where).resolve().is_relative_to(Path(sys.prefix).resolve()):
            continue  # from the virtualenv (pyproject.toml), e.g. the chamberguard CLI
        pkg = package_of(prog)
        bench_only = all(p.startswith("tests/bench/") for p in places)
        if pkg is None and bench_only and prog in lists["BENCH"]:
            continue  # `make bench` installs it (a package of that name); `make test` does not
        if pkg is None:
            problems.append(f"{prog} ({places[0]}): not installed, so no package provides it")
            continue
        allowed = closure_bench if bench_only else closure
        if pkg not in allowed and not everywhere(pkg):
            problems.append(f"{prog} ({places[0]}): from package {pkg}, which bootstrap.sh "
                            "does not install")
    assert not problems, "\n".join(problems)
