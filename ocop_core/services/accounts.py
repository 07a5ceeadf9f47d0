"""Accounts: a person on a channel, their role and scope."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.errors import Forbidden, ValidationError
from ocop_core.i18n import N_, normalise_locale
from ocop_core.models import Account, AccountCommune, AccountStatus, Commune, Province, Role
from ocop_core.services.context import CoreContext

# Built once: every message looks its person up, and building a statement costs more than
# running it on SQLite.
_BY_PLATFORM_ID = select(Account).where(
    col(Account.channel) == bindparam("channel"),
    col(Account.platform_user_id) == bindparam("platform_user_id"),
)
# Nobody reads the last interaction closer than this; a write per message would double the
# writes of a conversation step.
TOUCH_EVERY = timedelta(minutes=1)


async def get_or_create_account(
    s: AsyncSession,
    ctx: CoreContext,
    *,
    channel: str,
    platform_user_id: str,
    chat_id: str,
    display_name: str = "",
    locale: str | None = None,
) -> Account:
    """The account for this person on this channel; touches ``last_interaction_at`` (to the
    minute)."""
    found = await s.exec(
        _BY_PLATFORM_ID, params={"channel": channel, "platform_user_id": platform_user_id}
    )
    account = found.first()
    now = ctx.clock.now()
    if account is None:
        account = Account(
            channel=channel,
            platform_user_id=platform_user_id,
            chat_id=chat_id,
            display_name=display_name[:200],
            locale=normalise_locale(locale),
            created_at=now,
        )
        s.add(account)
        account.last_interaction_at = now
        await s.flush()  # the id, for what follows
        return account
    if account.chat_id != chat_id:
        account.chat_id = chat_id
    if account.status == AccountStatus.STOPPED:
        account.status = AccountStatus.ACTIVE  # they wrote again: they want messages
    last = account.last_interaction_at
    if last is None or not timedelta(0) <= now - last < TOUCH_EVERY:
        account.last_interaction_at = now
    return account


async def actor_for(s: AsyncSession, account: Account) -> Actor:
    communes: frozenset[str] = frozenset()
    if account.role == Role.COMMUNE:
        rows = await s.exec(
            select(AccountCommune.commune_code).where(AccountCommune.account_id == account.id)
        )
        communes = frozenset(rows.all())
    return Actor(
        account_id=account.id,
        role=account.role,
        communes=communes,
        province_code=account.province_code,
        locale=account.locale,
    )


async def grant_role(
    s: AsyncSession,
    actor: Actor,
    account: Account,
    role: str,
    *,
    commune_code: str | None = None,
) -> Account:
    """Make ``account`` an officer. Only an admin (or the operator's CLI) may do this."""
    if actor.role != Role.ADMIN:
        raise Forbidden(N_("error.not_allowed"))
    if role not in {r.value for r in Role}:
        raise ValidationError(N_("error.unknown_role"), role=role)
    province: str | None = None
    if commune_code is not None:
        commune = await s.get(Commune, commune_code.strip())
        if commune is None:
            raise ValidationError(N_("error.unknown_commune"), code=commune_code)
        province = commune.province_code
    if role in (Role.COMMUNE, Role.PROVINCE) and province is None:
        raise ValidationError(N_("error.officer_needs_commune"))
    account.role = role
    account.province_code = province if role != Role.ADMIN else None
    if role == Role.COMMUNE and commune_code is not None:
        exists = await s.get(AccountCommune, (account.id, commune_code.strip()))
        if exists is None:
            s.add(AccountCommune(account_id=account.id, commune_code=commune_code.strip()))
    await s.flush()
    return account


async def province_name(s: AsyncSession, code: str) -> str:
    province = await s.get(Province, code)
    return province.name if province else code


async def officers_of_commune(s: AsyncSession, commune_code: str) -> list[Account]:
    stmt = (
        select(Account)
        .join(AccountCommune, col(AccountCommune.account_id) == col(Account.id))
        .where(AccountCommune.commune_code == commune_code, Account.role == Role.COMMUNE)
    )
    return list((await s.exec(stmt)).all())


async def mark_stopped(s: AsyncSession, *, channel: str, chat_id: str) -> int:
    """Accounts on this chat blocked the bot; nothing more is sent until they write again."""
    rows = (
        await s.exec(select(Account).where(Account.channel == channel, Account.chat_id == chat_id))
    ).all()
    for account in rows:
        account.status = AccountStatus.STOPPED
        s.add(account)
    await s.flush()
    return len(rows)


# -- the person's own settings (onboarding, /ngonngu; the CLI may use the same) ----------------


async def set_locale(s: AsyncSession, account: Account, locale: str) -> Account:
    """The language this person reads; unknown codes fall back to the default."""
    account.locale = normalise_locale(locale)
    s.add(account)
    return account


async def record_consent(s: AsyncSession, ctx: CoreContext, account: Account) -> Account:
    """The personal-data notice was accepted now (Decree 13/2023 asks for the moment)."""
    account.consent_at = ctx.clock.now()
    s.add(account)
    return account


async def set_phone(s: AsyncSession, account: Account, phone: str, *, verified: bool) -> Account:
    """The person's mobile number, already normalised; ``verified`` when the platform vouched
    for it (a contact card of the sender's own)."""
    account.phone = phone
    account.phone_verified = verified
    s.add(account)
    return account


async def province_staff(s: AsyncSession, province_code: str) -> list[Account]:
    """The provincial OCOP office's people on the bot (told when a commune has nobody yet)."""
    stmt = select(Account).where(
        Account.role == Role.PROVINCE,
        Account.province_code == province_code,
        Account.status == AccountStatus.ACTIVE,
    )
    return list((await s.exec(stmt)).all())


async def who_receives(s: AsyncSession, commune_code: str) -> tuple[list[Account], list[Account]]:
    """Who a dossier submitted in ``commune_code`` goes to: the commune's officers, or — when
    none has joined yet — the provincial staff, who are told instead."""
    officers = await officers_of_commune(s, commune_code)
    if officers:
        return officers, []
    commune = await s.get(Commune, commune_code)
    return [], await province_staff(s, commune.province_code) if commune else []
