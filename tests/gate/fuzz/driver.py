"""Drives a sanitizer build of ``_fastgate`` (ASan + UBSan) with the kept corpus and
mutations of it. Run by tests/gate/test_fastgate_sanitizers.py in a child process with the
ASan runtime preloaded; any sanitizer report aborts that child with a non-zero status.

    python -m tests.gate.fuzz.driver SO_PATH ITERATIONS SEED
"""

from __future__ import annotations

import ctypes
import importlib.util
import mmap
import random
import sys
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
# Bytes a DNS parser treats specially: root/length, compression, reserved, extremes.
_SPECIAL = (0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xC0, 0xFF, 0x0C, 0x2E, 0x5C)


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("_fastgate", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[attr-defined]
    return mod


def sanitizers_loaded() -> list[str]:
    """The runtimes really mapped in this process (else the run would prove nothing)."""
    maps = Path("/proc/self/maps").read_text()
    return [lib for lib in ("libasan.so", "libubsan.so") if lib not in maps]


class Guarded:
    """Inputs placed to end exactly at an unreadable page. A Python ``bytes`` keeps a NUL
    after its data inside the same allocation, which would hide a one-byte over-read from
    ASan; here any read past the end faults, and ASan reports it (SEGV)."""

    SIZE = 16 * mmap.PAGESIZE  # 64 KiB: the largest DNS message

    def __init__(self) -> None:
        self.mm = mmap.mmap(-1, self.SIZE + mmap.PAGESIZE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        if libc.mprotect(self.base + self.SIZE, mmap.PAGESIZE, 0) != 0:  # PROT_NONE
            raise OSError(ctypes.get_errno(), "mprotect")
        self.view = memoryview(self.mm)

    def place(self, data: bytes) -> memoryview:
        data = data[: self.SIZE]
        start = self.SIZE - len(data)
        self.view[start:self.SIZE] = data
        return self.view[start:self.SIZE]


def mutate(data: bytes, rnd: random.Random, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(7)
        if op == 0 and b:  # flip a bit
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:  # a special byte
            b[rnd.randrange(len(b))] = rnd.choice(_SPECIAL)
        elif op == 2 and b:  # truncate
            del b[rnd.randrange(len(b)):]
        elif op == 3:  # grow
            b += rnd.randbytes(rnd.randrange(1, 40))
        elif op == 4 and len(b) >= 12:  # lie in a count
            i = 4 + 2 * rnd.randrange(4)
            b[i:i + 2] = rnd.choice((0, 1, 2, 17, 255, 512, 513, 65535)).to_bytes(2, "big")
        elif op == 5:  # splice with another seed
            other = rnd.choice(pool)
            cut = rnd.randrange(len(b) + 1)
            b = b[:cut] + other[rnd.randrange(len(other) + 1):]
        elif op == 6 and len(b) > 13:  # a compression pointer somewhere
            i = rnd.randrange(12, len(b) - 1)
            b[i:i + 2] = bytes([0xC0 | rnd.randrange(64), rnd.randrange(256)])
    return bytes(b)


def exercise(fg: Any, g: Guarded, query: bytes, answer: bytes) -> None:
    q = g.place(query)
    fg.parse_query(q)
    fg.nxdomain(q)
    a = g.place(answer)
    fg.parse_query(a)
    for max_ttl, margin in ((60, 30), (0, 0), (0xFFFFFFFF, 0xFFFFFFFF)):
        try:
            # the query is read only for its header: a bytes copy is enough there
            fg.allow_answer(query, len(query), a, max_ttl, margin)
        except ValueError:
            pass  # "bad input": a query shorter than its header
    if len(answer) in (4, 16):
        fg.format_addr(a)


def main() -> int:
    so, iterations, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fg = load(so)
    missing = sanitizers_loaded()
    if missing:
        print(f"sanitizer runtime not loaded: {missing}", file=sys.stderr)
        return 3
    seeds = {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.bin"))}
    pool = list(seeds.values())
    queries = [v for k, v in seeds.items() if k.startswith("q-")]
    rnd = random.Random(seed)
    g = Guarded()
    count = 0
    for data in pool:  # every seed as it is, as query and as answer
        for q in queries:
            exercise(fg, g, q, data)
            count += 1
    while count < iterations:
        q = rnd.choice(queries)
        if rnd.random() < 0.5:
            q = mutate(q, rnd, pool)
        exercise(fg, g, q, mutate(rnd.choice(pool), rnd, pool))
        count += 1
    print(f"fuzz inputs: {count} (seeds: {len(pool)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
