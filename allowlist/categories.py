"""What a name is for. Only the first three categories pass for a restricted device."""

from __future__ import annotations

import enum


class Category(enum.StrEnum):
    AGENDA = "agenda"  # the council's modern.gov site and its documents
    WEBCAST = "webcast"  # the webcast player and its asset hosts
    ESSENTIAL = "essential"  # OS connectivity checks, OCSP/CRL, time, registration page
    PLATFORM = "platform"  # a social platform from the catalogue (see Rule.platform)
    BLOCKED = "blocked"  # IT said: never during meetings
    BYPASS = "bypass"  # canaries, DoH/DoT resolvers: ways round the gate
    UNLISTED = "unlisted"  # no rule matched


ALLOWED_CATEGORIES = frozenset({Category.AGENDA, Category.WEBCAST, Category.ESSENTIAL})


class Origin(enum.StrEnum):
    """Who put a rule there; IT-entered rules win over presets at the same name."""

    IT = "it"
    PRESET = "preset"
    CATALOGUE = "catalogue"
    BYPASS_LIST = "bypass-list"


class BypassKind(enum.StrEnum):
    CANARY = "canary"  # use-application-dns.net, iCloud Private Relay
    DOH = "doh"
    DOT = "dot"
    QUIC = "quic"
    RESOLVER = "resolver"  # DNS sent to a resolver other than the gate


class Mode(enum.StrEnum):
    ENFORCE = "enforce"
    MONITOR_ONLY = "monitor-only"
