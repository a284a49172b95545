"""One database session per request, as a FastAPI dependency.

A route asks for ``s: DbSession`` instead of opening ``database(request).session()`` itself:
the session commits when the route returns and rolls back when it raises — before the
response is sent (``scope="function"``), so a client never sees "done" for a change that
then failed to commit. Streaming routes must not take it (it would stay open for the life of
the stream); they open their own short sessions per read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.auth.deps import database


def db_session(request: Request) -> Iterator[Session]:
    with database(request).session() as s:
        yield s


DbSession = Annotated[Session, Depends(db_session, scope="function")]


@contextmanager
def attempt(s: Session) -> Iterator[None]:
    """A refused change leaves nothing behind: on any exception, roll the request's session
    back (and re-raise), so the page re-rendered with the error reads the database as it was
    and nothing half-done is committed when the route returns."""
    try:
        yield
    except BaseException:
        s.rollback()
        raise
