"""Fixtures for the deployment tests: the repository's deploy/ folder and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "chamberguard")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERGUARD_")}
    env.update(extra)
    return env


def run_cli(*args: str, config: Path | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = env if env is not None else clean_env()
    if config is not None:
        e["CHAMBERGUARD_CONFIG"] = str(config)
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=e, check=False)


@pytest.fixture
def deploy_dir() -> Path:
    return DEPLOY


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass (no fixed sleeps)."""
    end = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)
