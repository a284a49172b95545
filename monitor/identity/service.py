"""The gate's identity component: RADIUS accounting over UDP and hostapd's stations, stored
as device bindings. One object the daemon starts, polls for counters, and closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from allowlist.identity import IdentitySource
from monitor.identity import pskfile
from monitor.identity.hostapd import HostapdCtrl, HostapdError
from monitor.identity.radius import (
    AccountingReceiver,
    Handled,
    RadiusStats,
    Verdict,
    clients,
    from_accounting,
)
from monitor.identity.sighting import Change, Sighting
from monitor.identity.store import apply, psk_file_text
from monitor.settings import Settings
from monitor.store.db import Database

log = logging.getLogger(__name__)
HOSTAPD_EVERY = 5.0  # seconds between station walks
QUEUE = 1024  # accepted requests waiting for the database; beyond it the client retransmits


@dataclass
class IdentityCounters:
    identified: int = 0  # sightings that created or re-bound a device
    unknown_user: int = 0  # user names / key ids that name no member
    store_failures: int = 0
    hostapd_errors: int = 0
    radius_dropped: int = 0  # queue full: no reply, the client retransmits


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, Any], None]) -> None:
        self.received = received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received(data, addr)


class IdentityService:
    def __init__(self, settings: Settings, db: Database,
                 learn_address: Callable[[str, str], None]) -> None:
        cfg = settings.identity
        self.settings, self.db, self.learn_address = settings, db, learn_address
        self.radius_stats = RadiusStats()
        self.counters = IdentityCounters()
        self.receiver: AccountingReceiver | None = None
        if cfg.radius_listen:
            self.receiver = AccountingReceiver(
                clients((c.address, c.shared_secret()) for c in cfg.radius_clients),
                stats=self.radius_stats)
        self.hostapd = HostapdCtrl(cfg.hostapd_ctrl) if cfg.hostapd_ctrl else None
        self._told_hostapd: str | None = None  # the key file text hostapd last re-read
        self._transport: asyncio.DatagramTransport | None = None
        self._queue: asyncio.Queue[tuple[Handled, Any]] = asyncio.Queue(QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[tuple[str, int, int, bytes] | None] = set()  # queued, not stored

    def as_dict(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.receiver is not None:
            out.update(self.radius_stats.as_dict())
        if self.receiver is not None or self.hostapd is not None:
            out.update({f"identity_{k}": v for k, v in vars(self.counters).items()})
        return out

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.settings.identity
        if self.receiver is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self._received), local_addr=(cfg.radius_listen, cfg.radius_port))
            self._transport = transport
            self._tasks.append(asyncio.create_task(self._store_accounting()))
            log.info("RADIUS accounting on %s:%d (%d clients)", cfg.radius_listen,
                     cfg.radius_port, len(cfg.radius_clients))
        if self.hostapd is not None:
            self._tasks.append(asyncio.create_task(self._poll_hostapd()))
            log.info("hostapd stations from %s", cfg.hostapd_ctrl)

    def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._transport is not None:
            self._transport.close()

    # -- RADIUS ---------------------------------------------------------------------------
    def _received(self, data: bytes, addr: Any) -> None:
        assert self.receiver is not None and self._transport is not None
        got = self.receiver.handle(data, (str(addr[0]), int(addr[1])))
        if got.verdict is Verdict.DUPLICATE and got.reply is not None:
            if got.key not in self._pending:  # answered only once the first copy is stored
                self._transport.sendto(got.reply, addr)
        elif got.verdict is Verdict.ACCEPTED:
            try:
                self._queue.put_nowait((got, addr))
                self._pending.add(got.key)
            except asyncio.QueueFull:
                self.counters.radius_dropped += 1
                self.receiver.forget(got.key)

    async def _store_accounting(self) -> None:
        loop = asyncio.get_running_loop()
        subnets = self.settings.chamber.subnets
        while True:
            got, addr = await self._queue.get()
            try:
                await self._store_one(got, addr, loop, subnets)
            finally:
                self._pending.discard(got.key)

    async def _store_one(self, got: Handled, addr: Any, loop: asyncio.AbstractEventLoop,
                         subnets: list[str]) -> None:
        assert self.receiver is not None and got.accounting is not None
        sighting = from_accounting(got.accounting, subnets)
        if sighting is not None:
            try:
                await loop.run_in_executor(None, self._store, [sighting])
            except Exception:
                # RFC 2866: no Accounting-Response for a record not kept; the client
                # retransmits and the retransmission is handled anew.
                log.exception("could not store RADIUS accounting from %s", addr[0])
                self.counters.store_failures += 1
                self.receiver.forget(got.key)
                return
        if self._transport is not None and got.reply is not None:
            self._transport.sendto(got.reply, addr)

    # -- hostapd ----------------------------------------------------------------------------
    async def _poll_hostapd(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(None, self.poll_hostapd)
            except Exception:
                log.exception("hostapd station walk failed")
            await asyncio.sleep(HOSTAPD_EVERY)

    def poll_hostapd(self) -> None:
        """Keep hostapd's key file in step with the database (a rotated or new key takes
        effect at once), then bind each station that used a member's key (a worker thread)."""
        assert self.hostapd is not None
        try:
            with self.db.session() as s:
                text = psk_file_text(s)
            written = pskfile.write(self.settings.identity.wpa_psk_file, text)
            # Also when someone else wrote it (`chamberguard wifi keys` leaves telling
            # hostapd to the gate): hostapd is told whenever the keys differ from the
            # last ones it was told to load.
            if written or text != self._told_hostapd:
                reply = self.hostapd.request("RELOAD_WPA_PSK").strip()
                self._told_hostapd = text
                log.info("wrote %s; hostapd reload: %s", self.settings.identity.wpa_psk_file,
                         reply)
            stations = self.hostapd.stations()
        except HostapdError as exc:
            self.counters.hostapd_errors += 1
            log.debug("hostapd: %s", exc)
            return
        self._store(Sighting(st.mac, IdentitySource.WIFI_KEY, st.keyid, via="hostapd")
                    for st in stations if st.keyid)

    # -- both -------------------------------------------------------------------------------
    def _store(self, sightings: Iterable[Sighting]) -> None:
        with self.db.session() as s:
            for sighting in sightings:
                applied = apply(s, sighting)
                if applied.change is None:
                    self.counters.unknown_user += 1
                elif applied.change is not Change.TOUCH:
                    self.counters.identified += 1
                    log.info("device %s identified as member %s by %s (%s)", sighting.mac,
                             applied.member_id, sighting.source.text, sighting.via)
                if applied.change is not None and sighting.ip is not None:
                    self.learn_address(sighting.ip, sighting.mac)
