"""DNS over TCP (RFC 7766): length-prefixed messages, several per connection, same chain.

Phones fall back to TCP for large answers, and a redirected foreign resolver may be reached
over TCP; both must see the same policy as UDP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from monitor.gate.chain import Chain
from monitor.gate.exchange import Exchange

IDLE_TIMEOUT = 10.0
MAX_PIPELINE = 32  # answers outstanding per connection


async def _serve(
    chain: Chain, redirected: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    peer = writer.get_extra_info("peername") or ("", 0)
    pending = asyncio.Semaphore(MAX_PIPELINE)

    def reply(ex: Exchange) -> None:
        pending.release()
        if ex.response is not None and not writer.is_closing():
            writer.write(len(ex.response).to_bytes(2, "big") + ex.response)

    try:
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), IDLE_TIMEOUT)
            size = int.from_bytes(head, "big")
            data = await asyncio.wait_for(reader.readexactly(size), IDLE_TIMEOUT)
            await pending.acquire()
            ex = Exchange(data, peer[0], peer[1], redirected, time.time(), transport="tcp")
            try:
                chain.handle(ex, reply)
            except Exception as exc:
                chain.failed("tcp listener", exc)
                pending.release()
            if ex.drop:
                pending.release()
            await writer.drain()
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        pass
    finally:
        # Let outstanding upstream answers arrive before closing.
        for _ in range(MAX_PIPELINE):
            if pending._value >= MAX_PIPELINE:  # noqa: SLF001 - simple drain check
                break
            await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            writer.close()


async def listen_tcp(
    chain: Chain, host: str, port: int, redirected: bool = False
) -> asyncio.base_events.Server:
    return await asyncio.start_server(
        lambda r, w: _serve(chain, redirected, r, w), host, port, reuse_address=True
    )
