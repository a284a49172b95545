"""Roles and what each may do. Every route names the roles it admits (see deps.require).

The sets below are the whole permission model: a route picks one, and the route-permission
test proves from the route table that nobody outside the set gets through.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    CLERK = "clerk"
    IT_ADMIN = "it_admin"
    MONITORING_OFFICER = "monitoring_officer"
    VIEWER = "viewer"


ALL = frozenset(Role)
# The live view (events, meetings and their state, site mode): everyone who may log in.
LIVE_VIEW = frozenset({Role.CLERK, Role.IT_ADMIN, Role.MONITORING_OFFICER, Role.VIEWER})
# Start / adjourn / resume / end a meeting: the clerk runs the meeting, nobody else.
CLERK_ACTIONS = frozenset({Role.CLERK})
# Allowlist, presets, platforms, devices, members, manual meetings, users, site mode.
CONFIGURE = frozenset({Role.IT_ADMIN})
REPORTS = frozenset({Role.CLERK, Role.MONITORING_OFFICER})
# "Check the chamber now" before a meeting: the clerk who runs it and IT who fixes it.
CHAMBER_CHECK = frozenset({Role.CLERK, Role.IT_ADMIN})
# The audit trail: the monitoring officer oversees it; IT needs it to trace its own changes.
AUDIT = frozenset({Role.MONITORING_OFFICER, Role.IT_ADMIN})
# "Why was this name refused?": IT tuning the allowlist, the officer checking a report.
EXPLAIN = frozenset({Role.IT_ADMIN, Role.MONITORING_OFFICER})
# The DPIA draft (data protection): IT, who runs the system, and the officer, who oversees it.
PRIVACY = frozenset({Role.IT_ADMIN, Role.MONITORING_OFFICER})
