"""Due fires → outbox rows, in batches.

Every process may dispatch: on PostgreSQL a batch is claimed with ``FOR UPDATE SKIP LOCKED``, so two
processes never take the same fire; on SQLite the single writer lock serialises batches. A fire
becomes ``sent`` in the same transaction that queues its outbox row, whose idempotency key is
derived from the fire, so a fire is handed over exactly once.

Before a fire is sent its reason is checked against the data as it is *now* (the computation may
be up to ten minutes old): a nudge whose document arrived, or a milestone reminder for a dossier
that moved on, is cancelled instead. A fire whose moment passed while the service was down goes out
at the next tick if its deadline is still ahead and is dropped otherwise; of several overdue fires
of the same series (e.g. "14 days" and "7 days" before one deadline) only the latest is sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.clock import VN_TZ
from ocop_core.db import transaction
from ocop_core.errors import NotFound
from ocop_core.lifecycle import EDITABLE, Stage
from ocop_core.models import (
    Account,
    AccountCommune,
    Document,
    Dossier,
    Fire,
    FireStatus,
    Producer,
    Role,
)
from ocop_core.plans import Milestone
from ocop_core.plans.models import min_points
from ocop_core.reminders.checks import check_due
from ocop_core.reminders.milestones import resolve_plan
from ocop_core.reminders.render import (
    DossierFacts,
    certificate_text,
    commune_check_text,
    nudge_text,
    officer_milestone_text,
    producer_milestone_text,
)
from ocop_core.reminders.schedule import FireKind, QuietHours
from ocop_core.rules import get_ruleset, requirements_for
from ocop_core.services.context import CoreContext
from ocop_core.services.outbox import PRIORITY_REMINDER, enqueue_many

__all__ = ["DispatchStats", "Message", "dispatch_due", "dispatch_in", "fire_key"]

BATCH = 200


def fire_key(fire_id: int) -> str:
    """The outbox idempotency key of a fire: one fire, one message, whatever happens."""
    return f"fire:{fire_id}"


@dataclass(frozen=True)
class Message:
    """A rendered reminder, for the dry run's listing and for tests."""

    fire_id: int
    kind: str
    account_id: int
    channel: str
    chat_id: str
    name: str
    text: str


@dataclass
class DispatchStats:
    due: int = 0
    queued: int = 0  # handed to the outbox
    late: int = 0  # dropped: deadline behind us
    superseded: int = 0  # dropped: a later fire of the same series goes instead
    cancelled: int = 0  # the reason disappeared since the last computation
    quiet: bool = False  # nothing done: inside the quiet hours
    messages: list[Message] = field(default_factory=list)

    def add(self, other: DispatchStats) -> None:
        self.due += other.due
        self.queued += other.queued
        self.late += other.late
        self.superseded += other.superseded
        self.cancelled += other.cancelled
        self.messages.extend(other.messages)


async def dispatch_due(
    sessions: async_sessionmaker[AsyncSession],
    ctx: CoreContext,
    *,
    quiet: QuietHours | None = None,
    batch_size: int = BATCH,
) -> DispatchStats:
    """Hand every due fire to the outbox, one committed batch at a time."""
    quiet = quiet or QuietHours()
    now = ctx.clock.now()
    total = DispatchStats(quiet=quiet.contains(now))
    if total.quiet:
        return total
    while True:
        async with transaction(sessions) as s:
            batch = await _dispatch_batch(s, ctx, now, batch_size)
        if batch is None:
            return total
        total.add(batch)


async def dispatch_in(
    s: AsyncSession, ctx: CoreContext, *, quiet: QuietHours | None = None, batch_size: int = BATCH
) -> DispatchStats:
    """The same inside one transaction the caller owns (the dry run rolls it back)."""
    quiet = quiet or QuietHours()
    now = ctx.clock.now()
    total = DispatchStats(quiet=quiet.contains(now))
    if total.quiet:
        return total
    while (batch := await _dispatch_batch(s, ctx, now, batch_size)) is not None:
        total.add(batch)
    return total


# -- one batch ----------------------------------------------------------------------------------


