"""The web side's serving command: ``web`` (the dashboard and API, with the jobs that run
beside them).

dashboard/main/cli.py composes it with the gate's and the record-keeping commands into the
one ``chamberguard`` program. :func:`serve_web` is also what ``chamberguard run`` serves.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from monitor.cli_support import CliError, ctx
from monitor.settings import Settings
from monitor.store.db import Database


def web_server(settings: Settings, db: Database, host: str, port: int) -> Any:
    import uvicorn

    from dashboard.app import create_app

    return uvicorn.Server(uvicorn.Config(create_app(settings, db), host=host, port=port,
                                         log_level="warning",
                                         # forwarded headers: api.middleware.TrustedProxies
                                         proxy_headers=False))


def registration_server(settings: Settings, db: Database) -> Any:
    """A second listener with only the registration pages, when configured."""
    if not settings.web.registration_host:
        return None
    import uvicorn

    from dashboard.app import create_registration_app

    return uvicorn.Server(uvicorn.Config(
        create_registration_app(settings, db), host=settings.web.registration_host,
        port=settings.web.registration_port, log_level="warning", proxy_headers=False))


async def serve_web(settings: Settings, db: Database, server: Any) -> None:
    """The web app with what runs beside it: the periodic meeting sync, the daily retention
    purge and, when configured, the chamber-side registration listener.

    These live with the web process, not the gate: plain HTTP and database work, and the gate
    reads everything it needs from the database whether or not this process is up.
    """
    from api.meetings.sync import run_periodic_sync
    from api.reports.service import after_purge
    from api.site.conditions import watch_conditions
    from monitor.evidence.retention import run_daily_purge

    stop = asyncio.Event()
    jobs = [asyncio.create_task(run_periodic_sync(settings, db, stop)),
            asyncio.create_task(watch_conditions(settings, db, stop)),
            asyncio.create_task(run_daily_purge(
                settings, db, stop, after=lambda res: after_purge(db, settings, res)))]
    extra = registration_server(settings, db)
    if extra is not None:
        jobs.append(asyncio.create_task(extra.serve()))
    try:
        await server.serve()
    finally:
        stop.set()
        if extra is not None:
            extra.should_exit = True
        await asyncio.gather(*jobs, return_exceptions=True)


def cmd_web(args: argparse.Namespace) -> int:
    """The unprivileged web app (dashboard, API) and its periodic jobs."""
    settings, db = ctx(args)
    if args.registration_only:  # a process on the chamber side: never the staff login
        reg = registration_server(settings, db)
        if reg is None:
            raise CliError("--registration-only needs [web] registration_host")
        try:
            asyncio.run(reg.serve())
        except KeyboardInterrupt:
            pass
        return 0
    if args.no_registration:
        settings.web.registration_host = ""
    server = web_server(settings, db, args.host or settings.web.host,
                        args.port or settings.web.port)
    try:
        asyncio.run(serve_web(settings, db, server))
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        pass
    return 0


def register_web(sub: Any) -> None:
    w = sub.add_parser("web", help="the unprivileged web app")
    w.add_argument("--host")
    w.add_argument("--port", type=int)
    reg = w.add_mutually_exclusive_group()
    reg.add_argument("--registration-only", action="store_true",
                     help="serve only the members' registration page on [web] "
                     "registration_host (run it where the chamber's address is)")
    reg.add_argument("--no-registration", action="store_true",
                     help="do not start the registration listener here")
    w.set_defaults(func=cmd_web)


def register_reports(sub: Any) -> None:
    """``report``, ``verify-chain``, ``purge``, ``member export`` (api/reports/cli.py), with
    the dashboard's renderer for HTML and PDF."""
    from api.reports.cli import register
    from dashboard.reports.render import body

    register(sub, render=body)
