"""The demo's processes: started through the ``chamberguard`` program itself (the gate and
the web app run as they would on a real gateway), watched, and stopped by process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from dashboard.main.demo.setup import DemoError


class Interrupted(BaseException):
    """SIGTERM/SIGINT while starting: unwind through the clean-up (raised at a checkpoint,
    never from the signal handler, so no child process is ever left half-started)."""


def checkpoint(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Interrupted()


def clean_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERGUARD_")}
    env["CHAMBERGUARD_CONFIG"] = str(config)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dashboard.main", *args]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_until(cond: Callable[[], bool], what: str, timeout: float,
               alive: Callable[[], str | None] = lambda: None,
               stop: threading.Event | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checkpoint(stop)
        if cond():
            return
        dead = alive()
        if dead:
            raise DemoError(f"{what}: {dead}")
        time.sleep(0.2)
    raise DemoError(f"timed out waiting for {what}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start_web(config: Path, log_path: Path, *flags: str) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(cli("web", *flags), env=clean_env(config), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def web_up(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM to the process group (each child leads its own), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


@contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT/SIGHUP set ``stop``: start-up unwinds at its next checkpoint, a running
    demo stops. The handler only sets the flag."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
