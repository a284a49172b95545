"""The registration slip IT hands a member: name, one-time code, its expiry in UK time, the
chamber-side registration address and a QR code of that address (segno, pure Python).

The code exists in plain text only in this one response (``no-store``): the database keeps
its hash. Issuing is a POST from Members & devices; reloading the slip does not reissue.
"""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.auth.roles import CONFIGURE
from api.errors import ServiceError
from api.registration.service import (
    DEFAULT_HOURS,
    IssuedCode,
    issue_code,
    registration_address,
)
from api.session import DbSession, attempt
from api.users.service import Principal
from api.validation import IdPath
from dashboard.web import PageError, page, render
from monitor.settings import Settings

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page(CONFIGURE))]


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code (no style attributes: the CSP forbids them)."""
    svg = segno.make(text, error="m").svg_inline(scale=5, dark="#000", light="#fff",
                                                 omitsize=True)
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code of the '
                              'registration address" ', 1))


@router.post("/admin/members/{member_id}/code", response_class=HTMLResponse)
def issue_slip(request: Request, s: DbSession, member_id: IdPath, who: Admin) -> Response:
    settings: Settings = request.app.state.settings
    try:
        with attempt(s):
            issued: IssuedCode = issue_code(s, actor=who.username, member_id=member_id,
                                            hours=DEFAULT_HOURS)
    except ServiceError as exc:
        raise PageError(exc.status, exc.message) from exc
    address = registration_address(settings)
    return render(request, "admin/slip.html", {
        "issued": issued, "address": address, "qr": qr_svg(address),
        "served": bool(settings.web.registration_host)})
