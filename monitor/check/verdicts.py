"""Facts in, green/red lines out: every judgement of the pre-meeting check, with no I/O.

The probe (:mod:`monitor.check.probe`) gathers the facts on the gate; these functions say
what they mean for the meeting, in plain words a clerk can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.check.model import Item, Line, Status
from monitor.health import ComponentHealth, State

# The presets without which members lose their papers, the webcast or the Wi-Fi itself.
ESSENTIAL_PRESETS = ("moderngov", "public-i", "os-connectivity")
NAMES_SHOWN = 5  # missing members named on the devices line before "and N more"


@dataclass(frozen=True, slots=True)
class Fetch:
    """One HTTP(S) request to one address an allowed answer gave."""

    address: str
    status: int | None = None  # the HTTP status, None when nothing came back
    error: str = ""  # why nothing came back


@dataclass(frozen=True, slots=True)
class Reach:
    """A host looked up through the gate as a restricted member device, then fetched."""

    item: Item
    host: str
    answered: bool = True  # False: no answer within the deadline
    refused: bool = False  # the gate's policy refused the name
    reason: str = ""  # the policy's reason (why refused / why allowed)
    rcode: str = "NOERROR"
    addresses: tuple[str, ...] = ()
    fetches: tuple[Fetch, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Firewall:
    wanted: bool  # this topology enforces with nftables
    why_not: str = ""  # when not wanted: why (topology, switched off)
    table_present: bool = False
    error: str = ""  # why the table could not be listed / the firewall is down


@dataclass(frozen=True, slots=True)
class Attendance:
    meeting: str | None  # the current or next meeting's title (None: none scheduled)
    in_session: bool
    expected: tuple[str, ...]  # members with a registered device
    present: tuple[str, ...]  # of those, seen on the chamber Wi-Fi recently
    minutes: int  # "recently"


def gate_line(h: ComponentHealth | None) -> Line:
    if h is None or h.state is State.UP:
        return Line(Item.GATE, Status.OK, "Running: it answered this check.")
    return Line(Item.GATE, Status.FAIL, f"Running but {h.state.value}: {h.why}.")


def firewall_line(fw: Firewall, monitor_only: bool) -> Line:
    if not fw.wanted:
        return Line(Item.FIREWALL, Status.WARN,
                    f"Not used here ({fw.why_not}): a device that avoids the gate's DNS is "
                    "not stopped.")
    if not fw.table_present:
        why = f" ({fw.error})" if fw.error else ""
        return Line(Item.FIREWALL, Status.FAIL,
                    f"The gate's nftables table is missing{why}: restricted devices can reach "
                    "sites by address.")
    if fw.error:
        return Line(Item.FIREWALL, Status.FAIL, f"The nftables table is there but {fw.error}.")
    if monitor_only:
        return Line(Item.FIREWALL, Status.WARN,
                    "The nftables table is in place but not enforcing: the site is in "
                    "monitor-only mode.")
    return Line(Item.FIREWALL, Status.OK, "The gate's nftables table is in place and enforcing.")


def sensor_line(h: ComponentHealth | None) -> Line:
    if h is None:
        return Line(Item.SENSOR, Status.FAIL, "The gate has not reported on the sensor yet.")
    if h.state is State.UP:
        return Line(Item.SENSOR, Status.OK, "Capturing: attempts that skip the gate are seen.")
    if h.state is State.OFF:
        return Line(Item.SENSOR, Status.WARN,
                    f"Not in use ({h.why}): attempts that skip the gate's DNS are not seen.")
    return Line(Item.SENSOR, Status.FAIL,
                f"Not working ({h.why}): attempts that skip the gate's DNS are not seen.")


def mode_line(monitor_only: bool) -> Line:
    if monitor_only:
        return Line(Item.MODE, Status.WARN, "Monitor-only: attempts are recorded, nothing is "
                    "blocked.")
    return Line(Item.MODE, Status.OK, "Enforcing during meetings.")


def presets_line(enabled: Sequence[str]) -> Line:
    missing = [p for p in ESSENTIAL_PRESETS if p not in set(enabled)]
    if missing:
        return Line(Item.PRESETS, Status.FAIL,
                    f"Off: {', '.join(missing)}. Members may lose their papers, the webcast, "
                    "or the Wi-Fi itself.")
    return Line(Item.PRESETS, Status.OK,
                "Agenda, webcast and phone connectivity checks are allowed.")


def reach_line(r: Reach, deadline: float) -> Line:
    """Can a member's device in a meeting look the host up and load it?"""
    what = "the agenda" if r.item is Item.AGENDA else "the webcast"
    if not r.host:
        return Line(r.item, Status.WARN, f"No host is configured for {what} "
                    "([policy] in the configuration).")
    if not r.answered:
        return Line(r.item, Status.FAIL,
                    f"Looking up {r.host} got no answer within {deadline:.0f} seconds.")
    if r.refused:
        return Line(r.item, Status.FAIL,
                    f"A member's device in a meeting would be refused {r.host} ({r.reason}). "
                    "Turn the preset back on or add a rule for it.")
    if r.rcode != "NOERROR":
        why = ("the upstream resolver did not answer" if r.rcode == "SERVFAIL"
               else f"the upstream resolver answered {r.rcode}")
        return Line(r.item, Status.FAIL,
                    f"{r.host} is allowed, but it does not resolve: {why}.")
    if not r.addresses:
        return Line(r.item, Status.FAIL, f"{r.host} is allowed, but it resolves to no address.")
    ok = [f for f in r.fetches if f.status is not None]
    bad = [f for f in r.fetches if f.status is None]
    if not ok:
        errors = "; ".join(sorted({f.error for f in r.fetches if f.error})) or "no answer"
        return Line(r.item, Status.FAIL,
                    f"{r.host} is allowed and resolves to {', '.join(r.addresses)}, but the site "
                    f"does not answer ({errors}).")
    codes = ", ".join(str(c) for c in sorted({f.status for f in ok if f.status is not None}))
    if all(f.status is not None and f.status >= 500 for f in ok):
        return Line(r.item, Status.FAIL,
                    f"{r.host} is allowed and reachable, but the site reports an error "
                    f"(HTTP {codes}).")
    if bad:
        return Line(r.item, Status.WARN,
                    f"{r.host} is allowed and answers on {', '.join(f.address for f in ok)} "
                    f"(HTTP {codes}), but not on {', '.join(f.address for f in bad)} "
                    f"({'; '.join(sorted({f.error for f in bad}))}).")
    return Line(r.item, Status.OK,
                f"A member's device in a meeting may reach {r.host}: it resolves to "
                f"{', '.join(r.addresses)} and answers (HTTP {codes}).")


def devices_line(a: Attendance) -> Line:
    n = len(a.expected)
    if not n:
        return Line(Item.DEVICES, Status.FAIL,
                    "No member devices are registered: nothing will be restricted.")
    meeting = (f" for {a.meeting}" if a.meeting else "")
    missing = [m for m in a.expected if m not in set(a.present)]
    seen = f"seen in the last {a.minutes} minutes"
    if not missing:
        return Line(Item.DEVICES, Status.OK,
                    f"All {n} members with a registered device{meeting} are on the chamber "
                    f"Wi-Fi ({seen}).")
    named = ", ".join(missing[:NAMES_SHOWN])
    more = f" and {len(missing) - NAMES_SHOWN} more" if len(missing) > NAMES_SHOWN else ""
    return Line(Item.DEVICES, Status.WARN,
                f"{n - len(missing)} of {n} members have a registered device on the chamber "
                f"Wi-Fi{meeting} ({seen}); not yet: {named}{more}.")


def ready(lines: Sequence[Line]) -> bool:
    return all(ln.status is not Status.FAIL for ln in lines)
