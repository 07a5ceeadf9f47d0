"""Dossier use cases: register, look up, and every stage change with its audit event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core import lifecycle, receipts
from ocop_core.authz import Actor, can_view, dossier_scope
from ocop_core.clock import local_today
from ocop_core.errors import Conflict, InvalidTransition, NotFound, ValidationError
from ocop_core.i18n import N_
from ocop_core.lifecycle import Action, Move, Stage
from ocop_core.models import (
    Attempt,
    Commune,
    Document,
    Dossier,
    DossierEvent,
    Producer,
    ProducerKind,
    Role,
)
from ocop_core.rules import get_ruleset, requirements_for, ruleset_for_date, taxonomy
from ocop_core.services import rounds
from ocop_core.services.context import CoreContext
from ocop_core.services.deadlines import next_due_for, plan_of

MAX_CODE_ATTEMPTS = 8


@dataclass
class ProducerInput:
    kind: str
    name: str
    commune_code: str
    representative: str = ""
    registration_number: str | None = None
    address: str = ""
    phone: str | None = None


@dataclass
class RegistrationInput:
    producer: ProducerInput
    product_name: str
    criteria_set: int
    attempt: str = Attempt.NEW
    previous_certificate_number: str | None = None
    previous_certificate_date: date | None = None
    details: dict[str, Any] = field(default_factory=dict)
    filed_on: date | None = None  # a paper dossier brought to the commune earlier; default today


def _clean(text: str, limit: int, key: str) -> str:
    value = " ".join(text.split())
    if not value:
        raise ValidationError(N_("error.field_required"), field=f"field.{key}")
    if len(value) > limit:
        raise ValidationError(N_("error.field_too_long"), field=f"field.{key}", limit=limit)
    return value


async def _validated_commune(s: AsyncSession, code: str) -> Commune:
    commune = await s.get(Commune, code.strip())
    if commune is None:
        raise ValidationError(N_("error.unknown_commune"), code=code[:20])
    return commune


async def _producer_for(s: AsyncSession, actor: Actor, data: ProducerInput) -> Producer:
    if data.kind not in {k.value for k in ProducerKind}:
        raise ValidationError(N_("error.unknown_producer_kind"), kind=data.kind[:20])
    commune = await _validated_commune(s, data.commune_code)
    name = _clean(data.name, 200, "producer_name")
    existing = (
        await s.exec(
            select(Producer).where(Producer.account_id == actor.account_id, Producer.name == name)
        )
    ).first()
    producer = existing or Producer(
        account_id=actor.account_id, kind=data.kind, name=name, commune_code=commune.code
    )
    producer.kind = data.kind
    producer.commune_code = commune.code
    producer.representative = " ".join(data.representative.split())[:200]
    producer.registration_number = (data.registration_number or "").strip()[:40] or None
    producer.address = " ".join(data.address.split())[:300]
    producer.phone = data.phone
    s.add(producer)
    await s.flush()
    return producer


async def producer_of(s: AsyncSession, actor: Actor) -> Producer | None:
    """The producer this person registered most recently (a second product reuses it)."""
    if actor.account_id is None:
        return None
    stmt = (
        select(Producer)
        .where(Producer.account_id == actor.account_id)
        .order_by(col(Producer.id).desc())
    )
    return (await s.exec(stmt)).first()


async def register_dossier(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    data: RegistrationInput,
    *,
    randbelow: Any = None,
) -> Dossier:
    """A producer registers a product idea; the dossier gets its receipt code and plan."""
    if actor.role not in (Role.PRODUCER, Role.ADMIN):
        raise InvalidTransition(N_("error.not_allowed"))
    criteria = taxonomy().criteria_set(data.criteria_set)
    if data.attempt not in {a.value for a in Attempt}:
        raise ValidationError(N_("error.unknown_attempt"), attempt=data.attempt[:20])
    if data.attempt != Attempt.NEW and not data.previous_certificate_number:
        raise ValidationError(N_("error.previous_certificate_required"))
    today = local_today(ctx.clock)
    filed = data.filed_on or today
    if filed > today:
        raise ValidationError(N_("rounds.error.filed_in_future"), date=filed.strftime("%d/%m/%Y"))
    commune = await _validated_commune(s, data.producer.commune_code)
    producer = await _producer_for(s, actor, data.producer)
    now = ctx.clock.now()
    dossier = Dossier(
        receipt_code="",
        producer_id=producer.id or 0,
        province_code=commune.province_code,
        commune_code=commune.code,
        product_name=_clean(data.product_name, 200, "product_name"),
        criteria_set=criteria.code,
        attempt=data.attempt,
        ruleset=ruleset_for_date(filed).id,
        plan_id="",
        year=filed.year,
        stage=Stage.IDEA_REGISTERED,
        previous_certificate_number=data.previous_certificate_number,
        previous_certificate_date=data.previous_certificate_date,
        details=dict(data.details),
        filed_on=data.filed_on,
        created_at=now,
        updated_at=now,
    )
    # The round open on the filing day under the rules in force that day; the roll-over pass
    # moves a paper dossier filed long ago on to today's round.
    ref = rounds.choose_round(ctx, dossier, filed)
    if ref is not None:
        dossier.year = ref.year
    await _insert_with_unique_code(s, dossier, randbelow)
    s.add(_event(dossier, actor, Action.REGISTER, None, Stage.IDEA_REGISTERED, now=now))
    await rounds.place(s, ctx, actor, dossier, ref, reason="registered", today=filed, now=now)
    return dossier


async def _insert_with_unique_code(s: AsyncSession, dossier: Dossier, randbelow: Any) -> None:
    """Draw random codes until one is free; the unique index is the arbiter, not a read."""
    for _ in range(MAX_CODE_ATTEMPTS):
        dossier.receipt_code = receipts.new_code(dossier.province_code, dossier.year, randbelow)
        try:
            async with s.begin_nested():
                s.add(dossier)
                await s.flush()
            return
        except IntegrityError:
            dossier.id = None  # the savepoint rolled back; draw again
    raise Conflict(N_("error.try_again"))


async def get_dossier(s: AsyncSession, actor: Actor, code: str) -> Dossier:
    """The dossier with this receipt code if ``actor`` may see it; otherwise NotFound either way."""
    canonical = receipts.normalise(code)
    if canonical is None:
        raise NotFound(N_("error.dossier_not_found"), code=code[:20])
    dossier = (await s.exec(select(Dossier).where(Dossier.receipt_code == canonical))).first()
    if dossier is None or not can_view(actor, dossier, await _owner(s, dossier)):
        raise NotFound(N_("error.dossier_not_found"), code=canonical)
    return dossier


async def get_dossier_by_id(s: AsyncSession, actor: Actor, dossier_id: int) -> Dossier:
    dossier = await s.get(Dossier, dossier_id)
    if dossier is None or not can_view(actor, dossier, await _owner(s, dossier)):
        raise NotFound(N_("error.dossier_not_found"), code=str(dossier_id))
    return dossier


async def _owner(s: AsyncSession, dossier: Dossier) -> int | None:
    producer = await s.get(Producer, dossier.producer_id)
    return producer.account_id if producer else None


async def list_dossiers(s: AsyncSession, actor: Actor, limit: int = 50) -> list[Dossier]:
    stmt = (
        select(Dossier)
        .where(dossier_scope(actor))
        .order_by(col(Dossier.created_at).desc())
        .limit(limit)
    )
    return list((await s.exec(stmt)).all())


async def current_documents(s: AsyncSession, dossier_id: int) -> list[Document]:
    stmt = (
        select(Document)
        .where(Document.dossier_id == dossier_id, col(Document.replaced).is_(False))
        .order_by(Document.requirement, Document.page)
    )
    return list((await s.exec(stmt)).all())


async def missing_requirements(s: AsyncSession, dossier: Dossier) -> list[Any]:
    have = {d.requirement for d in await current_documents(s, dossier.id or 0)}
    return [
        r
        for r in requirements_for(dossier.criteria_set, dossier.attempt)
        if r.blocking and r.code not in have
    ]


def _event(
    dossier: Dossier,
    actor: Actor,
    action: Action,
    from_stage: str | None,
    to_stage: str | None,
    *,
    now: Any,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> DossierEvent:
    return DossierEvent(
        dossier_id=dossier.id or 0,
        actor_id=actor.account_id,
        action=action.value,
        from_stage=from_stage,
        to_stage=to_stage,
        note=note[:2000],
        data=data or {},
        at=now,
    )


def _check_version(dossier: Dossier, expected_version: int | None) -> None:
    """The person acted on what they saw: if the dossier moved since, tell them, don't guess."""
    if expected_version is not None and expected_version != dossier.version:
        raise Conflict(N_("error.dossier_changed"), code=dossier.receipt_code)


