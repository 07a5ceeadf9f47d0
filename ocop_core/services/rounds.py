"""The round each dossier is in: chosen at registration, moved on when its date is missed.

Every placement is an audit event (``assign_round``) carrying the round it left, the round it
joined and why, so ``dossier show`` and the web desk can print the history of round moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.clock import VN_TZ
from ocop_core.errors import NotFound
from ocop_core.lifecycle import TERMINAL
from ocop_core.models import Dossier, DossierEvent, EvaluationRound
from ocop_core.plans.rounds import RoundRef, legacy_plan_codes, next_round
from ocop_core.rules import ruleset_for_date
from ocop_core.services.context import CoreContext
from ocop_core.services.deadlines import next_due_for

__all__ = [
    "ASSIGN_ROUND",
    "RoundInfo",
    "choose_round",
    "current_round",
    "filed_on",
    "filing_day",
    "info_of_row",
    "move_event",
    "place",
    "round_for",
    "round_history",
    "round_info",
    "round_row",
    "set_round_fields",
]

ASSIGN_ROUND = "assign_round"  # the audit action of every placement in a round


@dataclass(frozen=True)
class RoundInfo:
    """What a person needs to know about a dossier's round (for chat, CLI and the web desk)."""

    key: str
    plan_id: str
    jurisdiction: str
    ruleset: str
    year: int
    number: int
    intake_due: date | None  # the producer's last day to file in this round
    commune_due: date | None  # the commune's deadline in this round


def filed_on(dossier: Dossier) -> date:
    """The filing day: given for paper dossiers, else the local day of registration."""
    return filing_day(dossier.filed_on, dossier.created_at)


def filing_day(filed: date | None, created_at: datetime) -> date:
    """``filed_on`` from the two columns, for callers that read rows rather than dossiers."""
    return filed if filed is not None else created_at.astimezone(VN_TZ).date()


def choose_round(ctx: CoreContext, dossier: Dossier, on: date) -> RoundRef | None:
    """The next round open on ``on`` for the dossier's stage under the rules it follows then."""
    return round_for(
        ctx,
        dossier.province_code,
        legacy_plan_codes(dossier.commune_code),
        dossier.stage,
        filed_on(dossier),
        dossier.attempt,
        on,
    )


def round_for(
    ctx: CoreContext,
    province: str,
    legacy: tuple[str, ...],
    stage: str,
    filed: date,
    attempt: str,
    on: date,
) -> RoundRef | None:
    """``choose_round`` from the values that decide it (the roll-over reads rows, not dossiers)."""
    return next_round(
        ctx.plans, province, legacy, stage=stage, filed_on=filed, on=on, attempt=attempt
    )


def round_info(ref: RoundRef) -> RoundInfo:
    intake, commune = ref.intake, ref.commune_due
    return RoundInfo(
        key=ref.key,
        plan_id=ref.plan.id,
        jurisdiction=ref.plan.province_code,
        ruleset=ref.ruleset,
        year=ref.year,
        number=ref.number,
        intake_due=intake.due if intake else None,
        commune_due=commune.due if commune else None,
    )


async def round_row(s: AsyncSession, ref: RoundRef, now: datetime) -> EvaluationRound:
    """The stored row of ``ref``, created on first use.

    Two transactions may place dossiers in the same new round at once: the unique key arbitrates
    (INSERT … ON CONFLICT DO NOTHING; on PostgreSQL it waits for the other to commit), then both
    read the one row, so neither fails on the other's insert.
    """
    row = await _stored_round(s, ref.key)
    if row is not None:
        return row
    insert = postgresql.insert if s.bind.dialect.name == "postgresql" else sqlite.insert
    values = {**round_info(ref).__dict__, "created_at": now}
    stmt = insert(EvaluationRound).values(**values).on_conflict_do_nothing(index_elements=["key"])
    await s.exec(stmt)  # type: ignore[call-overload]
    row = await _stored_round(s, ref.key)
    if row is None:  # cannot happen: inserted here or committed by the other
        raise RuntimeError(f"round {ref.key} neither inserted nor found")
    return row


async def _stored_round(s: AsyncSession, key: str) -> EvaluationRound | None:
    return (await s.exec(select(EvaluationRound).where(EvaluationRound.key == key))).first()


def set_round_fields(dossier: Dossier, ref: RoundRef | None, row_id: int | None) -> None:
    if ref is None:
        dossier.round_id = None
        dossier.round_number = None
        dossier.plan_id = ""
        dossier.ruleset = ruleset_for_date(filed_on(dossier)).id
        return
    dossier.round_id = row_id
    dossier.round_number = ref.number
    dossier.plan_id = ref.plan.id
    dossier.year = ref.year
    dossier.ruleset = ref.ruleset


async def place(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    ref: RoundRef | None,
    *,
    reason: str,
    today: date,
    now: datetime,
) -> DossierEvent:
    """Put the dossier in ``ref`` (None: no loaded plan governs it) and record the move."""
    before = await current_round(s, dossier)
    row = await round_row(s, ref, now) if ref is not None else None
    set_round_fields(dossier, ref, row.id if row else None)
    dossier.next_due = next_due_for(ctx, dossier, today)
    dossier.updated_at = now
    s.add(dossier)
    await s.flush()
    event = DossierEvent(**move_event(dossier, actor.account_id, before, ref, reason, now))
    s.add(event)
    await s.flush()
    return event


def move_event(
    dossier: Dossier,
    actor_id: int | None,
    before: RoundInfo | None,
    ref: RoundRef | None,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """The audit event of a placement, as column values (the roll-over inserts them in bulk)."""
    return {
        "dossier_id": dossier.id or 0,
        "actor_id": actor_id,
        "action": ASSIGN_ROUND,
        "from_stage": dossier.stage,
        "to_stage": dossier.stage,
        "note": "",
        "data": {
            "from": before.key if before else None,
            "to": ref.key if ref else None,
            "reason": reason,
            "ruleset": dossier.ruleset,
            "next_due": dossier.next_due.isoformat() if dossier.next_due else None,
        },
        "at": now,
    }


async def current_round(s: AsyncSession, dossier: Dossier) -> RoundInfo | None:
    """The round the dossier is in now, as stored (None: dates set by an unloaded plan)."""
    if dossier.round_id is None:
        return None
    row = await s.get(EvaluationRound, dossier.round_id)
    if row is None:
        return None
    return info_of_row(row)


def info_of_row(row: EvaluationRound) -> RoundInfo:
    return RoundInfo(
        key=row.key,
        plan_id=row.plan_id,
        jurisdiction=row.jurisdiction,
        ruleset=row.ruleset,
        year=row.year,
        number=row.number,
        intake_due=row.intake_due,
        commune_due=row.commune_due,
    )


async def round_history(s: AsyncSession, dossier: Dossier) -> list[DossierEvent]:
    """Every placement of the dossier in a round, oldest first."""
    stmt = (
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id, DossierEvent.action == ASSIGN_ROUND)
        .order_by(col(DossierEvent.at), col(DossierEvent.id))
    )
    return list((await s.exec(stmt)).all())


def resolve(ctx: CoreContext, info: RoundInfo) -> RoundRef | None:
    """The round's plan as loaded now (None when the plan file is gone)."""
    try:
        return RoundRef(ctx.plans.get(info.plan_id), info.number)
    except NotFound:
        return None


def is_live(dossier: Dossier) -> bool:
    return dossier.stage not in TERMINAL


def describe(data: dict[str, Any]) -> str:
    """One line of the history of round moves, for the CLI."""
    return f"{data.get('from') or '-'} → {data.get('to') or '-'} ({data.get('reason', '')})"
