"""Signing in to the desk without passwords: a single-use link sent in chat starts a session.

Links live 10 minutes and work once; sessions live 8 hours, in the database (any process can
check them, a restart keeps them, sign-out ends them everywhere). Only officers get links, and
their role is checked again on every request: an officer who lost the role loses the desk.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.errors import DomainError, Forbidden, NotFound
from ocop_core.i18n import N_
from ocop_core.models import Account, AccountStatus
from ocop_core.models_web import WebSession, WebSignIn
from ocop_core.services import accounts
from ocop_core.services.context import CoreContext

SIGN_IN_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)
SIGN_IN_PATH = "/desk/signin/"


class SignInRefused(DomainError):
    """The link cannot start a session; ``reason`` is invalid, used or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"desk.signin.{reason}")
        self.reason = reason


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    csrf: str
    account_id: int


@dataclass(frozen=True)
class Signed:
    """A live session and who it belongs to, resolved again from the database."""

    session: WebSession
    account: Account
    actor: Actor


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def may_use_desk(actor: Actor) -> bool:
    return actor.is_officer and actor.account_id is not None


async def issue_sign_in(s: AsyncSession, ctx: CoreContext, actor: Actor) -> str:
    """A new sign-in token for the acting officer (producers get none)."""
    if not may_use_desk(actor):
        raise Forbidden(N_("desk.link.officers_only"))
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    s.add(
        WebSignIn(
            token_hash=digest(token),
            account_id=actor.account_id or 0,
            created_at=now,
            expires_at=now + SIGN_IN_TTL,
        )
    )
    await s.flush()
    return token


async def issue_for_account(s: AsyncSession, ctx: CoreContext, account_id: int) -> str:
    """The operator's ``web link --officer ID``: the link is for that account, if an officer."""
    account = await s.get(Account, account_id)
    if account is None:
        raise NotFound(N_("desk.link.no_account"), id=account_id)
    return await issue_sign_in(s, ctx, await accounts.actor_for(s, account))


def sign_in_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{SIGN_IN_PATH}{token}"


async def peek_sign_in(s: AsyncSession, ctx: CoreContext, token: str) -> Account:
    """Whose link this is, without using it (the page that asks "sign in?" shows first: chat
    apps open links to preview them, and a preview must not burn the link)."""
    if not token or len(token) > 200:
        raise SignInRefused("invalid")
    link = (await s.exec(select(WebSignIn).where(WebSignIn.token_hash == digest(token)))).first()
    if link is None:
        raise SignInRefused("invalid")
    if link.used_at is not None:
        raise SignInRefused("used")
    if link.expires_at <= ctx.clock.now():
        raise SignInRefused("expired")
    found = await _officer(s, link.account_id)
    if found is None:
        raise SignInRefused("invalid")
    return found[0]


async def redeem_sign_in(s: AsyncSession, ctx: CoreContext, token: str) -> NewSession:
    """Use the link once: the compare-and-set on ``used_at`` lets exactly one request win."""
    if not token or len(token) > 200:
        raise SignInRefused("invalid")
    now = ctx.clock.now()
    h = digest(token)
    won = await s.exec(
        update(WebSignIn)
        .where(
            col(WebSignIn.token_hash) == h,
            col(WebSignIn.used_at).is_(None),
            col(WebSignIn.expires_at) > now,
        )
        .values(used_at=now)
    )
    link = (await s.exec(select(WebSignIn).where(WebSignIn.token_hash == h))).first()
    if link is None:
        raise SignInRefused("invalid")
    if won.rowcount != 1:
        raise SignInRefused("used" if link.used_at is not None else "expired")
    signed = await _officer(s, link.account_id)
    if signed is None:
        raise SignInRefused("invalid")
    await prune(s, ctx)
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    s.add(
        WebSession(
            token_hash=digest(cookie),
            account_id=link.account_id,
            csrf=csrf,
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    await s.flush()
    return NewSession(cookie, csrf, link.account_id)


async def _officer(s: AsyncSession, account_id: int) -> tuple[Account, Actor] | None:
    account = await s.get(Account, account_id)
    if account is None or account.status != AccountStatus.ACTIVE:
        return None
    actor = await accounts.actor_for(s, account)
    return (account, actor) if may_use_desk(actor) else None


async def session_for(s: AsyncSession, ctx: CoreContext, token: str | None) -> Signed | None:
    """The live session behind a cookie, or None (unknown, forged, expired, ended, demoted)."""
    if not token or len(token) > 200:
        return None
    row = (await s.exec(select(WebSession).where(WebSession.token_hash == digest(token)))).first()
    if row is None or row.ended_at is not None or row.expires_at <= ctx.clock.now():
        return None
    found = await _officer(s, row.account_id)
    if found is None:
        return None
    return Signed(row, *found)


async def end_session(s: AsyncSession, ctx: CoreContext, token: str | None) -> bool:
    if not token:
        return False
    result = await s.exec(
        update(WebSession)
        .where(col(WebSession.token_hash) == digest(token), col(WebSession.ended_at).is_(None))
        .values(ended_at=ctx.clock.now())
    )
    return result.rowcount == 1


async def prune(s: AsyncSession, ctx: CoreContext, keep: timedelta = timedelta(days=1)) -> None:
    """Forget links and sessions that expired more than ``keep`` ago (done at each sign-in:
    a few rows at a time, no job to schedule)."""
    limit = ctx.clock.now() - keep
    await s.exec(delete(WebSignIn).where(col(WebSignIn.expires_at) < limit))
    await s.exec(delete(WebSession).where(col(WebSession.expires_at) < limit))
