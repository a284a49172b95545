"""Shared test factories: the database, the settings, the policy and the gate, built the way
production builds them — real migrations, the real settings and policy loaders, and the
gate's chain through :func:`monitor.gate.build.build_gate`. A test that hand-wires any of
these tests its own copy, which drifts; these keep tests on production's path.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from allowlist.decision import Policy, Restriction
from monitor.events import EventRecord
from monitor.evidence.devices import PresenceNote
from monitor.gate.build import GateDeps, build_gate
from monitor.gate.chain import Chain
from monitor.gate.presence import Presence
from monitor.gate.stats import GateStats
from monitor.gate.upstream import UpstreamPool
from monitor.settings import Settings, load_settings
from monitor.store import models as m
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.policy_loader import load_policy

_SQLITE_TEMPLATE: Path | None = None


def sqlite_url(tmp: Path) -> str:
    """A migrated SQLite file in ``tmp`` (copied from one migrated once per session by the
    real Alembic migrations)."""
    global _SQLITE_TEMPLATE
    if _SQLITE_TEMPLATE is None:
        tpl = Path(tempfile.mkdtemp(prefix="cg-sqlite-")) / "template.db"
        upgrade(f"sqlite:///{tpl}")
        _SQLITE_TEMPLATE = tpl
    dst = tmp / "chamberguard.db"
    shutil.copy(_SQLITE_TEMPLATE, dst)
    return f"sqlite:///{dst}"


def migrated_db(tmp: Path) -> Database:
    """A fresh database at the head migration (caller disposes it)."""
    return Database(sqlite_url(tmp))


def settings(tmp: Path | None = None, extra: str = "",
             env: Mapping[str, str] | None = None, *, site: str = "") -> Settings:
    """Settings read by the real loader from a config file in ``tmp`` (its data dir; a new
    temporary directory when None); ``site`` adds lines to its [site] table."""
    tmp = tmp or Path(tempfile.mkdtemp(prefix="cg-settings-"))
    cfg = tmp / "chamberguard.toml"
    cfg.write_text(f'[site]\n{site}data_dir = "{tmp}"\n{extra}', encoding="utf-8")
    return load_settings(cfg, env=dict(env or {}))


def web_settings(data_dir: Path, extra: str = "", *, site: str = "") -> Settings:
    """:func:`settings` for the web tests, whose clients speak plain http: cookies without the
    Secure flag, unless the test's config asks for it."""
    env = {} if "secure_cookies" in extra else {"CHAMBERGUARD_WEB__SECURE_COOKIES": "false"}
    return settings(data_dir, extra, env, site=site)


@dataclass(frozen=True)
class Seat:
    """A member with one registered device."""

    member: str
    mac: str
    label: str = "iPad"


def seed(db: Database, *, rules: Iterable[tuple[str, str, str | None]] = (),
         seats: Iterable[Seat] = (), meetings: Iterable[tuple[str, datetime, datetime]] = (),
         room: str | None = None) -> None:
    """Rows as IT and the clerk would leave them: rules (domain, category, platform),
    members with their devices, meetings (title, start, end)."""
    with db.session() as s:
        for domain, category, platform in rules:
            s.add(m.RuleRow(domain=domain, category=category, platform=platform))
        for seat in seats:
            member = m.Member(name=seat.member)
            s.add(member)
            s.flush()
            s.add(m.Device(mac=seat.mac, label=seat.label, member_id=member.id))
        for title, start, end in meetings:
            s.add(m.Meeting(title=title, start=start, end=end, room=room))


def policy(db: Database, cfg: Settings, now: datetime) -> Policy:
    """The snapshot the gate would load at ``now`` (the real policy loader)."""
    with db.session() as s:
        return load_policy(s, cfg, now)


@dataclass
class Recorders:
    """What a test gate hands its steps instead of the event writer and nftables: lists a
    test can read."""

    events: list[EventRecord] = field(default_factory=list)
    allowed: list[tuple[str, list[str], int]] = field(default_factory=list)
    unlisted: list[tuple[int, str]] = field(default_factory=list)
    learnt: list[tuple[str | None, str]] = field(default_factory=list)
    remembered: list[tuple[list[str], str, str]] = field(default_factory=list)
    present: list[PresenceNote] = field(default_factory=list)

    def submit(self, e: EventRecord) -> bool:
        self.events.append(e)
        return True

    def allow(self, mac: str, addrs: list[str], ttl: int) -> int:
        self.allowed.append((mac, addrs, ttl))
        return len(addrs)


def gate(cfg: Settings, upstream: UpstreamPool, *, snapshot: Callable[[], Policy],
         restrictions: Callable[[], Mapping[str, Restriction]],
         lookup_mac: Callable[[str], str | None], rec: Recorders | None = None,
         stats: GateStats | None = None, **deps: Any) -> tuple[Chain, Recorders]:
    """Production's chain (:func:`build_gate`) with recorders for its outputs; ``deps``
    overrides any other :class:`GateDeps` field."""
    rec = rec or Recorders()
    fields: dict[str, Any] = dict(
        stats=stats or GateStats(), upstream=upstream, lookup_mac=lookup_mac,
        restrictions=restrictions, policy=snapshot, submit=rec.submit, allow=rec.allow,
        presence=Presence(rec.present.append, snapshot),
        note_unlisted=lambda dev, name, _ts: rec.unlisted.append((dev, name)),
        note_learn=lambda mac, name, _ts: rec.learnt.append((mac, name)),
        remember=lambda addrs, dom, plat: rec.remembered.append((addrs, dom, plat)),
    )
    fields.update(deps)
    return build_gate(cfg, GateDeps(**fields)), rec
