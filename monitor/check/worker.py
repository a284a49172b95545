"""The gate worker's side of "Check the chamber now": claim a request from the database,
run the check inside the gate (its live policy, upstream, health and firewall), write the
green/red lines. Started by the gate daemon with one call (:func:`serve`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from allowlist.categories import Mode
from allowlist.decision import Policy
from monitor.check import requests, verdicts
from monitor.check.model import Item, Line, Status
from monitor.check.probe import reach, synthetic_restriction, table_present
from monitor.gate.build import build_check_chain
from monitor.gate.upstream import UpstreamPool
from monitor.health import Component, HealthBoard, State
from monitor.nft.enforcer import Enforcer
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import Device, Member
from monitor.store.policy_loader import enabled_presets

log = logging.getLogger(__name__)
POLL_EVERY = 0.5  # seconds between looks for a request
DEADLINE = 8.0  # seconds for the whole check: the answer comes in under 10 s
FETCH_TIMEOUT = 4.0
PRESENT_MINUTES = 10  # "on the chamber Wi-Fi": a device seen this recently


class GateView(Protocol):
    """What the check reads off the running gate (monitor.daemon.GateDaemon has these)."""

    settings: Settings
    db: Database
    policy: Policy | None
    upstream: UpstreamPool
    health: HealthBoard
    enforcer: Enforcer | None
    now: Callable[[], datetime]


def attendance(db: Database, policy: Policy, now: datetime) -> verdicts.Attendance:
    """Members with a registered device, and which of them were seen lately (blocking)."""
    meeting = policy.meeting_now(now)
    in_session = meeting is not None
    if meeting is None:
        later = sorted((m for m in policy.meetings if not m.cancelled and m.start > now),
                       key=lambda m: m.start)
        meeting = later[0] if later else None
    since = datetime.now(UTC) - timedelta(minutes=PRESENT_MINUTES)
    with db.session() as s:
        rows = s.execute(select(Member.name, Device.last_seen).join(Device)
                         .where(Member.active.is_(True))).all()
    expected = sorted({name for name, _ in rows}, key=str.casefold)
    present = sorted({name for name, seen in rows if seen is not None and seen >= since},
                     key=str.casefold)
    return verdicts.Attendance(meeting.title if meeting else None, in_session,
                               tuple(expected), tuple(present), PRESENT_MINUTES)


def _presets(db: Database, settings: Settings) -> list[str]:
    with db.session() as s:
        return enabled_presets(s, settings)


async def run_check(gate: GateView) -> list[Line]:
    """Every line, gathered concurrently, within :data:`DEADLINE`."""
    loop = asyncio.get_running_loop()
    cfg = gate.settings
    policy = gate.policy
    if policy is None:
        return [Line(Item.GATE, Status.FAIL, "Running, but it has no policy loaded yet.")]
    now = gate.now()
    restriction = synthetic_restriction(policy, now)
    chain = build_check_chain(cfg, policy, gate.upstream)
    source = cfg.chamber.gate_address or cfg.dns.listen
    targets = ((Item.AGENDA, cfg.policy.democracy_host), (Item.WEBCAST, cfg.policy.webcast_host))
    mirror = cfg.site.topology == "mirror"  # no DNS gate: its upstream never started
    reaches: dict[Item, asyncio.Future[verdicts.Reach]] = {} if mirror else {
        item: asyncio.ensure_future(reach(chain, item, host.strip().lower(), restriction, source,
                                          cfg.policy.check_fetch, FETCH_TIMEOUT))
        for item, host in targets}
    enf = gate.enforcer
    fw_task = (loop.run_in_executor(None, table_present, enf) if enf is not None else None)
    presets_task = loop.run_in_executor(None, _presets, gate.db, cfg)
    people_task = loop.run_in_executor(None, attendance, gate.db, policy, now)
    waiting: list[asyncio.Future[Any]] = [*reaches.values(), presets_task, people_task]
    if fw_task is not None:
        waiting.append(fw_task)
    await asyncio.wait(waiting, timeout=DEADLINE)
    monitor_only = policy.mode is Mode.MONITOR_ONLY
    lines = [verdicts.gate_line(gate.health.get(Component.GATE))]
    if enf is None:
        why = ("nftables switched off" if not cfg.nftables.enabled
               else f"{cfg.site.topology} topology" if cfg.site.topology != "inline"
               else "this gate set up no firewall")
        fw = verdicts.Firewall(False, why_not=why)
    elif fw_task is None or not fw_task.done():
        fw = verdicts.Firewall(True, error="listing it took too long")
    else:
        present, err = fw_task.result()
        h = gate.health.get(Component.FIREWALL)
        down = h.why if h is not None and h.state is State.DOWN else ""
        fw = verdicts.Firewall(True, table_present=present, error=err or down)
    lines.append(verdicts.firewall_line(fw, monitor_only))
    lines.append(verdicts.sensor_line(gate.health.get(Component.SENSOR)))
    lines.append(verdicts.mode_line(monitor_only))
    lines.append(verdicts.presets_line(presets_task.result()) if presets_task.done() else
                 Line(Item.PRESETS, Status.FAIL, "The database did not answer in time."))
    for item, host in targets:
        task = reaches.get(item)
        if task is None:
            lines.append(Line(item, Status.WARN, f"Not checked for {host or 'it'}: in the mirror "
                              "topology there is no DNS gate, so nothing is refused."))
        elif task.done():
            lines.append(verdicts.reach_line(task.result(), DEADLINE))
        else:
            task.cancel()
            lines.append(verdicts.reach_line(verdicts.Reach(item, host, answered=False),
                                             DEADLINE))
    lines.append(verdicts.devices_line(people_task.result()) if people_task.done() else
                 Line(Item.DEVICES, Status.FAIL, "The database did not answer in time."))
    return lines


async def serve(gate: GateView, stop: asyncio.Event) -> None:
    """Until ``stop``: claim this room's requests and answer them, one at a time. A failure
    of the check itself is answered as a red line and logged, never left hanging."""
    loop = asyncio.get_running_loop()
    room = gate.settings.site.room

    def _claim() -> int | None:
        with gate.db.session() as s:
            return requests.claim(s, room, datetime.now(UTC))

    def _finish(cid: int, lines: list[Line]) -> None:
        with gate.db.session() as s:
            requests.finish(s, cid, lines, datetime.now(UTC))

    while not stop.is_set():
        try:
            cid = await loop.run_in_executor(None, _claim)
            if cid is not None:
                began = time.monotonic()
                try:
                    lines = await run_check(gate)
                except Exception as exc:
                    log.exception("pre-meeting check %d failed", cid)
                    lines = [Line(Item.GATE, Status.FAIL,
                                  f"The check itself failed ({type(exc).__name__}: {exc}).")]
                await loop.run_in_executor(None, _finish, cid, lines)
                log.info("pre-meeting check %d answered in %.1f s", cid,
                         time.monotonic() - began)
                continue
        except Exception:
            log.exception("pre-meeting check requests: database unavailable")
        try:
            await asyncio.wait_for(stop.wait(), timeout=POLL_EVERY)
        except TimeoutError:
            pass
