"""Forwarding to the upstream resolver over a pool of UDP sockets.

Each query leaves with a fresh random ID on a randomly chosen socket (each bound to its own
random source port, replaced from time to time), and an answer is accepted only if ID and
question match — the usual defence against off-path cache poisoning.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor import dnswire

Callback = Callable[[bytes | None], None]


@dataclass(slots=True)
class _Pending:
    orig_id: bytes
    question: bytes
    callback: Callback
    deadline: float


class _Sock(asyncio.DatagramProtocol):
    def __init__(self, pool: UpstreamPool, idx: int) -> None:
        self.pool, self.idx = pool, idx
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.pool._answer(self.idx, data)

    def error_received(self, exc: Exception) -> None:
        self.pool.errors += 1


class RandomPool:
    """Cryptographically random 16-bit values drawn from a bulk ``os.urandom`` buffer:
    one syscall per 2,048 values instead of one per query."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buf = memoryview(os.urandom(size))
        self._pos = 0

    def u16(self) -> int:
        if self._pos + 2 > self._size:
            self._buf = memoryview(os.urandom(self._size))
            self._pos = 0
        v = self._buf[self._pos] << 8 | self._buf[self._pos + 1]
        self._pos += 2
        return v


class UpstreamPool:
    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        sockets: int = 8,
        timeout: float = 2.0,
        rotate_after: int = 20000,
    ) -> None:
        self.upstream = upstream
        self.size = sockets
        self.timeout = timeout
        self.rotate_after = rotate_after
        self._socks: list[_Sock] = []
        self._pending: dict[tuple[int, int], _Pending] = {}
        self._sent = [0] * sockets
        self.errors = 0
        self.timeouts = 0
        self._sweeper: asyncio.Task[None] | None = None
        self._rand = RandomPool()

    async def start(self) -> None:
        for i in range(self.size):
            self._socks.append(await self._open(i))
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _open(self, idx: int) -> _Sock:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(
            lambda: _Sock(self, idx), remote_addr=self.upstream
        )
        return proto

    def send(self, raw: bytes, question_end: int, callback: Callback) -> None:
        rand = self._rand.u16
        idx = rand() % self.size
        sock = self._socks[idx]
        for _ in range(8):
            qid = rand()
            if (idx, qid) not in self._pending:
                break
        else:
            callback(None)
            return
        self._pending[(idx, qid)] = _Pending(
            raw[:2], raw[12:question_end], callback, time.monotonic() + self.timeout
        )
        assert sock.transport is not None
        sock.transport.sendto(qid.to_bytes(2, "big") + raw[2:])
        self._sent[idx] += 1
        if self._sent[idx] >= self.rotate_after:
            self._sent[idx] = 0
            asyncio.get_running_loop().create_task(self._rotate(idx))

    async def _rotate(self, idx: int) -> None:
        old = self._socks[idx]
        self._socks[idx] = await self._open(idx)
        await asyncio.sleep(self.timeout)
        if old.transport is not None:
            old.transport.close()

    def _answer(self, idx: int, data: bytes) -> None:
        if len(data) < 12:
            return
        p = self._pending.get((idx, int.from_bytes(data[:2], "big")))
        if p is None or data[12 : 12 + len(p.question)] != p.question:
            return  # unsolicited or spoofed
        del self._pending[(idx, int.from_bytes(data[:2], "big"))]
        p.callback(p.orig_id + data[2:])

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            expired = [k for k, p in self._pending.items() if p.deadline < now]
            for k in expired:
                p = self._pending.pop(k)
                self.timeouts += 1
                p.callback(None)

    def close(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        for s in self._socks:
            if s.transport is not None:
                s.transport.close()


def servfail(raw: bytes, question_end: int | None) -> bytes:
    return dnswire.make_error(raw, dnswire.RCODE_SERVFAIL, question_end)
