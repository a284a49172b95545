"""The words: one vocabulary for the live feed, the reports, the CSVs and the API.

The evidence is about elected members, so every sentence says exactly what the gate saw and
no more:

* a refused DNS lookup is "looked up X — refused": nothing reached the platform;
* "connected to X" only where traffic reached the platform (monitor-only, or seen by the
  passive sensor);
* an app's connection to a platform address it had cached is a *platform attempt*
  ("tried to connect to X … — refused"), never a bypass;
* a bypass is another DNS service (DoH, DoT, another resolver, a relay or canary check),
  worded "used another DNS service (often a browser or phone default)": a browser's
  automatic secure DNS is a default, not an intent;
* an episode says whether the app or site was likely opened or the activity was likely
  background (see :mod:`allowlist.episodes`), with its facts.

Pure text from plain values: no I/O. Golden tests pin every sentence
(tests/allowlist/test_wording.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from allowlist.categories import BypassKind
from allowlist.episodes import CONNECTION_CHANNELS, Episode, EpisodeLabel
from allowlist.events import LOOKUP_KINDS, EventAction, EventKind

DASH = "—"
ANOTHER_DNS = "used another DNS service (often a browser or phone default)"
LABEL_TEXT = {EpisodeLabel.OPENED: "app or site likely opened",
              EpisodeLabel.BACKGROUND: "background activity likely"}
# What the other DNS service was, by the event's detail (its first word, before any colon).
BYPASS_HOW = {
    BypassKind.CANARY.value: "checked a name that decides whether it may be used",
    BypassKind.DOH.value: "DNS over HTTPS",
    BypassKind.DOT.value: "DNS over TLS",
    BypassKind.RESOLVER.value: "DNS sent to another resolver",
    "DNS sent to another resolver": "DNS sent to another resolver",
    BypassKind.QUIC.value: "QUIC (UDP 443)",  # events written before platform QUIC was told apart
}


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def who(member: str | None, device: str | None) -> str:
    """"Cllr A's device (iPad)", "A device (iPad)", "A device"."""
    w = f"{member}'s device" if member else "A device"
    return w + (f" ({device})" if device else "")


def verdict(action: str, channels: str | None = "dns") -> str:
    """The outcome in words: refused, or how it got through."""
    if action == EventAction.REFUSED:
        return "refused"
    chans = set((channels or "dns").split(","))
    if chans & CONNECTION_CHANNELS and action == EventAction.OBSERVED:
        return "not blocked (seen by the sensor)"
    if action == EventAction.OBSERVED:
        return "not blocked (monitor-only)"
    return "allowed"


def is_connection(channels: str | None) -> bool:
    return bool(set((channels or "dns").split(",")) & CONNECTION_CHANNELS)


def bypass_kind(detail: str | None) -> str:
    """The stored detail's first word ("doh", "dot: …", "canary"), or the detail itself."""
    d = (detail or "").strip()
    return d.split(":", 1)[0].strip() if d else ""


def bypass_how(detail: str | None) -> str:
    k = bypass_kind(detail)
    return BYPASS_HOW.get(k, k or "another DNS service")


def lookup_phrase(kind: str, action: str, target: str | None, domain: str | None,
                  channels: str | None, detail: str | None) -> str:
    """The predicate of an event's sentence (after "who"), e.g. "looked up
    i.instagram.com (Instagram) — refused"."""
    name = domain or "a name"
    if kind == EventKind.BYPASS:
        how = bypass_how(detail)
        where = f" ({domain})" if domain else ""
        if action == EventAction.REFUSED:
            return f"{ANOTHER_DNS}: {how}{where} {DASH} refused"
        if (detail or "").startswith("DNS sent to another resolver") or \
                bypass_kind(detail) == BypassKind.RESOLVER.value:
            return f"{ANOTHER_DNS}: {how}{where} {DASH} answered by the chamber's DNS instead"
        return f"{ANOTHER_DNS}: {how}{where} {DASH} {verdict(action, channels)}"
    label = f"{name} ({target})" if target and target != domain else name
    if action != EventAction.REFUSED:
        return f"connected to {target or name}" + \
            (f" ({domain})" if domain and target else "") + f" {DASH} {verdict(action, channels)}"
    if is_connection(channels):
        cached = (detail or "").startswith("connection to a cached address")
        how = " at an address it had cached" if cached else ""
        return f"tried to connect to {label}{how} {DASH} refused"
    return f"looked up {label} {DASH} refused"


def event_sentence(kind: str, action: str, *, target: str | None, domain: str | None,
                   channels: str | None, detail: str | None, member: str | None,
                   device: str | None) -> str:
    """One neutral sentence for one event: what a device did, never what a person meant."""
    w = who(member, device)
    if kind in LOOKUP_KINDS:
        return f"{w} {lookup_phrase(kind, action, target, domain, channels, detail)}"
    if kind == EventKind.OUTAGE:
        return detail or "The gate reported an outage"
    if kind == EventKind.DEVICE_SEEN:
        if not member:  # the gate only reports devices nobody has registered yet
            return "An unregistered device joined the chamber Wi-Fi (IT can claim it)"
        return f"{w} joined the chamber Wi-Fi"
    return f"{w}: {kind}"


@dataclass(frozen=True, slots=True)
class EpisodeFacts:
    """What an episode's sentence and table rows show (from :class:`Episode`)."""

    platform_name: str
    lookups: int
    hosts: int
    seconds: int
    connection: bool
    reached: bool
    label: EpisodeLabel

    @classmethod
    def of(cls, ep: Episode, platform_name: str) -> EpisodeFacts:
        return cls(platform_name, ep.lookups, len(ep.domains), ep.seconds, ep.connection,
                   ep.reached, ep.label)


def duration(seconds: int) -> str:
    if seconds < 60:
        return plural(seconds, "second")
    m, s = divmod(seconds, 60)
    return plural(m, "minute") + (f" {s} s" if s else "")


def episode_verb(f: EpisodeFacts) -> str:
    """What the device did in the episode, at its strongest provable."""
    p = f.platform_name
    if f.reached:
        return f"connected to {p}"
    if f.connection:
        return f"looked up and tried to connect to {p} {DASH} refused"
    return f"looked up {p} {DASH} refused"


def episode_sentence(f: EpisodeFacts, member: str | None, device: str | None) -> str:
    """E.g. "Cllr A's device (iPad) looked up Instagram — refused: 12 lookups of 5 names
    over 8 seconds; app or site likely opened"."""
    span = "at once" if f.seconds == 0 else f"over {duration(f.seconds)}"
    return (f"{who(member, device)} {episode_verb(f)}: {plural(f.lookups, 'lookup')} of "
            f"{plural(f.hosts, 'name')} {span}; {LABEL_TEXT[f.label]}")


def label_text(label: EpisodeLabel | str) -> str:
    return LABEL_TEXT[EpisodeLabel(label)]
