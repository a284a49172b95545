"""What every admin page shares: who may open it, the done-redirect, the no-JavaScript
confirmation page, the page's base context and the upload cap."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from api.auth.roles import AUDIT, CONFIGURE
from api.errors import Invalid
from api.users.service import Principal
from dashboard.admin.wording import DONE
from dashboard.web import page, render
from monitor.settings import Settings

Admin = Annotated[Principal, Depends(page(CONFIGURE))]
Auditor = Annotated[Principal, Depends(page(AUDIT))]

MAX_UPLOAD = 2 * 1024 * 1024  # the app's body cap; said here so the message can name it


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def redirect_done(path: str, code: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={code}", status_code=303)


def confirm(request: Request, *, title: str, message: str, action: str,
            fields: Mapping[str, str], yes: str, back: str) -> Response:
    """The no-JavaScript confirmation: the same form again with confirmed=1."""
    return render(request, "admin/confirm.html", {
        "title": title, "message": message, "action": action, "fields": fields, "yes": yes,
        "back": back})


def base(page_name: str, done_code: str | None, error: str | None,
         details: list[str] | None = None) -> dict[str, Any]:
    return {"page": page_name, "done": DONE.get(done_code or ""), "error": error,
            "details": details or [], "now": datetime.now(UTC)}


def upload_bytes(upload: UploadFile | None) -> bytes | None:
    """The uploaded file's bytes; None when no file was chosen (browsers send an empty part)."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise Invalid(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    return data