@dataclass
class _Loaded:
    """What a batch needs, fetched with a few set queries instead of one per fire."""

    accounts: dict[int, Account]
    dossiers: dict[int, Dossier]
    owners: dict[int, int | None]  # producer id → account id
    pages: dict[int, set[str]]  # dossier id → requirements that have a current page
    renewed: set[int]  # certified dossiers that already have a follow-up dossier
    communes: dict[int, list[str]]  # officer account id → communes in scope


async def _dispatch_batch(
    s: AsyncSession, ctx: CoreContext, now: datetime, size: int
) -> DispatchStats | None:
    fires = await _claim(s, now, size)
    if not fires:
        return None
    today = now.astimezone(VN_TZ).date()
    stats = DispatchStats(due=len(fires))
    verdicts: dict[str, list[int]] = defaultdict(list)
    live: list[Fire] = []
    for fire in fires:
        if fire.deadline is not None and fire.deadline < today:
            verdicts[FireStatus.DROPPED].append(fire.id or 0)
            stats.late += 1
        else:
            live.append(fire)
    superseded = await _superseded(s, live, now)
    stats.superseded = len(superseded)
    verdicts[FireStatus.DROPPED].extend(superseded)
    live = [f for f in live if f.id not in superseded]

    loaded = await _load(s, live)
    queue: list[tuple[Account, dict[str, Any], str, int]] = []
    for fire in live:
        account = loaded.accounts.get(fire.recipient_id)
        text = await _render(s, ctx, fire, account, loaded, today) if account else None
        if text is None or account is None:
            verdicts[FireStatus.CANCELLED].append(fire.id or 0)
            stats.cancelled += 1
            continue
        queue.append((account, {"text": text}, fire_key(fire.id or 0), PRIORITY_REMINDER))
        verdicts[FireStatus.SENT].append(fire.id or 0)
        stats.messages.append(
            Message(
                fire_id=fire.id or 0,
                kind=fire.kind,
                account_id=account.id or 0,
                channel=account.channel,
                chat_id=account.chat_id,
                name=account.display_name,
                text=text,
            )
        )
    stats.queued = await enqueue_many(s, queue, now=now)
    await _record(s, verdicts, now)
    return stats


