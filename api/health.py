"""/healthz: unauthenticated liveness for the service manager and reverse proxy.

Says only whether the web process can reach its database — nothing about members or events.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter()


@router.get("/healthz", tags=["health"])
def healthz(request: Request) -> JSONResponse:
    try:
        with request.app.state.db.session() as s:
            s.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})
    except Exception:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
