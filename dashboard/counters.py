"""IT's view of the gate's counters: a labelled table in plain English.

:func:`named_counters` is the one adapter between the heartbeat and this table: it takes the
typed counters the gate view carries (``GateView.counters``, read by
monitor.heartbeat.read_heartbeat; rows from before the typed heartbeat were converted by the
migration), so nothing here parses a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dashboard.queries import GateView

# name → (group, plain-English label, a non-zero value deserves IT's attention)
LABELS: dict[str, tuple[str, str, bool]] = {
    "queries": ("DNS gate", "Lookups received", False),
    "answered": ("DNS gate", "Answered by the gate itself", False),
    "forwarded": ("DNS gate", "Passed on to the council's DNS server", False),
    "refused": ("DNS gate", "Refused", False),
    "unlisted_refused": ("DNS gate", "Unlisted names refused to restricted devices", False),
    "out_of_scope": ("DNS gate", "Ignored: not from a chamber device", False),
    "malformed": ("DNS gate", "Malformed lookups (not DNS)", False),
    "rate_limited": ("DNS gate", "Slowed down: too many lookups from one device", False),
    "upstream_timeouts": ("DNS gate", "No answer from the council's DNS server in time", True),
    "upstream_errors": ("DNS gate", "Errors from the council's DNS server", True),
    "set_updates": ("DNS gate", "Firewall allow-list updates", False),
    "events": ("DNS gate", "Events recorded", False),
    "radius_received": ("Wi-Fi identity", "RADIUS accounting messages received", False),
    "radius_accepted": ("Wi-Fi identity", "RADIUS messages accepted", False),
    "radius_duplicate": ("Wi-Fi identity", "RADIUS messages repeated by the access point",
                         False),
    "radius_unknown_client": ("Wi-Fi identity", "RADIUS messages from an unknown sender", True),
    "radius_bad_authenticator": ("Wi-Fi identity", "RADIUS messages with the wrong secret",
                                 True),
    "radius_malformed": ("Wi-Fi identity", "Malformed RADIUS messages", True),
    "radius_not_accounting": ("Wi-Fi identity", "RADIUS messages that were not accounting",
                              False),
    "identity_identified": ("Wi-Fi identity", "Devices identified as a member's", False),
    "identity_unknown_user": ("Wi-Fi identity", "Sign-ins naming no member", False),
    "identity_store_failures": ("Wi-Fi identity", "Identities that could not be saved", True),
    "identity_hostapd_errors": ("Wi-Fi identity", "Errors reading the access point", True),
    "identity_radius_dropped": ("Wi-Fi identity", "RADIUS messages dropped (too busy)", True),
}
ERROR_PREFIX = "error."  # the gate's own failures, by where they happened


@dataclass(frozen=True, slots=True)
class CounterRow:
    group: str
    label: str
    name: str  # the counter's own name, for IT searching logs or the docs
    value: int
    attention: bool  # non-zero, and of a kind that means something is wrong


def named_counters(gate: GateView) -> dict[str, int]:
    """The gate's counters by name (none before the gate has reported any)."""
    return gate.counters.named() if gate.counters is not None else {}


def counter_rows(counters: Mapping[str, int]) -> list[CounterRow]:
    """One row per counter: known ones in the order of :data:`LABELS`, then the gate's own
    errors, then any a newer gate added (under their own name)."""
    rows: list[CounterRow] = []
    for name, (group, label, bad) in LABELS.items():
        if name in counters:
            n = counters[name]
            rows.append(CounterRow(group, label, name, n, bad and n > 0))
    for name in sorted(counters):
        if name in LABELS:
            continue
        n = counters[name]
        if name.startswith(ERROR_PREFIX):
            where = name.removeprefix(ERROR_PREFIX)
            rows.append(CounterRow("The gate's own errors", f"Failures in {where}", name, n,
                                   n > 0))
        else:
            rows.append(CounterRow("Other", name.replace("_", " ").capitalize(), name, n,
                                   False))
    return rows
