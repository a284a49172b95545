"""The per-request database session (api.session): committed when the route returns —
before the response starts, so "done" is never said of an uncommitted change — rolled back
when it raises, and ``attempt`` undoes a refused change so the re-rendered page reads the
database as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from api.errors import Invalid, ServiceError
from api.session import DbSession, attempt
from monitor.store.db import Database


def _rows(db: Database) -> list[str]:
    with db.engine.connect() as c:
        return [r[0] for r in c.execute(text("SELECT v FROM t ORDER BY rowid"))]


def _app(db: Database, seen_at_start: list[list[str]]) -> Any:
    app = FastAPI()
    app.state.db = db

    @app.post("/ok")
    def ok(s: DbSession) -> dict[str, str]:
        s.execute(text("INSERT INTO t VALUES ('ok')"))
        return {"done": "yes"}

    @app.post("/fail")
    def fail(s: DbSession) -> dict[str, str]:
        s.execute(text("INSERT INTO t VALUES ('half')"))
        raise HTTPException(409, "refused")

    @app.post("/refused")
    def refused(s: DbSession) -> dict[str, str]:
        try:
            with attempt(s):
                s.execute(text("INSERT INTO t VALUES ('undone')"))
                raise Invalid("no")
        except ServiceError as exc:
            return {"error": exc.message, "rows": ",".join(
                r[0] for r in s.execute(text("SELECT v FROM t")))}
        return {"error": ""}

    async def watch(scope: Scope, receive: Receive, send: Send) -> None:
        async def spy(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen_at_start.append(_rows(db))
            await send(message)
        await app(scope, receive, spy)

    return watch


def test_commit_before_response_rollback_on_error_and_attempt(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE t (v TEXT)"))
    seen: list[list[str]] = []
    with TestClient(_app(db, seen)) as client:
        assert client.post("/ok").status_code == 200
        assert seen[-1] == ["ok"]  # committed before the response began
        assert client.post("/fail").status_code == 409
        assert _rows(db) == ["ok"]  # the half-done insert was rolled back
        body = client.post("/refused").json()
        assert body == {"error": "no", "rows": "ok"}  # the page re-reads the database as it was
        assert _rows(db) == ["ok"]
    db.dispose()
