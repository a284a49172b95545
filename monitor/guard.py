"""The gate's guard: runs the gate worker as a child and fails the chamber open if it dies.

Leaving members without DNS is the worst outcome (DESIGN §5). The worker touches a heartbeat
file every tick; if it exits, or its heartbeat goes stale (a hang), the guard kills it,
replaces our nftables table with the fail-open one (DNS to the gate forwarded upstream by the
kernel, nobody restricted), records the outage, and exits non-zero so the service manager
restarts the unit. The worker gets SIGTERM if the guard itself dies (PR_SET_PDEATHSIG), and
fails open on its own way out. systemd's ExecStopPost runs `chamberguard gate --fail-open` for
the last case: both killed at once.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor.conditions import Change, GateConditions, record_now
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.health import Component
from monitor.hostport import parse_hostport
from monitor.incidents import open_outage
from monitor.nft.enforcer import Enforcer
from monitor.sdnotify import notify
from monitor.settings import Settings
from monitor.store.db import Database

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def heartbeat_path(settings: Settings) -> Path:
    return settings.site.data_dir / f"gate-{settings.site.room}.alive"


def worker_pid_path(settings: Settings) -> Path:
    return settings.site.data_dir / f"gate-{settings.site.room}.pid"


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def record_outage(db: Database, room: str, detail: str, at: datetime | None = None) -> None:
    rec = EventRecord(
        ts=at or datetime.now(UTC),
        kind=EventKind.OUTAGE,
        action=EventAction.OBSERVED,
        room=room,
        detail=detail,
    )
    try:
        store_now(db, [rec])
        with db.session() as s:  # the typed row reports count; closed when the gate restarts
            open_outage(s, room, Component.GATE, rec.ts, detail)
    except Exception:
        log.exception("could not record the outage (the chamber has failed open regardless)")


def fail_open(settings: Settings, enforcer: Enforcer) -> None:
    host, port = parse_hostport(settings.dns.upstream)
    enforcer.fail_open(host, port)


class Guard:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        worker_cmd: list[str],
        enforcer: Enforcer | None,
        hang_seconds: float = 8.0,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self.wall: Callable[[], datetime] = wall or (lambda: datetime.now(UTC))
        self.settings = settings
        self.db = db
        self.cmd = worker_cmd
        self.enforcer = enforcer
        self.hang = hang_seconds
        self._stopping = False

    def _stop(self, *_: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        hb = heartbeat_path(self.settings)
        hb.parent.mkdir(parents=True, exist_ok=True)
        hb.unlink(missing_ok=True)
        worker = subprocess.Popen(self.cmd, preexec_fn=_die_with_parent)  # noqa: PLW1509
        worker_pid_path(self.settings).write_text(str(worker.pid))
        started = time.monotonic()
        reason = ""
        ready = False
        while True:
            time.sleep(0.25)
            code = worker.poll()
            if self._stopping:
                worker.terminate()
                try:
                    return worker.wait(15) and 0
                except subprocess.TimeoutExpired:
                    worker.kill()
                    reason = "worker did not stop in time"
                    break
            if code is not None:
                reason = f"gate worker exited unexpectedly (status {code})"
                break
            try:
                age = time.time() - hb.stat().st_mtime
            except FileNotFoundError:
                age = time.monotonic() - started
            if age <= self.hang:
                # systemd's watchdog sees the guard alive only while the worker's loop turns.
                if not ready:
                    ready = notify("READY=1\nSTATUS=gate enforcing")
                notify("WATCHDOG=1")
            if age > self.hang and time.monotonic() - started > self.hang:
                worker.kill()
                worker.wait(5)
                reason = f"gate worker stopped responding for {age:.0f} s and was killed"
                break
        if self.enforcer is not None:
            try:
                fail_open(self.settings, self.enforcer)
            except Exception:
                log.exception("fail-open failed; removing the table instead")
                self.enforcer.remove()
        log.error("%s; the chamber has failed open", reason)
        at = self.wall()
        record_outage(
            self.db,
            self.settings.site.room,
            f"{reason}; the chamber failed open "
            "(nobody restricted, DNS forwarded upstream) until the gate restarts",
            at,
        )
        record_now(self.db, self.settings,
                   Change(GateConditions.down(), f"{reason}; the chamber failed open", at))
        return 1


def worker_command(config: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "monitor.cli"]
    if config:
        cmd += ["--config", config]
    return cmd + ["gate", "--worker"]