async def apply_move(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    action: Action,
    move: Move,
    *,
    expected_version: int | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
) -> Dossier:
    """Write the move with a compare-and-set on ``version``: of two officers acting at once,
    one wins and the other gets ``Conflict``."""
    _check_version(dossier, expected_version)
    if dossier not in s:
        s.add(dossier)  # loaded in an earlier unit of work: re-attach; the version check guards it
    now = ctx.clock.now()
    from_stage = dossier.stage
    values: dict[str, Any] = dict(changes or {})
    values.update(stage=move.to_stage.value, updated_at=now, version=dossier.version + 1)
    if move.stars is not None:
        values["stars"] = move.stars
    probe = Dossier.model_validate({**dossier.model_dump(), **values})
    values["next_due"] = next_due_for(ctx, probe, local_today(ctx.clock))
    result = await s.exec(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.version) == dossier.version)
        .values(**values)
    )
    if result.rowcount != 1:
        raise Conflict(N_("error.dossier_changed"), code=dossier.receipt_code)
    await s.refresh(dossier)
    s.add(
        _event(
            dossier, actor, action, from_stage, move.to_stage.value, now=now, note=note, data=data
        )
    )
    await s.flush()
    return dossier


async def submit(s: AsyncSession, ctx: CoreContext, actor: Actor, dossier: Dossier) -> Dossier:
    move = lifecycle.plan_submit(actor, dossier.stage)
    missing = await missing_requirements(s, dossier)
    if missing:
        raise InvalidTransition(
            N_("error.documents_missing"),
            count=len(missing),
            items=[f"doc.{m.code}" for m in missing],
        )
    return await apply_move(
        s, ctx, actor, dossier, Action.SUBMIT, move, changes={"submitted_at": ctx.clock.now()}
    )


