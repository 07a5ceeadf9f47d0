"""Tables of the officers' web desk: single-use sign-in links and server-side sessions.

Only SHA-256 digests of the secrets are stored: a copy of the database cannot sign anyone in.
Kept apart from ``models`` so the desk's tables travel with the desk.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from ocop_core.models import utc_now


class WebSignIn(SQLModel, table=True):
    """A sign-in link handed out in chat or by the operator: valid 10 minutes, used once."""

    __tablename__ = "web_sign_in"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime
    used_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds the secret, this row holds its digest."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    csrf: str = Field(max_length=64)  # the form token of this session
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime
    ended_at: datetime | None = None
