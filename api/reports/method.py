"""The "method and limits" section, generated from the settings and conditions in force.

A standards hearing weighs what the numbers can and cannot show; the report says it in
the same document, from the real configuration (gap, grace, topology, mode), never as a
fixed boilerplate that might not match the installation.
"""

from __future__ import annotations

from typing import Any

from monitor.evidence.episodes import rule_of
from monitor.settings import Settings

TOPOLOGY: dict[str, tuple[str, str]] = {
    "inline": ("Inline gateway",
               "The chamber Wi-Fi was routed through chamberguard: refused names were "
               "answered as non-existent and connections outside the agenda, webcast and "
               "essential services were blocked, and attempts were recorded."),
    "resolver-only": ("Resolver only",
                      "chamberguard answered the chamber's DNS only; routing stayed on the "
                      "council's equipment. A device that used another resolver or a typed-in "
                      "address was not stopped, and only its DNS lookups were seen."),
    "mirror": ("Mirror port",
               "chamberguard observed a copy of the chamber traffic and blocked nothing: "
               "every contact in this report was observed, not prevented."),
}
MODE_TEXT = {
    "enforce": "enforce (members' registered devices were restricted while in session)",
    "monitor-only": "monitor-only (attempts were recorded, nothing was blocked)",
}


def _common(settings: Settings) -> list[dict[str, str]]:
    gap = settings.policy.episode_gap_minutes
    rule = rule_of(settings).opened
    title, text = TOPOLOGY[settings.site.topology]
    return [
        {"title": "What was monitored",
         "text": f"Only traffic on the chamber Wi-Fi in room \"{settings.site.room}\" that "
                 "passed through chamberguard. A device using mobile data (4G/5G), a "
                 "personal hotspot or any other network is invisible to it, so the absence "
                 "of a record does not show that a device was not used."},
        {"title": "Deployment",
         "text": f"{title}. {text}"},
        {"title": "What counts as an episode",
         "text": f"A device's lookups of one platform belong to one episode while each comes "
                 f"less than {gap} minute{'s' if gap != 1 else ''} after the previous one "
                 f"(setting policy.episode_gap_minutes = {gap}); a lookup {gap} minute"
                 f"{'s' if gap != 1 else ''} or more after the previous one starts a new "
                 "episode. Episodes are counted first; the lookups themselves are listed in "
                 "the appendix and the lookups CSV."},
        {"title": "Likely opened or likely background",
         "text": f"Rule: {rule.describe()} (settings policy.opened_min_hosts = "
                 f"{rule.min_hosts} and policy.opened_within_seconds = "
                 f"{int(rule.within.total_seconds())}). Opening an app or loading a site "
                 "fetches several of the platform's names at once (its interface, images and "
                 "files); a background refresh or a notification keep-alive touches one or "
                 "two. Limits: this is a likelihood, not proof either way. Background sync "
                 "that fetches images can look opened; an app that was opened but had its "
                 "content cached, or a page embedding one element of a platform, can look "
                 "like background. The facts behind each label (names, lookups, duration, "
                 "whether a connection was attempted) are listed with every episode."},
        {"title": "Background traffic",
         "text": "Phones and tablets reach for platforms on their own — notifications, "
                 "background refresh, sync, and content from other sites or apps that embed "
                 "a platform. A recorded lookup shows what the device asked for, not that "
                 "the member opened an app or looked at it."},
        {"title": "Words used",
         "text": "\"Looked up X — refused\": the device asked the chamber's DNS for a name of "
                 "the platform and was refused; nothing reached the platform. \"Tried to "
                 "connect … at an address it had cached\": an app tried to reach a platform "
                 "address it already knew, and was refused. \"Connected to X\": traffic "
                 "reached the platform (monitor-only mode, or seen by the passive sensor). "
                 "\"Used another DNS service (often a browser or phone default)\": encrypted "
                 "DNS (DoH, DoT), another resolver or a relay check — browsers and phones "
                 "switch these on by default, so it is not in itself an intent. One try of "
                 "another DNS service is one record."},
        {"title": "Attribution",
         "text": "Each device is attributed to a member by one of four sources, named "
                 "beside the device: a Wi-Fi key (the member's own passphrase; the access "
                 "point reported which key the device used), a RADIUS user (the member's "
                 "own Wi-Fi login, from the network's accounting records), a registration "
                 "code (the member registered the device's Wi-Fi (MAC) address themselves), "
                 "or the MAC address only (IT registered it). A Wi-Fi key or login follows "
                 "the member when a phone changes its private address; a MAC address does "
                 "not, and a lent or shared device, a shared key or login, or a wrong "
                 "registration would be attributed wrongly."},
        {"title": "What is recorded",
         "text": "Only lookups of and connections to social platforms, and uses of another "
                 "DNS service (other resolvers, encrypted DNS, relay check names). Page "
                 "addresses, content and other browsing are never recorded."},
        {"title": "Times",
         "text": "Times are UK local time (Europe/London), stored in UTC."},
        {"title": "Integrity",
         "text": "Every event is hash-chained as it is written (SHA-256, each event linked "
                 "to the one before). This report names the last event it covers, the chain "
                 "head and the anchor when it was made, and is signed with this "
                 "installation's Ed25519 key. The chain head is also checkpointed outside "
                 "the database (a signed file in the data directory and the system log) on "
                 "each report, each purge and daily, so a chain recomputed by someone with "
                 "database access is detected. The command \"chamberguard report verify "
                 "FILE\" (or the Verify page) detects any change to this file and says "
                 "ALTERED if the events it was made from have changed since; \"chamberguard "
                 "verify-chain\" checks every event."},
        {"title": "Retention",
         "text": f"Events are kept {settings.retention.events_days} days and the register "
                 f"of issued reports {settings.retention.reports_years} years; a purge keeps "
                 "the chain verifiable from the oldest event retained."},
    ]


