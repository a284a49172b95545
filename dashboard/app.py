"""The web application: the JSON API (api/app.py) with the dashboard's pages mounted on it.

Composed here, at the top of the web side, because the dashboard depends on the API and
never the other way round. Built by create_app() at start-up (never at import time).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.app import build_api, install_error_handlers
from api.middleware import BodyLimit, NoNulText, SecurityHeaders, TrustedProxies
from dashboard.pages import HERE
from dashboard.pages import mount as mount_dashboard
from dashboard.registration import router as registration_pages  # members' phones
from monitor.settings import Settings
from monitor.store.db import Database

__all__ = ["create_app", "create_registration_app"]


def create_app(settings: Settings, db: Database) -> FastAPI:
    app = build_api(settings, db)
    app.include_router(registration_pages)
    mount_dashboard(app)
    return app


def create_registration_app(settings: Settings, db: Database) -> FastAPI:
    """Only the members' registration pages, for a listener on the chamber network.

    The full app (staff login, API) stays on its own address; phones on the chamber Wi-Fi
    reach just /register (and its stylesheet) on ``web.registration_host``.
    """
    app = FastAPI(title="chamberguard registration", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.settings = settings
    app.state.db = db
    app.add_middleware(NoNulText)
    app.add_middleware(BodyLimit, max_body=64 * 1024)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedProxies, trusted=settings.web.trusted_proxies)
    install_error_handlers(app)
    app.include_router(registration_pages)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