async def _claim(s: AsyncSession, now: datetime, size: int) -> list[Fire]:
    """The due fires of one batch (PostgreSQL: locked, skipping those another process holds)."""
    stmt = (
        select(Fire)
        .where(Fire.status == FireStatus.PENDING, col(Fire.fire_at) <= now)
        .order_by(col(Fire.fire_at), col(Fire.id))
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    return list((await s.exec(stmt)).all())


async def _record(s: AsyncSession, verdicts: dict[str, list[int]], now: datetime) -> None:
    for status, ids in verdicts.items():
        if ids:
            await s.exec(
                update(Fire)
                .where(col(Fire.id).in_(ids))
                .values(status=status, updated_at=now)
                .execution_options(synchronize_session=False)
            )


async def _superseded(s: AsyncSession, fires: Sequence[Fire], now: datetime) -> set[int]:
    """Fires of the batch for which a later fire of the same series is also due or already went."""
    by_type: dict[str, set[int]] = defaultdict(set)
    for fire in fires:
        by_type[fire.subject_type].add(fire.subject_id)
    latest: dict[tuple[Any, ...], datetime] = {}
    for subject_type, ids in by_type.items():
        rows = await s.exec(
            select(Fire.subject_id, Fire.kind, Fire.recipient_id, Fire.fire_at, Fire.payload).where(
                Fire.subject_type == subject_type,
                col(Fire.subject_id).in_(sorted(ids)),
                # A sent fire counts whatever its moment: after the clock jumped back, an older
                # fire of its series must not go out behind it.
                or_(
                    col(Fire.status) == FireStatus.SENT,
                    (col(Fire.status) == FireStatus.PENDING) & (col(Fire.fire_at) <= now),
                ),
            )
        )
        for subject_id, kind, recipient, at, payload in rows.all():
            key = (subject_type, subject_id, kind, recipient, (payload or {}).get("series"))
            if key not in latest or at > latest[key]:
                latest[key] = at
    out: set[int] = set()
    for fire in fires:
        key = (
            fire.subject_type,
            fire.subject_id,
            fire.kind,
            fire.recipient_id,
            fire.payload.get("series"),
        )
        if latest.get(key, fire.fire_at) > fire.fire_at:
            out.add(fire.id or 0)
    return out


async def _load(s: AsyncSession, fires: Sequence[Fire]) -> _Loaded:
    recipient_ids = sorted({f.recipient_id for f in fires})
    dossier_ids = sorted({f.subject_id for f in fires if f.subject_type == "dossier"})
    accounts = {
        a.id or 0: a
        for a in (await s.exec(select(Account).where(col(Account.id).in_(recipient_ids)))).all()
    }
    dossiers = {
        d.id or 0: d
        for d in (await s.exec(select(Dossier).where(col(Dossier.id).in_(dossier_ids)))).all()
    }
    producer_ids = sorted({d.producer_id for d in dossiers.values()})
    owners = dict(
        (
            await s.exec(
                select(Producer.id, Producer.account_id).where(col(Producer.id).in_(producer_ids))
            )
        ).all()
    )
    pages: dict[int, set[str]] = defaultdict(set)
    rows = await s.exec(
        select(Document.dossier_id, Document.requirement).where(
            col(Document.dossier_id).in_(dossier_ids), col(Document.replaced).is_(False)
        )
    )
    for dossier_id, requirement in rows.all():
        pages[dossier_id].add(requirement)
    renewed: set[int] = set()
    certified = [d for d in dossiers.values() if d.stage == Stage.CERTIFIED]
    if certified:
        follow_ups = await s.exec(
            select(
                Dossier.producer_id,
                Dossier.previous_dossier_id,
                Dossier.previous_certificate_number,
            ).where(col(Dossier.producer_id).in_(sorted({d.producer_id for d in certified})))
        )
        later = follow_ups.all()
        for d in certified:
            if any(
                p == d.producer_id
                and (prev_id == d.id or (prev_no and prev_no == d.certificate_number))
                for p, prev_id, prev_no in later
            ):
                renewed.add(d.id or 0)
    officer_ids = [a for a, acc in accounts.items() if acc.role == Role.COMMUNE]
    communes: dict[int, list[str]] = defaultdict(list)
    if officer_ids:
        rows2 = await s.exec(
            select(AccountCommune.account_id, AccountCommune.commune_code).where(
                col(AccountCommune.account_id).in_(officer_ids)
            )
        )
        for account_id, code in rows2.all():
            communes[account_id].append(code)
    return _Loaded(accounts, dossiers, owners, pages, renewed, communes)


def _facts(loaded: _Loaded, dossier: Dossier) -> DossierFacts:
    have = loaded.pages.get(dossier.id or 0, set())
    missing = [
        r.code
        for r in requirements_for(dossier.criteria_set, dossier.attempt)
        if r.blocking and r.code not in have
    ]
    return DossierFacts(dossier, missing)


def _milestone(
    ctx: CoreContext, payload: dict[str, Any], dossier: Dossier | None = None
) -> Milestone | None:
    plan_id = str(payload.get("plan_id"))
    if dossier is not None:
        plan = resolve_plan(ctx, plan_id, dossier.province_code, dossier.year)
    else:
        try:
            plan = ctx.plans.get(plan_id)
        except NotFound:
            return None
    return plan.milestone(str(payload.get("milestone_id"))) if plan else None


async def _render(
    s: AsyncSession,
    ctx: CoreContext,
    fire: Fire,
    account: Account,
    loaded: _Loaded,
    today: date,
) -> str | None:
    """The text for this fire, or None when its reason is gone (the fire is then cancelled)."""
    payload = fire.payload or {}
    deadline = fire.deadline or today
    if fire.subject_type == "dossier":
        dossier = loaded.dossiers.get(fire.subject_id)
        if dossier is None or loaded.owners.get(dossier.producer_id) != account.id:
            return None
        if fire.kind == FireKind.MILESTONE:
            milestone = _milestone(ctx, payload, dossier)
            if milestone is None or dossier.stage not in milestone.stages:
                return None
            floor = min_points(milestone, dossier.ruleset)
            if floor is not None and (dossier.points or 0) < floor:
                return None
            facts = _facts(loaded, dossier)
            return producer_milestone_text(account.locale, milestone, deadline, today, facts)
        if fire.kind == FireKind.MISSING_DOCUMENTS:
            facts = _facts(loaded, dossier)
            if dossier.stage not in EDITABLE or not facts.missing:
                return None
            return nudge_text(account.locale, facts, today)
        if fire.kind == FireKind.EXPIRY:
            expiry = dossier.certificate_expiry
            if (
                dossier.stage != Stage.CERTIFIED
                or expiry is None
                or expiry.isoformat() != payload.get("expiry")
                or (dossier.id or 0) in loaded.renewed
            ):
                return None
            closes = date.fromisoformat(str(payload["closes"]))
            return certificate_text(account.locale, str(payload["moment"]), dossier, closes, expiry)
        return None
    if fire.kind == FireKind.MILESTONE:
        milestone = _milestone(ctx, payload)
        if milestone is None or account.role != payload.get("audience"):
            return None
        floor = _officer_floor(ctx, payload, milestone)
        return await _officer_milestone(
            s, account, loaded, milestone, payload, (deadline, today), floor
        )
    if fire.kind == FireKind.COMMUNE_CHECK:
        if account.role != Role.COMMUNE:
            return None
        return await _commune_check(s, account, loaded, payload, deadline, today)
    return None


def _officer_floor(ctx: CoreContext, payload: dict[str, Any], milestone: Milestone) -> float | None:
    try:
        ruleset = ctx.plans.get(str(payload.get("plan_id"))).ruleset
    except NotFound:
        return None
    return min_points(milestone, ruleset)


def _scope_filter(account: Account, loaded: _Loaded) -> Any:
    if account.role == Role.PROVINCE:
        return col(Dossier.province_code) == (account.province_code or "")
    return col(Dossier.commune_code).in_(sorted(loaded.communes.get(account.id or 0, [])))


async def _officer_milestone(
    s: AsyncSession,
    account: Account,
    loaded: _Loaded,
    milestone: Milestone,
    payload: dict[str, Any],
    days: tuple[date, date],
    floor: float | None,
) -> str | None:
    deadline, today = days
    where = [
        Dossier.plan_id == str(payload.get("plan_id")),
        col(Dossier.stage).in_(list(milestone.stages)),
        _scope_filter(account, loaded),
    ]
    if floor is not None:
        where.append(col(Dossier.points) >= floor)
    count = (await s.exec(select(func.count()).select_from(Dossier).where(*where))).one()
    if not count:
        return None
    codes = (
        await s.exec(
            select(Dossier.receipt_code).where(*where).order_by(col(Dossier.receipt_code)).limit(5)
        )
    ).all()
    return officer_milestone_text(
        account.locale, account.role, milestone, deadline, today, list(codes), int(count)
    )


async def _commune_check(
    s: AsyncSession,
    account: Account,
    loaded: _Loaded,
    payload: dict[str, Any],
    deadline: date,
    today: date,
) -> str | None:
    due = date.fromisoformat(str(payload.get("due")))
    rows = await s.exec(
        select(Dossier.receipt_code, Dossier.submitted_at, Dossier.ruleset).where(
            Dossier.stage == Stage.SUBMITTED,
            col(Dossier.submitted_at).is_not(None),
            _scope_filter(account, loaded),
        )
    )
    matched = sorted(
        (code, ruleset)
        for code, submitted_at, ruleset in rows.all()
        if submitted_at is not None
        and check_due(ruleset, submitted_at.astimezone(VN_TZ).date()) == due
    )
    if not matched:
        return None
    days = get_ruleset(matched[0][1]).level("commune").check_working_days or 0
    codes = [code for code, _ruleset in matched]
    return commune_check_text(account.locale, due, today, days, codes, len(codes))
