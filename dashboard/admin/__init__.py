"""IT's pages, one router per domain: site mode and the overview, the allowlist (rules,
presets, "why is X allowed?"), platforms, members and devices, meetings, users and roles —
and the audit log.

Every page works without JavaScript. A successful change redirects back to its page with a
fixed message (``?done=``); a refused one re-renders the page with the service's own words
and the form as typed. Destructive or risky changes ask first (a confirmation page, or a
dialog from confirm.js). All writes go through the api services, so they are validated and
audited exactly as the JSON API's are.
"""

from __future__ import annotations

from fastapi import APIRouter

from dashboard.admin import (
    allowlist,
    audit,
    devices,
    meetings,
    members,
    platforms,
    presets,
    rules,
    site,
    users,
)

router = APIRouter(include_in_schema=False)
for _domain in (site, allowlist, rules, presets, platforms, devices, members, meetings, users,
                audit):
    router.include_router(_domain.router)
