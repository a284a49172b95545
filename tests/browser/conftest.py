"""Browser tests: the real app served by uvicorn on a free 127.0.0.1 port (in this process,
on a fresh migrated SQLite file), driven by Debian's chromium through Playwright.

Only /usr/bin/chromium is used (never a downloaded browser); each browser session gets a
fresh user-data-dir. Without chromium, or without Playwright, the tests skip and say why
(pytest's -ra prints the reason). A small thread stands in for the gate's heartbeat so the
dashboard sees a running gate, as in the chamber.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dashboard.app import create_app
from tests.dashboard.conftest import cheap_argon2  # noqa: F401  (fixture, re-exported)
from tests.dashboard.seed import PASSWORD, Seeded, heartbeat, seed
from tests.ports import free_port

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
# Test artefacts go to artifacts/screenshots (ignored by git); set
# CHAMBERGUARD_UPDATE_SCREENSHOTS=1 to refresh the README's copies in docs/screenshots.
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (_ROOT / "docs" / "screenshots" if os.environ.get("CHAMBERGUARD_UPDATE_SCREENSHOTS")
               else _ROOT / "artifacts" / "screenshots")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _unavailable() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is not installed (Debian package chromium; the test setup installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright Python package is missing ({exc}); pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def chromium_ok() -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(f"browser tests need chromium: {reason}")



@dataclass
class Server:
    base: str
    seeded: Seeded

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def ids(self) -> dict[str, int]:
        return self.seeded.ids


@pytest.fixture
def server(chromium_ok: None, cheap_argon2: None, tmp_path: Path) -> Iterator[Server]:  # noqa: F811
    import uvicorn

    seeded = seed(tmp_path)
    heartbeat(seeded.db)
    app = create_app(seeded.settings, seeded.db)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            loop="asyncio", lifespan="on", timeout_graceful_shutdown=1)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    stop = threading.Event()

    def beat() -> None:  # the gate writes its heartbeat every few seconds
        while not stop.wait(2.0):
            heartbeat(seeded.db)

    beater = threading.Thread(target=beat, name="heartbeat", daemon=True)
    beater.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the web app did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", seeded)
    finally:
        stop.set()
        srv.should_exit = True
        thread.join(timeout=10)
        beater.join(timeout=5)
        seeded.db.dispose()


@pytest.fixture(scope="module")
def playwright_instance(chromium_ok: None) -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while
    it is started, so it must be stopped before other tests call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


class Browser:
    """Opens chromium sessions, each with its own fresh profile directory."""

    def __init__(self, pw: Any, root: Path) -> None:
        self.pw = pw
        self.root = root
        self.contexts: list[Any] = []

    def session(self, *, javascript: bool = True, width: int = 1280, height: int = 900) -> Any:
        profile = self.root / f"profile-{len(self.contexts)}"
        profile.mkdir()
        ctx = self.pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True,
            java_script_enabled=javascript, viewport={"width": width, "height": height},
            locale="en-GB", timezone_id="Europe/London", service_workers="block")
        ctx.set_default_timeout(10_000)
        self.contexts.append(ctx)
        return ctx.pages[0] if ctx.pages else ctx.new_page()

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def browser(playwright_instance: Any, tmp_path: Path) -> Iterator[Browser]:
    b = Browser(playwright_instance, tmp_path)
    try:
        yield b
    finally:
        b.close()
        shutil.rmtree(tmp_path / "profile-0", ignore_errors=True)


def login(page: Any, server: Server, username: str, path: str = "/") -> None:
    page.goto(server.url(path))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
