"""The gate's side of the pre-meeting check, for tests without namespaces: the real check
worker (:func:`monitor.check.worker.serve`) on its own event loop, with the real policy
loaded from the test database and a real upstream pool pointed at a loopback port where no
resolver listens (so every allowed name fails to resolve, as on a machine without internet).
Only the parts a namespace would give are absent: no firewall, no sensor."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from allowlist.decision import Policy
from monitor.check.worker import serve
from monitor.gate.upstream import UpstreamPool
from monitor.health import Component, HealthBoard, State
from monitor.nft.enforcer import Enforcer
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.policy_loader import load_policy


def _silent_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackGate:
    """Implements :class:`monitor.check.worker.GateView` with real parts."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.policy: Policy | None = None
        self.upstream = UpstreamPool(("127.0.0.1", _silent_udp_port()), timeout=1.0)
        self.health = HealthBoard()
        self.enforcer: Enforcer | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="check-gate", daemon=True)

    def start(self) -> LoopbackGate:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the stand-in gate did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.upstream.start()
        with self.db.session() as s:
            self.policy = load_policy(s, self.settings, self.now())
        now = self.now()
        self.health.set(Component.GATE, State.UP, "answering", now)
        self.health.set(Component.SENSOR, State.OFF, "no interface to capture on", now)
        self._ready.set()
        try:
            await serve(self, self._stop)
        finally:
            self.upstream.close()

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
