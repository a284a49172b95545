"""One attempt, one observation: sightings of the same (device, name) folded together.

A phone looks a name up (often A, AAAA and HTTPS at once) and then connects with TLS or
QUIC. Every sighting of the same (device, name) — the device is its MAC when known, else its
IP — within ``window`` seconds of the first is folded into the first. The first sighting
yields a :class:`CaptureObservation` (a subclass of ``Observation``, so consumers that only
know ``Observation`` work unchanged) with ``channels`` holding the channel(s) seen so far and
an ``attempt`` id. With ``report_merges``, each *new* channel for an open attempt also yields
a ``CaptureObservation`` with ``merged=True``, the same ``attempt`` id, the first sighting's
fields and the grown ``channels`` — an update to the attempt already delivered, never a new
attempt. DHCP hostnames are deduplicated among themselves only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from allowlist.observation import Channel, Observation
from monitor.capture.counters import PipelineCounters


@dataclass(frozen=True, slots=True)
class CaptureObservation(Observation):
    """An observation from the passive monitor, with what deduplication learned.

    ``channels``: every channel this attempt was seen on (so far); ``attempt``: an id unique
    within one pipeline, shared by the first sighting and its merge updates; ``merged``: True
    for an update about an attempt already returned (only with ``report_merges``).
    """

    channels: frozenset[Channel] = frozenset()
    attempt: int = 0
    merged: bool = False


_ONE_CHANNEL = {ch: frozenset((ch,)) for ch in Channel}


class _Attempt:
    __slots__ = ("obs", "channels")

    def __init__(self, obs: CaptureObservation) -> None:
        self.obs = obs
        self.channels = {obs.channel}


class Attempts:
    """The open attempts, bounded (oldest first out) and expired by time."""

    def __init__(self, counters: PipelineCounters, *, window: float, size: int,
                 report_merges: bool, restricted: bool,
                 is_chamber: Callable[[str], bool]) -> None:
        self.counters = counters
        self.window = window
        self.size = size
        self.report_merges = report_merges
        self.restricted = restricted  # only chamber clients count (chamber networks given)
        self.is_chamber = is_chamber
        self.open: OrderedDict[tuple[str, ...], _Attempt] = OrderedDict()
        self._next = 0

    def __len__(self) -> int:
        return len(self.open)

    def record(self, ts: float, mac: str | None, ip: str | None, channel: Channel,
               name: str, out: list[Observation]) -> None:
        """Deduplicate and deliver an observation of an already normalised name."""
        c = self.counters
        if (
            self.restricted
            and ip is not None
            and channel is not Channel.DHCP
            and not self.is_chamber(ip)
        ):
            c.outside_chamber += 1
            return
        if self.window <= 0:
            self._next += 1
            c.observations += 1
            out.append(CaptureObservation(ts, mac, ip, channel, name, _ONE_CHANNEL[channel],
                                          self._next))
            return
        who = mac or ip or ""
        key = ("dhcp", who, name) if channel is Channel.DHCP else (who, name)
        attempts = self.open
        self.expire(ts)
        att = attempts.get(key)
        if att is not None:
            if channel in att.channels:
                c.duplicates += 1
                return
            att.channels.add(channel)
            c.merged += 1
            if self.report_merges:
                first = att.obs
                out.append(CaptureObservation(
                    first.ts, first.mac, first.ip, first.channel, first.domain,
                    frozenset(att.channels), first.attempt, merged=True))
            return
        self._next += 1
        obs = CaptureObservation(ts, mac, ip, channel, name, _ONE_CHANNEL[channel], self._next)
        attempts[key] = _Attempt(obs)
        if len(attempts) > self.size:
            attempts.popitem(last=False)
        c.observations += 1
        out.append(obs)

    def expire(self, now: float) -> None:
        attempts = self.open
        if not attempts:
            return
        limit = now - self.window
        while attempts:
            att = next(iter(attempts.values()))
            if att.obs.ts >= limit:
                break
            attempts.popitem(last=False)
