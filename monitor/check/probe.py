"""The check's I/O on the gate: look hosts up through the gate's own decision step and
upstream as a synthetic restricted member device in a meeting, then fetch each address the
answer gave; list the nftables table. Facts only — :mod:`monitor.check.verdicts` judges.

The synthetic device goes through the chain `monitor.gate.build.build_check_chain` wires —
ParseQuery and Decide with the gate's live policy snapshot, then the gate's
:class:`~monitor.gate.upstream.UpstreamPool` — what a member's phone gets. It skips the steps
that only make sense for a real client: scope and rate limit (it is the gate itself), identify
(it has no MAC: its restriction is given), recording (a check is not evidence) and opening the
firewall (the gate's own traffic is not filtered).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import ssl
import time
from datetime import datetime, timedelta

from allowlist.clock import MeetingClock
from allowlist.decision import Device, Member, Policy, Restriction
from monitor import dnswire
from monitor.check.model import Item
from monitor.check.verdicts import Fetch, Reach
from monitor.gate.chain import Chain
from monitor.gate.exchange import Exchange
from monitor.nft.enforcer import Enforcer

SYNTHETIC = Device(0, "00:00:00:00:00:00", "pre-meeting check", Member(0, "pre-meeting check"))
_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


def synthetic_restriction(policy: Policy, now: datetime) -> Restriction:
    """A member device restricted by the meeting in session, else the next one, else a
    stand-in: the check asks what members will get, whenever it is run."""
    meeting = policy.meeting_now(now)
    if meeting is None:
        later = sorted((m for m in policy.meetings if not m.cancelled and m.end > now),
                       key=lambda m: m.start)
        meeting = later[0] if later else MeetingClock(0, "a meeting", now, now + timedelta(hours=1))
    return Restriction(True, f"{meeting.title} is in session", meeting, SYNTHETIC)


async def _ask(chain: Chain, host: str, qtype: int, restriction: Restriction,
               source: str) -> Exchange:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Exchange] = loop.create_future()
    ex = Exchange(raw=dnswire.make_query(host, qtype, secrets.randbelow(65536)),
                  client_ip=source, client_port=0, redirected=False, received=time.time(),
                  transport="check")
    ex.restriction = restriction

    def reply(e: Exchange) -> None:
        if not done.done():
            done.set_result(e)

    chain.handle(ex, reply)
    return await done


async def look_up(chain: Chain, item: Item, host: str, restriction: Restriction,
                  source: str) -> Reach:
    """A and AAAA, as a phone asks; refused if the policy refused the name."""
    answers = await asyncio.gather(*(_ask(chain, host, t, restriction, source)
                                     for t in (dnswire.TYPE_A, dnswire.TYPE_AAAA)))
    d = answers[0].decision
    if d is not None and d.refused:
        return Reach(item, host, refused=True, reason=d.reason)
    addrs: list[str] = []
    rcode = "NOERROR"
    for ex in answers:
        if ex.response is None:
            continue
        try:
            msg = dnswire.parse_message(ex.response)
        except dnswire.DnsError as exc:
            return Reach(item, host, rcode=f"an unreadable answer ({exc})")
        if msg.rcode != dnswire.RCODE_NOERROR and ex.query is not None \
                and ex.query.qtype == dnswire.TYPE_A:
            rcode = _RCODES.get(msg.rcode, f"error {msg.rcode}")
        addrs += [r.address for r in msg.answers if r.address is not None]
    return Reach(item, host, reason=d.reason if d is not None else "", rcode=rcode,
                 addresses=tuple(dict.fromkeys(addrs)))


async def fetch(address: str, host: str, scheme: str, timeout: float,
                port: int | None = None) -> Fetch:
    """One request for ``/`` at ``address`` with ``host``'s name (SNI, certificate check and
    Host header, as a browser would); only the status line is read."""
    ctx = ssl.create_default_context() if scheme == "https" else None
    port = port or (443 if scheme == "https" else 80)
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                address, port, ssl=ctx, server_hostname=host if ctx else None)
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: chamberguard-check\r\n"
                         "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii"))
            await writer.drain()
            first = await reader.readline()
    except TimeoutError:
        return Fetch(address, error=f"no answer within {timeout:.0f} s")
    except ssl.SSLError as exc:
        return Fetch(address, error=f"TLS failed: {exc.reason or exc}")
    except OSError as exc:
        return Fetch(address, error=exc.strerror or type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()
    m = _STATUS.match(first)
    if m is None:
        return Fetch(address, error="not an HTTP answer")
    return Fetch(address, status=int(m.group(1)))


async def reach(chain: Chain, item: Item, host: str, restriction: Restriction, source: str,
                scheme: str, fetch_timeout: float) -> Reach:
    if not host:
        return Reach(item, host)
    r = await look_up(chain, item, host, restriction, source)
    if r.refused or not r.addresses:
        return r
    got = await asyncio.gather(*(fetch(a, host, scheme, fetch_timeout) for a in r.addresses))
    return Reach(r.item, r.host, reason=r.reason, rcode=r.rcode, addresses=r.addresses,
                 fetches=tuple(got))


def table_present(enforcer: Enforcer) -> tuple[bool, str]:
    """Is our nftables table in the kernel now (not just installed once)? Blocking: run on a
    worker thread. Uses the enforcer's background context, never the DNS loop's."""
    spec = enforcer.builder.spec
    try:
        enforcer.bg.list_ruleset("inet", spec.table)
    except Exception as exc:  # NftError or the library failing: the answer is "not there"
        return False, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return True, ""
