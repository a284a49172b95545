""""Check the chamber now": a green/red list before a meeting, for the clerk and IT
(the page /check and ``chamberguard check``).

Besides the readiness lines the live page shows (gate, firewall, mode, presets, devices,
schedule), it asks the gate's own policy whether a *restricted* member device may reach the
agenda and webcast hosts, then resolves and fetches those hosts, all within a deadline so
that the answer comes in under 10 seconds even when the network hangs.
"""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from allowlist.decision import Action, Restriction
from dashboard import queries as q
from monitor.settings import Settings
from monitor.store.policy_loader import load_policy

DEADLINE = 8.0  # seconds for all the network checks together
FETCH_TIMEOUT = 4.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    checks: list[q.Check]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)


def https_url(host: str) -> str:
    return f"https://{host}/"


def _reach(host: str, url_for: Callable[[str], str]) -> q.Check:
    """Resolve then fetch ``host`` the way a member's device would (any HTTP answer counts:
    the site is reachable)."""
    name = f"Reach {host}"
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)}
    except OSError as exc:
        return q.Check(name, "fail", f"The name does not resolve ({exc.strerror or exc}).")
    try:
        r = httpx.get(url_for(host), timeout=FETCH_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        return q.Check(name, "fail", f"Resolves ({len(addrs)} address"
                       f"{'es' if len(addrs) != 1 else ''}) but does not answer: "
                       f"{type(exc).__name__}.")
    return q.Check(name, "ok", f"Resolves and answers (HTTP {r.status_code}).")


def chamber_check(s: Session, settings: Settings, now: datetime, *,
                  url_for: Callable[[str], str] = https_url) -> CheckResult:
    began = time.monotonic()
    site = q.site_view(s, settings, now)
    upcoming = q.upcoming_meetings(s, settings, now)
    nxt = next((m for m in upcoming if m.status != "cancelled"), None)
    checks = q.readiness(s, settings, site, nxt)
    policy = load_policy(s, settings, now)
    restricted = Restriction(True, "the pre-meeting check")
    hosts = [("Agenda", settings.policy.democracy_host),
             ("Webcast", settings.policy.webcast_host)]
    for what, host in hosts:
        d = policy.decide_for(host, restricted)
        if d.action is Action.ALLOW:
            checks.append(q.Check(f"{what} allowed", "ok",
                                  f"A member's device in a meeting may reach {host}."))
        else:
            checks.append(q.Check(f"{what} allowed", "fail",
                                  f"A member's device in a meeting would be refused {host}: "
                                  f"{d.reason}."))
    act = q.activity(s, settings, now=now, meeting_id=None,
                     since=now - timedelta(minutes=q.PRESENT_MINUTES), feed_limit=0)
    present = sum(1 for r in act.members if r.present)
    total = len(act.members)
    checks.append(q.Check("Members' devices", "ok" if present else "warn",
                          f"{present} of {total} members have a registered device on the "
                          f"chamber Wi-Fi now (seen in the last {q.PRESENT_MINUTES} minutes)."))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts))
    futures = {pool.submit(_reach, host, url_for): host for _, host in hosts}
    try:
        done, pending = concurrent.futures.wait(futures, timeout=DEADLINE)
        for f in futures:
            if f in done:
                checks.append(f.result())
            else:
                checks.append(q.Check(f"Reach {futures[f]}", "fail",
                                      f"No answer within {DEADLINE:.0f} seconds."))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return CheckResult(checks, time.monotonic() - began)
