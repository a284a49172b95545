"""The cyclic garbage collector held off while one report is made.

A meeting report with its lookups is tens of thousands of small dicts and tuples, and its
PDF a few hundred thousand WeasyPrint objects. Each burst of allocations sets off the cyclic
collector, whose older-generation passes walk every live object again: measured with
tests/bench/bench_report.py, a third of an HTML report's time and a fifth of a PDF's.
Reference counting still frees everything as it goes; the few cycles left are collected once
the collector is back on. It is switched back on only if it was on (a caller may have it off).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