NOTICE = ("Members are told what is recorded, for how long and who sees it in the notice "
          "\"How chamberguard records devices during council meetings\", generated from the "
          "same configuration as this report: on the chamber registration page "
          "(/register/privacy), given with each registration code, and printable from the "
          "dashboard.")


def _privacy_entries(privacy: dict[str, Any] | None) -> list[dict[str, str]]:
    """The privacy level the events were stored under, and the notice members were given."""
    out = []
    if privacy:
        text = (f"Privacy level for {privacy.get('scope', 'this report')}: "
                f"{privacy['level']} — {privacy['text']}.")
        if privacy.get("collapsed_at"):
            text += (f" The meeting's {privacy.get('collapsed_events', 0)} individual events "
                     f"were deleted at {privacy['collapsed_at']}, after its report was signed; "
                     "only the per member totals remain (listed in the report's data), and "
                     "the hash chain records where they were.")
        out.append({"title": "Privacy level", "text": text})
    out.append({"title": "Notice to members", "text": NOTICE})
    return out


def meeting_method(settings: Settings, cond: dict[str, Any]) -> list[dict[str, str]]:
    """Method and limits for one meeting (``cond``: the report's conditions section)."""
    grace = settings.policy.grace_minutes
    out = _common(settings) + _privacy_entries(cond.get("privacy"))
    mode = MODE_TEXT.get(cond["mode_at_start"], cond["mode_at_start"])
    changes = cond.get("mode_changes") or []
    mode_text = f"The site mode at the start of the meeting was {mode}"
    if changes:
        mode_text += "; it was changed during the meeting (" + "; ".join(
            f"{c['from']} to {c['to']} at {c['at']} by {c['by']}" for c in changes) + ")"
    mode_text += (f". Of the records, {cond.get('refused', 0)} were refused and "
                  f"{cond.get('observed_only', 0)} not blocked (observed only).")
    out.insert(2, {"title": "Mode", "text": mode_text})
    out.insert(3, {"title": "When a record counts for this meeting",
                   "text": "When the gate recorded it while the meeting was in session: from "
                           "the clerk's start (or resume) to the clerk's adjournment or end; "
                           "where the clerk did not act, from the scheduled start less "
                           f"{grace} minutes to the scheduled end plus {grace} minutes "
                           f"(setting policy.grace_minutes = {grace}). Adjournments are not "
                           "in session."})
    if cond.get("policy_changes") or cond.get("rules_allowing_platforms"):
        out.insert(2, {"title": "Changes during the meeting",
                       "text": "The policy changed during the meeting, or a rule allowing a "
                               "social platform or a public suffix was active (listed under "
                               "Conditions, with who and when). While a rule allows a name, "
                               "nothing under it is refused or recorded."})
    out.insert(4, {"title": "Gate outages",
                   "text": "During an outage nothing was restricted or recorded: the chamber "
                           "fails open so members keep their papers. Outages and uptime come "
                           "from the outage records the gate writes when it fails open and "
                           "when it restarts; an outage whose end is not recorded is counted "
                           "up to the time of this report."})
    out.insert(5, {"title": "Who is listed",
                   "text": "A member is listed when a device registered to them was recorded "
                           "during the meeting, or was last seen on the chamber Wi-Fi during "
                           "it. Not being listed says nothing about attendance."})
    return out


def range_method(settings: Settings, privacy: dict[str, Any] | None = None
                 ) -> list[dict[str, str]]:
    """Method and limits for a member's or the site's report over a period."""
    out = _common(settings) + _privacy_entries(privacy)
    out.insert(2, {"title": "Mode",
                   "text": "Each meeting's mode is in its own meeting report; records "
                           "observed in monitor-only mode were not blocked."})
    out.insert(3, {"title": "When a record counts",
                   "text": "Records are counted for the meeting the gate found in session "
                           "when it recorded them (clerk actions, or the schedule ± "
                           f"{settings.policy.grace_minutes} minutes)."})
    return out
