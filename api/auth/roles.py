"""Roles and what each may do. Every route names the roles it admits (see deps.require)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    CLERK = "clerk"
    IT_ADMIN = "it_admin"
    MONITORING_OFFICER = "monitoring_officer"
    VIEWER = "viewer"


ALL = frozenset(Role)
LIVE_VIEW = frozenset({Role.CLERK, Role.IT_ADMIN, Role.MONITORING_OFFICER, Role.VIEWER})
CLERK_ACTIONS = frozenset({Role.CLERK})
CONFIGURE = frozenset({Role.IT_ADMIN})
REPORTS = frozenset({Role.CLERK, Role.MONITORING_OFFICER})
AUDIT = frozenset({Role.MONITORING_OFFICER})
