"""Raw names from the wire (DNS, SNI, HTTP Host, DHCP hostname) → normalised host names.

Both frame paths spell a name the way the gate does (:func:`allowlist.names.wire_name`) and
keep only valid host names; two bounded caches make the common case (a name seen moments
ago) one dictionary lookup.
"""

from __future__ import annotations

import re
from typing import Protocol

from allowlist.names import DomainError, fast_normalise, normalise_domain, wire_name
from allowlist.observation import Channel, Observation
from monitor.capture.addresses import CACHE_LIMIT
from monitor.capture.counters import PipelineCounters

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_WIRE_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")


def normalise(raw: str, idn: bool = False) -> str | None:
    """Normalised name or None. Wire names must be ASCII (IDNs travel as A-labels);
    DHCP hostnames may be UTF-8 and are converted like names typed by IT."""
    name = fast_normalise(raw)
    if (
        name is not None
        and len(name) <= 253
        and _WIRE_NAME.fullmatch(name) is not None
        and not name.rpartition(".")[2].isdigit()
    ):
        return name
    if not idn and not raw.isascii():
        return None
    try:
        return normalise_domain(raw)
    except DomainError:
        return None


def from_wire(wire: bytes) -> str | None:
    """Uncompressed wire-format labels (without the root label) → normalised name, "" for
    an invalid name, None where :func:`monitor.dnswire.read_name` must decode them
    (pointers, over-long, a length that does not end at the zero)."""
    n = len(wire)
    if n > 255:
        return None
    pos = 0
    while pos < n:
        ln = wire[pos]
        if ln & 0xC0:
            return None
        pos += ln + 1
    if pos != n:
        return None
    labels = []
    pos = 0
    while pos < n:
        ln = wire[pos]
        labels.append(wire[pos + 1 : pos + 1 + ln])
        pos += ln + 1
    # the gate's spelling (escapes and all); normalise then keeps only valid host names
    return normalise(wire_name(labels)) or ""


class Emit(Protocol):
    """Normalise a raw name (:meth:`Names.clean`) and record it (attempts.Attempts.record)."""

    def __call__(self, ts: float, mac: str | None, ip: str | None, channel: Channel,
                 raw: str, out: list[Observation], idn: bool = False) -> None: ...


class Names:
    """The two caches: DNS question wire bytes → name, and raw text names → name ("" where
    the name is not a valid host name)."""

    def __init__(self, counters: PipelineCounters) -> None:
        self.counters = counters
        self.questions: dict[bytes, str] = {}  # never replaced: the lean path reads it
        self._raw: dict[str, str] = {}

    def question(self, wire: bytes) -> str | None:
        """:func:`from_wire`, cached (None is never cached: the general path decodes it)."""
        name = self.questions.get(wire)
        if name is None:
            name = from_wire(wire)
            if name is None:
                return None
            if len(self.questions) >= CACHE_LIMIT:
                self.questions.clear()
            self.questions[wire] = name
        return name

    def clean(self, raw: str, idn: bool = False) -> str:
        """The normalised name, or "" (counted as invalid) where there is none."""
        if idn:
            name = normalise(raw, True) or ""
        else:
            cache = self._raw
            hit = cache.get(raw)
            if hit is None:
                hit = normalise(raw) or ""
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cache[raw] = hit
            name = hit
        if not name:
            self.counters.invalid_names += 1
        return name
