"""Who is restricted right now, and the firewall and the fast path kept in step with it.

The daemon's tick recomputes it; the chain's ``AllowAnswers`` step asks it to open a device's
set; the fast path's copies of clients and verdicts are refreshed from it. One object with
that one job, so the daemon only runs the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from allowlist.categories import Mode
from allowlist.decision import Policy, Restriction
from monitor.gate import fast
from monitor.gate.watch import HealthWatch
from monitor.health import Component
from monitor.incidents import IncidentLog
from monitor.nft.enforcer import Enforcer


class Restrictions:
    def __init__(self, *, policy: Callable[[], Policy | None], enforcer: Enforcer | None,
                 watch: HealthWatch, incidents: IncidentLog) -> None:
        self.policy = policy
        self.enforcer = enforcer
        self.watch = watch
        self.incidents = incidents
        self.now: dict[str, Restriction] = {}  # MAC → its restriction at the last recompute
        self.fast: fast.FastPath | None = None  # the native UDP fast path, when it runs
        self._fast_seen: tuple[object, ...] | None = None
        self._fast_policy: Policy | None = None  # the snapshot the taught verdicts came from

    def recompute(self, now: datetime, *, push: bool = True) -> list[str] | None:
        """Who is restricted at ``now``. Returns the MAC set for nftables (None without a
        firewall); ``push`` writes it at once — the ticker instead pushes it from a worker
        thread (:meth:`push`), so the DNS loop never waits on nftables' lock."""
        pol = self.policy()
        assert pol is not None
        self.now = {mac: pol.restriction(mac, now) for mac in pol.devices}
        if self.enforcer is None:
            return None
        macs = ([] if pol.mode is Mode.MONITOR_ONLY
                else [m for m, r in self.now.items() if r.restricted])
        if push:
            self.push(macs)
        return macs

    def push(self, macs: list[str] | None) -> None:
        if self.enforcer is None or macs is None:
            return
        try:
            self.enforcer.set_restricted(macs)
        except Exception as exc:
            self.watch.nft_error = f"could not update the restricted set: {exc}"
            self.incidents.error(Component.FIREWALL, "set restricted", exc)
            raise
        self.watch.nft_error = None

    def allow(self, mac: str, addrs: list[str], ttl: int) -> int:
        """Open ``mac``'s set to an allowed answer's addresses before the answer leaves."""
        if self.enforcer is None:
            return 0
        if mac not in self.enforcer.restricted:
            # Restricted a moment ago, the set not pushed yet (a worker thread does that):
            # allow now, or the member's agenda would be cut off until the next lookup.
            r, pol = self.now.get(mac), self.policy()
            if r is None or not r.restricted or pol is None or pol.mode is Mode.MONITOR_ONLY:
                return 0
        if self.fast is not None:  # one writer, one memory of what the sets hold
            return self.fast.allow(mac, addrs, ttl)
        return self.enforcer.allow(mac, addrs, ttl)

    def use_fast(self, path: fast.FastPath | None) -> None:
        """The fast path started (or failed): teach it everything afresh."""
        self.fast = path
        self._fast_seen = self._fast_policy = None
        self.fast_tick()

    def fast_tick(self) -> None:
        """Keep the fast path's copies honest: clients are re-taught every tick; verdicts
        whenever the policy, anyone's restriction or the restricted MAC set changed."""
        if self.fast is None:
            return
        pol = self.policy()
        seen = (self.now, self.enforcer.restricted if self.enforcer is not None else None)
        changed = pol is not self._fast_policy or seen != self._fast_seen
        self.fast.forget(verdicts=changed)
        self._fast_policy, self._fast_seen = pol, seen
        self.fast.fold_stats()
