"""Request and response bodies for sessions and API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.auth.roles import Role
from api.validation import IdField


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    user_id: int
    username: str
    role: Role
    via: str = Field(description="browser (cookie) or api (bearer token)")
    csrf_token: str | None = Field(
        None, description="send as X-CSRF-Token on every cookie-authenticated change"
    )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="what the token is for")
    user_id: IdField | None = Field(
        None, description="must be your own id if given: a token is only ever for yourself"
    )


class TokenOut(BaseModel):
    id: int
    name: str
    user_id: int
    username: str
    created_at: datetime
    revoked: bool


class TokenCreated(TokenOut):
    token: str = Field(description="the secret; shown once, stored only as a hash")
