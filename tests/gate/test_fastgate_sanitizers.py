"""The gate's C fast path under AddressSanitizer and UndefinedBehaviorSanitizer.

``_fastgate.c`` parses DNS from chamber devices and from upstream. Here it is built again
with ``-fsanitize=address,undefined`` (gcc from bootstrap; nothing new in C) and its parsing
entry points (parse_query, nxdomain, allow_answer, format_addr) are driven by
tests/gate/fuzz/driver.py with the kept corpus (tests/gate/fuzz/corpus, written by
make_corpus.py) and mutations of it, each input ending at an unreadable page. Any sanitizer
report — over-read, overflow, undefined behaviour — fails the run. A copy of the source with
one bounds check removed proves the harness would catch exactly such a fault.

Bounded: a fixed number of inputs from a fixed seed (the same run every time), seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "monitor" / "gate" / "_fastgate.c"
INPUTS = 150_000
SEED = 20
FLAGS = ["-shared", "-fPIC", "-O1", "-g", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
# The one bounds check read_name needs for a label; the mutant lacks it.
BOUNDS_CHECK = "        if (off + ln > n) return -1;\n        total += ln + 1;"


def toolchain() -> tuple[str, str] | str:
    """(gcc, libasan path), or why the run cannot happen."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return "gcc is not installed (deploy/bootstrap.sh installs it)"
    asan = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isabs(asan) or not os.path.exists(asan):
        return "gcc has no AddressSanitizer runtime (Debian: libasan8, from bootstrap)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "Python.h is missing (Debian: python3-dev)"
    return gcc, asan


def build(gcc: str, source: Path, out: Path) -> Path:
    cmd = [gcc, *FLAGS, f"-I{sysconfig.get_paths()['include']}", str(source), "-o", str(out),
           "-ldl", "-lpthread"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    found = toolchain()
    if isinstance(found, str):
        pytest.skip(found)
    gcc, asan = found
    d = tmp_path_factory.mktemp("asan")
    mutant_src = d / "mutant.c"
    text = SOURCE.read_text()
    assert text.count(BOUNDS_CHECK) == 1, "read_name changed: update BOUNDS_CHECK"
    mutant_src.write_text(text.replace(BOUNDS_CHECK, "        total += ln + 1;"))
    with ThreadPoolExecutor(2) as pool:  # two cores: build both at once
        real = pool.submit(build, gcc, SOURCE, d / "_fastgate.so")
        mutant = pool.submit(build, gcc, mutant_src, d / "mutant.so")
        return asan, real.result(), mutant.result()


def run_driver(asan: str, so: Path, inputs: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LD_PRELOAD": asan, "PYTHONMALLOC": "malloc",
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
    return subprocess.run([sys.executable, "-m", "tests.gate.fuzz.driver", str(so),
                           str(inputs), str(SEED)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_fastgate_parsers_are_clean_under_asan_and_ubsan(builds: tuple[str, Path, Path]
                                                         ) -> None:
    asan, real, _ = builds
    r = run_driver(asan, real, INPUTS)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r"fuzz inputs: (\d+)", r.stdout)
    assert m and int(m.group(1)) >= INPUTS
    print(f"\n{r.stdout.strip()} through _fastgate.c under ASan+UBSan: no report")


def test_the_harness_catches_a_missing_bounds_check(builds: tuple[str, Path, Path]) -> None:
    asan, _, mutant = builds
    r = run_driver(asan, mutant, 20_000)
    assert r.returncode != 0
    assert "AddressSanitizer" in r.stderr and "read_name" in r.stderr, r.stderr[-2000:]