async def edit_details(
    s: AsyncSession, ctx: CoreContext, actor: Actor, dossier: Dossier, **fields: Any
) -> Dossier:
    lifecycle.plan_edit(actor, dossier.stage)
    changes: dict[str, Any] = {}
    details = dict(dossier.details)
    for name, value in fields.items():
        if name == "product_name":
            changes[name] = _clean(str(value), 200, name)
        elif name == "criteria_set":
            changes[name] = taxonomy().criteria_set(int(value)).code
        else:
            details[name] = value
    changes["details"] = details
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.EDIT,
        Move(Stage(dossier.stage)),
        changes=changes,
        data={"fields": sorted(fields)},
    )


async def record_document(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    requirement: str,
    pages: list[dict[str, Any]],
    replace: bool = False,
) -> list[Document]:
    """Attach stored files (one per page) to a requirement of the dossier's checklist."""
    move = lifecycle.plan_add_document(actor, dossier.stage)
    codes = {r.code for r in requirements_for(dossier.criteria_set, dossier.attempt)}
    if requirement not in codes:
        raise ValidationError(N_("error.unknown_requirement"), requirement=requirement[:48])
    existing = [
        d for d in await current_documents(s, dossier.id or 0) if d.requirement == requirement
    ]
    if replace:
        for doc in existing:
            doc.replaced = True
            s.add(doc)
        first_page = 1
    else:
        first_page = max((d.page for d in existing), default=0) + 1
    now = ctx.clock.now()
    docs = []
    for offset, page in enumerate(pages):
        doc = Document(
            dossier_id=dossier.id or 0,
            requirement=requirement,
            page=first_page + offset,
            uploaded_by=actor.account_id,
            created_at=now,
            **page,
        )
        s.add(doc)
        docs.append(doc)
    await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.ADD_DOCUMENT,
        move,
        data={"requirement": requirement, "pages": len(pages), "replace": replace},
    )
    return docs


async def request_documents(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    items: list[str],
    note: str = "",
    expected_version: int | None = None,
) -> Dossier:
    _check_version(dossier, expected_version)
    move = lifecycle.plan_request_documents(actor, dossier.stage)
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.REQUEST_DOCUMENTS,
        move,
        expected_version=expected_version,
        note=note,
        data={"items": items},
    )


COMMUNE_CRITERIA = ("local_raw_material", "local_labour", "idea_origin", "local_identity")


async def record_commune_check(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    results: dict[str, dict[str, Any]],
    expected_version: int | None = None,
) -> Dossier:
    """Mẫu 03: the four local criteria, each met or not, with a note."""
    _check_version(dossier, expected_version)
    move = lifecycle.plan_commune_check(actor, dossier.stage)
    if set(results) != set(COMMUNE_CRITERIA):
        raise ValidationError(N_("error.commune_check_incomplete"))
    check = {
        key: {"met": bool(results[key].get("met")), "note": str(results[key].get("note", ""))[:500]}
        for key in COMMUNE_CRITERIA
    }
    check["checked_by"] = actor.account_id  # type: ignore[assignment]
    check["checked_at"] = ctx.clock.now().isoformat()  # type: ignore[assignment]
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.RECORD_COMMUNE_CHECK,
        move,
        expected_version=expected_version,
        changes={"commune_check": check},
    )


