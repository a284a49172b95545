"""The real web app on a real socket (uvicorn in a thread), for SSE and route tests.

An in-process ASGI transport buffers whole responses, which an endless SSE stream never ends;
a real server is also what a browser talks to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from api.auth.roles import Role
from api.users.service import create_token, create_user
from dashboard.app import create_app
from monitor.settings import Settings
from monitor.store.db import Database
from tests.ports import free_port as _free_port


def token_for(db: Database, username: str, role: Role) -> str:
    with db.session() as s:
        create_user(s, username=username, password="a-long-test-password-1", role=role,
                    actor="test")
        return create_token(s, username=username, name="test", actor="test")



@contextmanager
def running_app(settings: Settings, db: Database) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(settings, db)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=1))
    t = threading.Thread(target=server.run, name="test-web", daemon=True)
    t.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "web app did not start"
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        t.join(10)
