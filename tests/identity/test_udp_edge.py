"""The gate's RADIUS edge on loopback: a reply only once the record is stored, the same reply
for a retransmission, none for a record that could not be stored (the client retries)."""

from __future__ import annotations

import asyncio
import socket

from pyrad import packet as rp
from sqlalchemy import select

from api.members.service import create_member
from monitor.identity.radius import dictionary
from monitor.identity.service import IdentityService
from monitor.settings import IdentitySettings, RadiusClient
from monitor.store.models import Device
from tests.api.conftest import Env
from tests.identity.packets import SECRET, acct


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _exchange(sock: socket.socket, raw: bytes, port: int, wait: float = 2.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    sock.sendto(raw, ("127.0.0.1", port))
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 4096), wait)
    except TimeoutError:
        return None


def test_store_then_reply_duplicates_and_failures(env: Env) -> None:
    with env.db.session() as s:
        ada = create_member(s, name="Cllr Ada Lovelace", email="ada@council.example",
                            actor="t").id
    port = _port()
    settings = env.settings.model_copy(update={"identity": IdentitySettings(
        radius_listen="127.0.0.1", radius_port=port,
        radius_clients=[RadiusClient(address="127.0.0.1", secret=SECRET.decode())])})
    learned: dict[str, str] = {}

    async def main() -> None:
        svc = IdentityService(settings, env.db, lambda ip, mac: learned.update({ip: mac}))
        await svc.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        try:
            raw = acct("Start", ip="198.51.100.9")
            reply = await _exchange(sock, raw, port)
            assert reply is not None
            req = rp.AcctPacket(packet=raw, secret=SECRET, dict=dictionary())
            assert req.VerifyReply(rp.AcctPacket(packet=reply, secret=SECRET,
                                                 dict=dictionary()), reply)
            assert await _exchange(sock, raw, port) == reply  # a retransmission
            assert svc.radius_stats.radius_duplicate == 1
            assert learned == {"198.51.100.9": "02:00:5e:10:00:09"}

            # The database fails: no reply; once it works again, the retransmission is stored.
            real = svc._store
            def broken(_: object) -> None:
                raise RuntimeError("database is away")
            svc._store = broken  # type: ignore[method-assign]
            other = acct("Start", mac="06-11-22-33-44-55", ident=42)
            assert await _exchange(sock, other, port, wait=0.5) is None
            assert svc.counters.store_failures == 1
            svc._store = real  # type: ignore[method-assign]
            assert await _exchange(sock, other, port) is not None
            # A wrong secret: silence.
            assert await _exchange(sock, acct(secret=b"wrong", ident=43), port, 0.5) is None
            assert svc.as_dict()["radius_bad_authenticator"] == 1
        finally:
            sock.close()
            svc.close()

    asyncio.run(main())
    with env.db.session() as s:
        owners = {d.mac: d.member_id for d in s.execute(select(Device)).scalars()}
    assert owners == {"02:00:5e:10:00:09": ada, "06:11:22:33:44:55": ada}
