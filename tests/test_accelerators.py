"""The C accelerators are optional at run time (a host without a compiler falls back to the
Python reference, only slower), but the README's test command builds them and must test
them: there, a missing extension is a failure, not a silent skip of every C test."""

from __future__ import annotations

import importlib
import os

import pytest

MODULES = ("monitor.gate._fastgate", "dashboard.reports._fastscan")


@pytest.mark.parametrize("name", MODULES)
def test_accelerator_is_built_where_the_test_command_requires_it(name: str) -> None:
    if os.environ.get("CG_REQUIRE_ACCEL") != "1":
        pytest.skip("CG_REQUIRE_ACCEL is not set (make test sets it)")
    try:
        importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"{name} is not built ({exc}): deploy/bootstrap.sh should have built it "
                    "(gcc, python3-dev)")
