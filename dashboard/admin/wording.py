"""The fixed words of IT's pages: what a done change says, what switching a preset off
costs, the category and role names. Kept together so the pages say one thing one way."""

from __future__ import annotations

from api.auth.roles import Role

DONE = {
    "mode": "Site mode changed.",
    "rule-added": "Rule added. The gate picks it up within a few seconds.",
    "rule-deleted": "Rule deleted.",
    "preset-on": "Preset switched on.",
    "preset-off": "Preset switched off.",
    "platform-added": "Platform domains added.",
    "platform-removed": "Platform domain removed.",
    "member-added": "Member added.",
    "member-updated": "Member updated.",
    "device-added": "Device added.",
    "device-added-randomised": "Device added. Its address is a private (randomised) one: it "
                               "stays the same on this Wi-Fi unless the phone is set to rotate "
                               "it; if it changes, the device appears under “Seen but not "
                               "registered” again.",
    "device-claimed": "Device registered to the member.",
    "device-revoked": "Device revoked: it is no longer restricted during meetings.",
    "meeting-added": "Meeting added.",
    "meeting-updated": "Meeting changed.", "meeting-cancelled": "Meeting cancelled.",
    "meeting-deleted": "Meeting deleted.",
    "scope": "Committee scope changed.",
    "user-added": "User added.",
    "user-updated": "User updated.",
}
PRESET_WARNING = {
    "os-connectivity": "Without this preset, phones decide the chamber Wi-Fi has no internet "
                       "and leave it for mobile data — where nothing is filtered or recorded.",
    "moderngov": "Without this preset, members cannot open their agenda papers during "
                 "meetings.",
    "public-i": "Without this preset, members cannot watch the webcast during meetings.",
    "certificates": "Without this preset, secure sites (including the agenda) may fail to "
                    "open on some devices.",
}
CATEGORY_TEXT = {
    "agenda": "Agenda (allowed)", "webcast": "Webcast (allowed)",
    "essential": "Essential (allowed)", "platform": "Social platform (refused)",
    "blocked": "Blocked (refused)",
}
ROLE_TEXT = {Role.CLERK: "Clerk", Role.IT_ADMIN: "IT admin",
             Role.MONITORING_OFFICER: "Monitoring officer", Role.VIEWER: "Viewer (read-only)"}
