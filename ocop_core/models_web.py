"""Tables of the officers' web desk: single-use sign-in links and server-side sessions.

Only SHA-256 digests of the secrets are stored: a copy of the database cannot sign anyone in.
Kept apart from ``models`` so the desk's tables travel with the desk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel, col

from ocop_core.models import Dossier, utc_now

# The desk's counts for a province and year (by stage, by commune, overdue) read this index
# alone, without touching the table: the overview of 100,000 dossiers stays quick on SQLite.
DESK_INDEX = Index(
    "ix_dossier_desk",
    col(Dossier.province_code),
    col(Dossier.year),
    col(Dossier.stage),
    col(Dossier.commune_code),
    col(Dossier.next_due),
)


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
