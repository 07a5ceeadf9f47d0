""" "Where is my dossier, what is missing, by when?" — and an officer's most urgent list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor, dossier_scope
from ocop_core.clock import local_today
from ocop_core.errors import NotFound
from ocop_core.lifecycle import COMMUNE_DESK, EDITABLE, TERMINAL, Stage, who_acts
from ocop_core.models import Document, Dossier, Role
from ocop_core.rules import Requirement, requirements_for
from ocop_core.services import attempts
from ocop_core.services.context import CoreContext
from ocop_core.services.deadlines import Deadline, next_deadline
from ocop_core.services.dossiers import get_dossier


@dataclass(frozen=True)
class ChecklistItem:
    requirement: Requirement
    pages: int

    @property
    def done(self) -> bool:
        return self.pages > 0


@dataclass(frozen=True)
class StatusSummary:
    dossier: Dossier
    stage_key: str  # catalog key: the stage in plain words
    checklist: list[ChecklistItem]
    deadline: Deadline | None
    next_actor: str | None  # audience code: producer / commune / district / province / central
    days_left: int | None = None
    missing: list[Requirement] = field(default_factory=list)

    @property
    def by_province_plan(self) -> bool:
        """No loaded plan gives this open dossier a date: the province's own plan sets them."""
        return not self.dossier.plan_id and self.dossier.stage not in TERMINAL

    @property
    def star_minimums_missing(self) -> list[Requirement]:
        """3-star minimums of the set not yet in the dossier (what a 3-star rating still needs)."""
        return [i.requirement for i in self.checklist if i.requirement.star_minimum and not i.done]

    @property
    def knockout_missing(self) -> list[Requirement]:
        return [r for r in self.missing if r.kind == "knockout"]

    @property
    def progress(self) -> tuple[int, int]:
        required = [i for i in self.checklist if i.requirement.blocking]
        return sum(1 for i in required if i.done), len(required)


async def checklist(s: AsyncSession, dossier: Dossier) -> list[ChecklistItem]:
    stmt = (
        select(Document.requirement, func.sum(Document.pages))  # pages, not files
        .where(Document.dossier_id == dossier.id, col(Document.replaced).is_(False))
        .group_by(Document.requirement)
    )
    pages = dict((await s.exec(stmt)).all())
    return [
        ChecklistItem(req, int(pages.get(req.code, 0)))
        for req in requirements_for(dossier.criteria_set, dossier.attempt)
    ]


async def summarise(
    s: AsyncSession, ctx: CoreContext, dossier: Dossier, today: date | None = None
) -> StatusSummary:
    today = today or local_today(ctx.clock)
    items = await checklist(s, dossier)
    deadline = None if dossier.stage in TERMINAL else next_deadline(ctx, dossier, today)
    return StatusSummary(
        dossier=dossier,
        stage_key=f"stage.{dossier.stage}",
        checklist=items,
        deadline=deadline,
        next_actor=who_acts(dossier.stage),
        days_left=(deadline.due - today).days if deadline else None,
        missing=[i.requirement for i in items if i.requirement.blocking and not i.done],
    )


async def status_summary(
    s: AsyncSession, ctx: CoreContext, actor: Actor, code: str
) -> StatusSummary:
    """A receipt-code lookup, under the attempt limit: codes that are not the actor's count."""
    now = ctx.clock.now()
    await attempts.check(s, attempts.RECEIPT, actor.account_id, now, ctx.limits)
    try:
        dossier = await get_dossier(s, actor, code)
    except NotFound:
        await attempts.record_failure(s, attempts.RECEIPT, actor.account_id, now, ctx.limits)
        raise
    return await summarise(s, ctx, dossier)


# Stages an officer of each role must act on: what their inbox shows.
ACTIONABLE: dict[str, frozenset[str]] = {
    Role.COMMUNE: frozenset(COMMUNE_DESK) | frozenset(EDITABLE),
    Role.PROVINCE: frozenset(
        {
            Stage.AT_DISTRICT,
            Stage.DISTRICT_SCORED,
            Stage.AT_PROVINCE,
            Stage.PROVINCE_SCORED,
            Stage.AT_CENTRAL,
            Stage.CENTRAL_SCORED,
        }
    ),
}


async def officer_inbox(
    s: AsyncSession,
    actor: Actor,
    *,
    limit: int = 50,
    offset: int = 0,
    stages: set[str] | None = None,
) -> list[Dossier]:
    """The dossiers in ``actor``'s scope that wait for them, most urgent deadline first."""
    wanted = (
        stages or ACTIONABLE.get(actor.role) or ACTIONABLE[Role.PROVINCE] | ACTIONABLE[Role.COMMUNE]
    )
    stmt = (
        select(Dossier)
        .where(dossier_scope(actor), col(Dossier.stage).in_(sorted(wanted)))
        # NULL deadlines last on both databases: sort on "is null" first.
        .order_by(col(Dossier.next_due).is_(None), col(Dossier.next_due), col(Dossier.id))
        .offset(offset)
        .limit(limit)
    )
    return list((await s.exec(stmt)).all())


async def inbox_counts(s: AsyncSession, actor: Actor) -> dict[str, int]:
    stmt = select(Dossier.stage, func.count()).where(dossier_scope(actor)).group_by(Dossier.stage)
    return {stage: int(n) for stage, n in (await s.exec(stmt)).all()}
