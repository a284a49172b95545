"""UDP listeners feeding the chain (TCP in tcp.py)."""

from __future__ import annotations

import asyncio
import time

from monitor.gate.chain import Chain
from monitor.gate.exchange import Exchange


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, chain: Chain, redirected: bool = False) -> None:
        self.chain = chain
        self.redirected = redirected
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        ex = Exchange(data, addr[0], addr[1], self.redirected, time.time())
        try:
            self.chain.handle(ex, self._reply)
        except Exception as exc:  # never let one packet take the listener down
            self.chain.failed("udp listener", exc)

    def _reply(self, ex: Exchange) -> None:
        if self.transport is not None and ex.response is not None:
            self.transport.sendto(ex.response, (ex.client_ip, ex.client_port))


async def listen_udp(
    chain: Chain, host: str, port: int, redirected: bool = False
) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpListener(chain, redirected), local_addr=(host, port), reuse_port=False
    )
    return transport
