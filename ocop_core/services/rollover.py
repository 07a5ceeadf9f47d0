"""Dossiers that missed their round's date move to the next open round, and people are told once.

Run by the reminders pass (``compute_fires``) before fires are computed, so reminders follow the new
round at once. Work is set-wise where it matters: the missed (round, stage) pairs are found from
the distinct pairs in use, then only the dossiers of those pairs are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.clock import local_today
from ocop_core.i18n import N_, translate
from ocop_core.lifecycle import COMMUNE_DESK, EDITABLE, TERMINAL
from ocop_core.models import Account, AccountCommune, Dossier, EvaluationRound, Producer, Role
from ocop_core.plans.rounds import RoundRef
from ocop_core.services import rounds
from ocop_core.services.context import CoreContext
from ocop_core.services.outbox import PRIORITY_NOTICE, enqueue_many

__all__ = ["RollStats", "roll_over"]

_TERMINAL = sorted(s.value for s in TERMINAL)
# Stages at which the commune officer is the one concerned; later stages concern provincial staff.
_COMMUNE_SIDE = frozenset(EDITABLE | COMMUNE_DESK)


@dataclass
class RollStats:
    moved: int = 0  # dossiers put in another round (or out of one)
    notices: int = 0  # messages queued


async def _missed_pairs(s: AsyncSession, ctx: CoreContext, today: date) -> list[tuple[int, str]]:
    """(round id, stage) pairs whose gate date is behind ``today``."""
    pairs = (
        await s.exec(
            select(Dossier.round_id, Dossier.stage)
            .where(col(Dossier.round_id).is_not(None), col(Dossier.stage).not_in(_TERMINAL))
            .distinct()
        )
    ).all()
    missed: list[tuple[int, str]] = []
    for round_id, stage in pairs:
        row = await s.get(EvaluationRound, round_id)
        if row is None:
            continue
        ref = rounds.resolve(ctx, rounds.info_of_row(row))
        gate = ref.gate(stage) if ref is not None else None
        if gate is not None and gate.due < today:
            missed.append((round_id or 0, stage))
    return missed


async def _candidates(s: AsyncSession, ctx: CoreContext, today: date) -> list[Dossier]:
    found: list[Dossier] = []
    for round_id, stage in await _missed_pairs(s, ctx, today):
        stmt = select(Dossier).where(Dossier.round_id == round_id, Dossier.stage == stage)
        found.extend((await s.exec(stmt)).all())
    # Dossiers no loaded plan governed: a plan or a new ruleset's calendar may apply now.
    unplaced = select(Dossier).where(
        col(Dossier.round_id).is_(None), col(Dossier.stage).not_in(_TERMINAL)
    )
    found.extend((await s.exec(unplaced)).all())
    return found


async def roll_over(s: AsyncSession, ctx: CoreContext) -> RollStats:
    """Move every dossier whose round is over for its stage; one notice per move and person."""
    today = local_today(ctx.clock)
    now = ctx.clock.now()
    stats = RollStats()
    for dossier in await _candidates(s, ctx, today):
        before = await rounds.current_round(s, dossier)
        ref = rounds.choose_round(ctx, dossier, today)
        if (ref.key if ref else None) == (before.key if before else None):
            continue
        # A dossier stored before rounds existed, already on that round's plan: record, no news.
        backfill = before is None and ref is not None and dossier.plan_id == ref.plan.id
        reason = "missed" if before is not None else "backfill" if backfill else "opened"
        await rounds.place(
            s, ctx, Actor.system(), dossier, ref, reason=reason, today=today, now=now
        )
        stats.moved += 1
        if not backfill:
            stats.notices += await _notify(s, dossier, before, ref, now)
    return stats


async def _recipients(s: AsyncSession, dossier: Dossier) -> list[Account]:
    people: list[Account] = []
    producer = await s.get(Producer, dossier.producer_id)
    if producer is not None and producer.account_id is not None:
        account = await s.get(Account, producer.account_id)
        if account is not None:
            people.append(account)
    if dossier.stage in _COMMUNE_SIDE:
        stmt = (
            select(Account)
            .join(AccountCommune, col(AccountCommune.account_id) == col(Account.id))
            .where(
                AccountCommune.commune_code == dossier.commune_code, Account.role == Role.COMMUNE
            )
        )
    else:
        stmt = select(Account).where(
            Account.role == Role.PROVINCE, Account.province_code == dossier.province_code
        )
    people.extend((await s.exec(stmt)).all())
    return people


def round_label(info: rounds.RoundInfo | RoundRef | None, locale: str) -> str:
    if info is None:
        return translate(N_("rounds.by_province_plan"), locale)
    return translate(N_("rounds.label"), locale, number=info.number, year=info.year)


async def _notify(
    s: AsyncSession,
    dossier: Dossier,
    before: rounds.RoundInfo | None,
    after: RoundRef | None,
    now: datetime,
) -> int:
    key = N_("rounds.notice.missed") if before is not None else N_("rounds.notice.placed")
    items = []
    for account in await _recipients(s, dossier):
        locale = account.locale or "vi"
        nxt = (
            dossier.next_due.strftime("%d/%m/%Y")
            if dossier.next_due
            else translate(N_("rounds.by_province_plan"), locale)
        )
        text = translate(
            key,
            locale,
            code=dossier.receipt_code,
            product=dossier.product_name,
            missed=round_label(before, locale),
            round=round_label(after, locale),
            ruleset=translate(f"ruleset.{dossier.ruleset}", locale),
            next=nxt,
        )
        ident = f"round:{dossier.id}:{before.key if before else '-'}>{after.key if after else '-'}"
        items.append((account, {"text": text}, f"{ident}:{account.id}", PRIORITY_NOTICE))
    return await enqueue_many(s, items, now=now) if items else 0
