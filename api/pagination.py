"""Bounded pagination shared by every list route: nobody can ask for a million rows at once,
and ids/offsets stay within what the database can store (no 500 on a huge number)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


Paging = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list; ``total`` counts every row matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int
