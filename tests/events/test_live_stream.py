"""The live page's own stream (/live/stream) against the real app, on SQLite and PostgreSQL:
every open page hears "changed, up to event N" with the newest attempt's sentence, from one
shared reader, and the fragment it then asks for (``after=N``) shows that event."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from api.auth.roles import Role
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import Event
from tests.events.webapp import running_app, token_for


def _changes(resp: httpx.Response, until: int) -> list[dict[str, Any]]:
    """``change`` messages until one covers event ``until``."""
    got: list[dict[str, Any]] = []
    kind = None
    for line in resp.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "change":
            got.append(json.loads(line[6:]))
            if got[-1]["last"] >= until:
                return got
    return got


def test_every_page_hears_news_from_one_reader(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    settings = Settings(site={"data_dir": tmp_path}, database={"url": db_url})
    token = token_for(db, "clerk1", Role.CLERK)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with running_app(settings, db) as (base, app):
            got: list[list[dict[str, Any]]] = [[], []]
            connected = threading.Barrier(3, timeout=30)
            target: list[int] = []
            ready = threading.Event()

            def page(i: int) -> None:
                with httpx.Client(base_url=base, timeout=30) as c, c.stream(
                        "GET", "/live/stream", headers=headers) as resp:
                    assert resp.status_code == 200
                    assert resp.headers["content-type"].startswith("text/event-stream")
                    connected.wait()
                    ready.wait(30)
                    got[i] = _changes(resp, target[0])

            threads = [threading.Thread(target=page, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            connected.wait()
            store_now(db, [EventRecord(
                datetime.now(UTC), EventKind.ATTEMPT, EventAction.REFUSED, room="chamber",
                platform="instagram", domain="www.instagram.com")])
            with db.session() as s:
                target.append(int(s.execute(select(func.max(Event.id))).scalar_one()))
            ready.set()
            for t in threads:
                t.join(30)
            for changes in got:
                assert changes and changes[-1]["last"] >= target[0]
                assert changes[-1]["id"] == target[0]
                assert "looked up www.instagram.com (Instagram) — refused" in \
                    changes[-1]["text"]
            assert app.state.live_ticker.reads >= 1
            # the fragment asked for with after=N shows event N
            frag = httpx.get(base + f"/live/fragment?after={target[0]}", headers=headers,
                             timeout=30).text
            m = re.search(r'data-last="([0-9]+)"', frag)
            assert m is not None and int(m.group(1)) >= target[0]
            # a page that is not signed in gets no stream
            anon = httpx.get(base + "/live/stream", timeout=30, follow_redirects=False)
            assert anon.status_code in (302, 303, 401)
    finally:
        db.dispose()
