"""Officer invites: a short, single-use, expiring code that gives a chat account a role and scope.

The operator prints a code with the CLI and hands it over (phone call, Zalo message, paper); the
officer sends ``/canbo CODE``. Only a hash is stored, so a copy of the database cannot be used to
join. Codes are 8 Crockford base-32 symbols (no I, L, O, U): about 10^12 values, typeable on a
phone keypad, and read back the same whatever the case or separators.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.clock import VN_TZ
from ocop_core.errors import Conflict, Forbidden, NotFound, ValidationError
from ocop_core.i18n import N_
from ocop_core.models import Account, Commune, Invite, Province, Role
from ocop_core.services import accounts, attempts
from ocop_core.services.context import CoreContext

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LEN = 8
DEFAULT_DAYS = 7
MAX_DAYS = 90
ADMIN_CODE_LEN = 12  # an admin code opens everything: longer to guess…
ADMIN_MAX_DAYS = 2  # …and valid for a short time only
INVITE_ROLES = (Role.COMMUNE, Role.PROVINCE, Role.ADMIN)
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


class InviteState:
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class IssuedInvite:
    invite: Invite
    code: str  # shown once, to the operator; never stored


def new_code(randbelow: Callable[[int], int] | None = None, length: int = CODE_LEN) -> str:
    pick = randbelow or secrets.randbelow
    raw = "".join(ALPHABET[pick(len(ALPHABET))] for _ in range(length))
    return "-".join(raw[i : i + 4] for i in range(0, length, 4))


def normalise(text: str) -> str | None:
    """The canonical code for what was typed ("abcd efgh", "ABCD-EFGH", O for 0), or None."""
    raw = re.sub(r"[^0-9A-Za-z]", "", text).upper().translate(_CONFUSABLE)
    if len(raw) not in (CODE_LEN, ADMIN_CODE_LEN) or any(ch not in ALPHABET for ch in raw):
        return None
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def hash_code(code: str) -> str:
    return hashlib.sha256(f"ocop-invite:{code}".encode()).hexdigest()


def state_of(invite: Invite, now: datetime) -> str:
    if invite.revoked_at is not None:
        return InviteState.REVOKED
    if invite.used_at is not None:
        return InviteState.USED
    if invite.expires_at <= now:
        return InviteState.EXPIRED
    return InviteState.OPEN


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden(N_("error.not_allowed"))


async def create_invite(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    *,
    commune_code: str | None = None,
    role: str = Role.COMMUNE,
    days: int = DEFAULT_DAYS,
    province_code: str | None = None,
    randbelow: Callable[[int], int] | None = None,
) -> IssuedInvite:
    """An admin (or the operator's CLI) issues an invite for one commune's scope, or for a
    province (provincial staff and admins need no commune)."""
    _require_admin(actor)
    if role not in INVITE_ROLES:
        raise ValidationError(N_("error.unknown_role"), role=role[:20])
    max_days = ADMIN_MAX_DAYS if role == Role.ADMIN else MAX_DAYS
    if not 1 <= days <= max_days:
        raise ValidationError(N_("error.invite_days"), days=days, max_days=max_days)
    if commune_code is not None:
        commune = await _current_commune(s, commune_code)
    elif role != Role.COMMUNE and province_code is not None:
        commune = await _province_anchor(s, province_code)
    else:
        raise ValidationError(N_("error.officer_needs_commune"))
    now = ctx.clock.now()
    for _ in range(8):
        code = new_code(randbelow, ADMIN_CODE_LEN if role == Role.ADMIN else CODE_LEN)
        if (await s.exec(select(Invite).where(Invite.code_hash == hash_code(code)))).first():
            continue  # vanishingly rare; the unique index is the final arbiter anyway
        invite = Invite(
            code_hash=hash_code(code),
            role=role,
            commune_code=commune.code,
            province_code=commune.province_code,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        s.add(invite)
        await s.flush()
        return IssuedInvite(invite, code)
    raise Conflict(N_("error.try_again"))


async def _current_commune(s: AsyncSession, code: str) -> Commune:
    commune = await s.get(Commune, code.strip())
    if commune is None or commune.legacy:
        # Old (pre-2025) communes no longer have officers: only current units take invites.
        raise ValidationError(N_("error.unknown_commune"), code=code[:20])
    return commune


async def _province_anchor(s: AsyncSession, code: str) -> Commune:
    """A province-wide invite still names a commune (the column is required, and redeeming
    derives the province from it): the province's first current commune stands for it. For
    provincial staff and admins the commune sets nothing but the province."""
    province = await s.get(Province, code.strip())
    if province is None or province.legacy:
        raise ValidationError(N_("error.province_unknown"), code=code[:20])
    stmt = (
        select(Commune)
        .where(Commune.province_code == province.code, col(Commune.legacy).is_(False))
        .order_by(col(Commune.code))
    )
    commune = (await s.exec(stmt.limit(1))).first()
    if commune is None:
        raise ValidationError(N_("error.province_unknown"), code=code[:20])
    return commune


async def list_invites(
    s: AsyncSession, actor: Actor, *, include_closed: bool = True, limit: int = 200
) -> list[Invite]:
    _require_admin(actor)
    stmt = select(Invite).order_by(col(Invite.created_at).desc(), col(Invite.id).desc())
    if not include_closed:
        stmt = stmt.where(col(Invite.used_at).is_(None), col(Invite.revoked_at).is_(None))
    return list((await s.exec(stmt.limit(limit))).all())


async def _find(s: AsyncSession, code: str) -> Invite:
    canonical = normalise(code)
    invite = None
    if canonical is not None:
        stmt = select(Invite).where(Invite.code_hash == hash_code(canonical))
        invite = (await s.exec(stmt)).first()
    if invite is None:
        raise NotFound(N_("error.invite_unknown"))
    return invite


async def revoke_invite(
    s: AsyncSession, ctx: CoreContext, actor: Actor, *, code: str | None = None, invite_id: int = 0
) -> Invite:
    """Revoke by the code itself or by the id ``officer invites`` lists."""
    _require_admin(actor)
    invite = await _find(s, code) if code else await s.get(Invite, invite_id)
    if invite is None:
        raise NotFound(N_("error.invite_unknown"))
    if invite.used_at is not None:
        raise Conflict(N_("error.invite_used"))
    if invite.revoked_at is None:
        invite.revoked_at = ctx.clock.now()
        s.add(invite)
        await s.flush()
    return invite


async def redeem_invite(
    s: AsyncSession, ctx: CoreContext, account: Account, code: str
) -> tuple[Account, Invite]:
    """``/canbo CODE``: the account takes the invite's role and scope; the code is spent.

    Each refusal says which problem it is (mistyped, expired, used, revoked), since the person
    holding a real code needs to know whether to retype it or ask for a new one.
    """
    now = ctx.clock.now()
    await attempts.check(s, attempts.INVITE, account.id, now, ctx.limits)
    try:
        invite = await _find(s, code)
    except NotFound:
        await attempts.record_failure(s, attempts.INVITE, account.id, now, ctx.limits)
        raise
    state = state_of(invite, now)
    if state == InviteState.USED and invite.used_by == account.id:
        raise Conflict(N_("error.invite_already_yours"))
    if state == InviteState.USED:
        raise Conflict(N_("error.invite_used"))
    if state == InviteState.REVOKED:
        raise Conflict(N_("error.invite_revoked"))
    if state == InviteState.EXPIRED:
        expired = invite.expires_at.astimezone(VN_TZ).strftime("%d/%m/%Y")
        raise Conflict(N_("error.invite_expired"), date=expired)
    # Compare-and-set: of two people sending the same code at once, exactly one gets it.
    result = await s.exec(
        update(Invite)
        .where(
            col(Invite.id) == invite.id,
            col(Invite.used_at).is_(None),
            col(Invite.revoked_at).is_(None),
        )
        .values(used_at=now, used_by=account.id)
    )
    if result.rowcount != 1:
        raise Conflict(N_("error.invite_used"))
    await s.refresh(invite)
    s.add(account)  # it may come from another unit of work: make sure its new role is saved
    await accounts.grant_role(
        s, Actor.system(), account, invite.role, commune_code=invite.commune_code
    )
    return account, invite
