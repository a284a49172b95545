"""Adding and deleting allowlist rules; a risky rule is asked about first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from allowlist.categories import Category
from api.errors import ServiceError
from api.rules import service as rules
from api.session import DbSession, attempt
from api.validation import IdPath
from dashboard.admin.allowlist import allowlist_view
from dashboard.admin.common import Admin, confirm, redirect_done

router = APIRouter(include_in_schema=False)


@router.post("/admin/allowlist/rules", response_class=HTMLResponse)
def add_rule(
    request: Request, s: DbSession, who: Admin,
    domain: Annotated[str, Form(max_length=300)],
    category: Annotated[str, Form(max_length=20)],
    platform: Annotated[str, Form(max_length=50)] = "",
    exact: Annotated[str, Form(max_length=5)] = "",
    note: Annotated[str, Form(max_length=600)] = "",
    confirm_effect: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A rule that would allow a platform or a public suffix is asked about first: the
    confirmation page names its effect and sends it back as ``confirm_effect``."""
    try:
        with attempt(s):
            rules.create_rule(s, domain=domain, category=category,
                              platform=platform.strip() if category == Category.PLATFORM.value
                              and platform.strip() else None,
                              exact=bool(exact), note=note, actor=who.username,
                              confirm_effect=confirm_effect or None)
    except rules.ConfirmationNeeded as exc:
        eff = str((exc.details or {}).get("effect", ""))
        return confirm(request, title="This rule opens a platform or a public suffix",
                       message=eff, action="/admin/allowlist/rules",
                       fields={"domain": domain, "category": category, "platform": platform,
                               "exact": exact, "note": note, "confirm_effect": eff},
                       yes="I understand: add the rule", back="/admin/allowlist")
    except ServiceError as exc:
        return allowlist_view(request, s, error=exc.message, status=exc.status,
                              form={"domain": domain, "category": category,
                                    "platform": platform, "exact": exact, "note": note})
    return redirect_done("/admin/allowlist", "rule-added")


@router.post("/admin/allowlist/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(request: Request, s: DbSession, rule_id: IdPath, who: Admin,
                confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with attempt(s):
            r = rules.get_rule(s, rule_id=rule_id)
            if confirmed != "1":
                what = f"{r.domain}{'' if r.exact else ' and its subdomains'}"
                return confirm(request, title="Delete this rule?",
                               message=f"The rule for {what} ({r.category}) will be deleted. "
                               "Names it matched fall back to the presets and catalogue.",
                               action=f"/admin/allowlist/rules/{rule_id}/delete", fields={},
                               yes="Yes, delete the rule", back="/admin/allowlist")
            rules.delete_rule(s, rule_id=rule_id, actor=who.username)
    except ServiceError as exc:
        return allowlist_view(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/allowlist", "rule-deleted")