async def forward(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    expected_version: int | None = None,
) -> Dossier:
    _check_version(dossier, expected_version)
    ruleset = get_ruleset(dossier.ruleset)
    move = lifecycle.plan_forward(actor, dossier.stage, ruleset, dossier.points)
    if dossier.stage == Stage.COMMUNE_CHECKED:
        missing = await missing_requirements(s, dossier)
        if missing:
            raise InvalidTransition(
                N_("error.cannot_forward_missing"),
                count=len(missing),
                items=[f"doc.{m.code}" for m in missing],
            )
    return await apply_move(
        s, ctx, actor, dossier, Action.FORWARD, move, expected_version=expected_version
    )


async def return_to_producer(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    reason: str,
    expected_version: int | None = None,
) -> Dossier:
    _check_version(dossier, expected_version)
    move = lifecycle.plan_return(actor, dossier.stage)
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.RETURN,
        move,
        expected_version=expected_version,
        note=_clean(reason, 2000, "reason"),
    )


async def reject(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    reason: str,
    expected_version: int | None = None,
) -> Dossier:
    _check_version(dossier, expected_version)
    move = lifecycle.plan_reject(actor, dossier.stage)
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.REJECT,
        move,
        expected_version=expected_version,
        note=_clean(reason, 2000, "reason"),
    )


async def record_score(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    points: Any,
    expected_version: int | None = None,
) -> Dossier:
    _check_version(dossier, expected_version)
    value = lifecycle.parse_points(points)
    move = score_move(ctx, actor, dossier, dossier.stage, value)
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.RECORD_SCORE,
        move,
        expected_version=expected_version,
        changes={"points": value},
        data={"points": value, "stars": move.stars, "level": lifecycle.stage_level(dossier.stage)},
    )


def score_move(ctx: CoreContext, actor: Actor, dossier: Dossier, stage: str, points: float) -> Move:
    """The lifecycle's verdict on a council score, with the plan's say on sending it back down.

    Under 148's three tiers a province score too low for 4★ goes back to the district only where
    the province's plan says so (Hà Nam 2024, below 70); Lai Châu's plan has no such path.
    """
    ruleset = get_ruleset(dossier.ruleset)
    lower_return = True
    if ruleset.has_district and lifecycle.stage_level(stage) == "province":
        plan = plan_of(ctx, dossier)
        floor = plan.province_returns_below if plan is not None else None
        lower_return = floor is not None and points < floor
    return lifecycle.plan_score(actor, stage, ruleset, points, lower_return=lower_return)


async def certify(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    number: str,
    issued: date,
    expected_version: int | None = None,
) -> Dossier:
    _check_version(dossier, expected_version)
    ruleset = get_ruleset(dossier.ruleset)
    move = lifecycle.plan_certify(actor, dossier.stage, ruleset, dossier.stars)
    if issued > local_today(ctx.clock):
        raise ValidationError(N_("error.date_in_future"), date=issued.strftime("%d/%m/%Y"))
    if issued < rounds.filed_on(dossier):
        raise ValidationError(
            N_("rounds.error.cert_before_filing"),
            date=issued.strftime("%d/%m/%Y"),
            filed=rounds.filed_on(dossier).strftime("%d/%m/%Y"),
        )
    return await apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.CERTIFY,
        move,
        expected_version=expected_version,
        changes={
            "certificate_number": _clean(number, 64, "certificate_number"),
            "certificate_date": issued,
            "certificate_expiry": ruleset.certificate_expiry(issued),
        },
    )


async def revoke(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    reason: str,
) -> Dossier:
    move = lifecycle.plan_revoke(actor, dossier.stage)
    return await apply_move(
        s, ctx, actor, dossier, Action.REVOKE, move, note=_clean(reason, 2000, "reason")
    )


async def events_of(s: AsyncSession, actor: Actor, dossier: Dossier) -> list[DossierEvent]:
    await get_dossier_by_id(s, actor, dossier.id or 0)
    stmt = (
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id)
        .order_by(col(DossierEvent.at), col(DossierEvent.id))
    )
    return list((await s.exec(stmt)).all())
