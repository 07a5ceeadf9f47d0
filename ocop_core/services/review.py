"""Officers' use cases: the inbox of what needs them, the dossier card, the actions open to them.

Scope always comes from ``dossier_scope``/``get_dossier_by_id``; which actions a card offers is
decided by dry-running the lifecycle's own ``plan_*`` checks, so the buttons can never promise
something the core would refuse for reasons of role or stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core import lifecycle
from ocop_core.authz import Actor, dossier_scope
from ocop_core.clock import VN_TZ
from ocop_core.errors import DomainError, NotFound, ValidationError
from ocop_core.i18n import N_
from ocop_core.lifecycle import COMMUNE_DESK, EDITABLE, TERMINAL, Stage
from ocop_core.models import Account, Commune, Document, Dossier, Producer, Province, Role
from ocop_core.rules import Requirement, get_ruleset, requirements_for
from ocop_core.services import personal_data
from ocop_core.services.context import CoreContext
from ocop_core.services.deadlines import commune_check_due
from ocop_core.services.dossiers import current_documents, get_dossier_by_id
from ocop_core.services.status import ACTIONABLE, StatusSummary, summarise

PAGE_SIZE = 5

VIEW_MINE = "mine"  # what waits for me now
VIEW_OPEN = "open"  # everything still open in my scope
VIEW_MISSING = "missing"  # open dossiers with a mandatory or knock-out document missing
VIEW_STAGE = "stage"  # one stage
VIEWS = (VIEW_MINE, VIEW_OPEN, VIEW_MISSING, VIEW_STAGE)

# Actions a card may offer, in the order they are shown.
ACT_REQUEST = "request_documents"
ACT_CHECK = "commune_check"
ACT_FORWARD = "forward"
ACT_SCORE = "record_score"
ACT_CERTIFY = "certify"
ACT_RETURN = "return"
ACT_REJECT = "reject"
ACT_CORRECT = "correct_score"  # within 24 hours of a council score, by provincial staff

OPEN_STAGES = frozenset(s.value for s in Stage) - frozenset(TERMINAL)
PRODUCER_SIDE = frozenset(EDITABLE) | frozenset(COMMUNE_DESK)


@dataclass(frozen=True)
class InboxEntry:
    dossier: Dossier
    producer_name: str
    commune_name: str
    missing: int
    knockout_missing: int


@dataclass(frozen=True)
class InboxPage:
    entries: list[InboxEntry]
    total: int
    page: int
    pages: int
    counts: dict[str, int]  # open dossiers per stage in the scope (and commune) viewed
    missing_count: int  # open dossiers still missing a blocking document


@dataclass(frozen=True)
class DossierCard:
    summary: StatusSummary
    producer: Producer | None
    commune_name: str
    province_name: str
    commune_check_due: date | None
    reevaluation_window: tuple[date, date] | None
    actions: list[str]

    @property
    def dossier(self) -> Dossier:
        return self.summary.dossier


def _stages_for(actor: Actor, view: str, stage: str | None) -> frozenset[str]:
    if view == VIEW_STAGE:
        if stage not in OPEN_STAGES:
            raise ValidationError(N_("error.unknown_stage"), stage=str(stage)[:24])
        return frozenset({str(stage)})
    if view == VIEW_MINE:
        if actor.role == Role.COMMUNE:
            return frozenset(COMMUNE_DESK)
        if actor.role == Role.PROVINCE:
            return ACTIONABLE[Role.PROVINCE]
        return frozenset(COMMUNE_DESK) | ACTIONABLE[Role.PROVINCE]
    if view == VIEW_MISSING or actor.role == Role.COMMUNE:
        return PRODUCER_SIDE
    return OPEN_STAGES


def _require_officer(actor: Actor) -> None:
    if not actor.is_officer:
        raise NotFound(N_("error.officers_only"))


async def check_commune(s: AsyncSession, actor: Actor, code: str) -> Commune:
    """A commune the officer may look at; others are "not found", like dossiers."""
    commune = await s.get(Commune, code)
    allowed = commune is not None and (
        actor.role == Role.ADMIN
        or (actor.role == Role.COMMUNE and commune.code in actor.communes)
        or (actor.role == Role.PROVINCE and commune.province_code == actor.province_code)
    )
    if commune is None or not allowed:
        raise NotFound(N_("error.unknown_commune"), code=code[:20])
    return commune


async def _missing_by_dossier(
    s: AsyncSession, scope: list[ColumnElement[bool]]
) -> dict[int, list[Requirement]]:
    """Blocking requirements missing per dossier, for the producer-side dossiers in ``scope``.

    Two queries whatever the number of dossiers: the documents are selected through a subquery
    (no id list, so no bound-parameter limit), the requirements are data in memory.
    """
    side = [*scope, col(Dossier.stage).in_(sorted(PRODUCER_SIDE))]
    rows = (
        await s.exec(select(Dossier.id, Dossier.criteria_set, Dossier.attempt).where(*side))
    ).all()
    if not rows:
        return {}
    have: dict[int, set[str]] = {}
    stmt = (
        select(Document.dossier_id, Document.requirement)
        .where(col(Document.dossier_id).in_(select(Dossier.id).where(*side)))
        .where(col(Document.replaced).is_(False))
        .distinct()
    )
    for dossier_id, requirement in (await s.exec(stmt)).all():
        have.setdefault(dossier_id, set()).add(requirement)
    missing: dict[int, list[Requirement]] = {}
    for dossier_id, criteria_set, attempt in rows:
        gaps = [
            r
            for r in requirements_for(criteria_set, attempt)
            if r.blocking and r.code not in have.get(dossier_id or 0, set())
        ]
        if gaps:
            missing[dossier_id or 0] = gaps
    return missing


async def inbox(
    s: AsyncSession,
    actor: Actor,
    *,
    view: str = VIEW_MINE,
    stage: str | None = None,
    commune: str | None = None,
    page: int = 0,
) -> InboxPage:
    """One page of the officer's dossiers, most urgent deadline first, with counts on top."""
    _require_officer(actor)
    if view not in VIEWS:
        raise ValidationError(N_("error.unknown_view"))
    wanted = _stages_for(actor, view, stage)
    scope = [dossier_scope(actor)]
    if commune is not None:
        await check_commune(s, actor, commune)
        scope.append(col(Dossier.commune_code) == commune)
    counted = (
        select(Dossier.stage, func.count())
        .where(*scope, col(Dossier.stage).in_(sorted(OPEN_STAGES)))
        .group_by(Dossier.stage)
    )
    counts = {stage_: int(n) for stage_, n in (await s.exec(counted)).all()}
    # Only dossiers still on the producer's or commune's side can lack documents: forwarding
    # past the commune is refused while anything blocking is missing.
    missing = await _missing_by_dossier(s, scope)
    ordered = (
        select(Dossier.id)
        .where(*scope, col(Dossier.stage).in_(sorted(wanted)))
        # NULL deadlines last on both databases: sort on "is null" first.
        .order_by(col(Dossier.next_due).is_(None), col(Dossier.next_due), col(Dossier.id))
    )
    ids = [i for i in (await s.exec(ordered)).all() if i is not None]
    if view == VIEW_MISSING:
        ids = [i for i in ids if i in missing]
    total = len(ids)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = ids[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    entries = await _entries(s, shown, missing)
    return InboxPage(entries, total, page, pages, counts, len(missing))


async def _entries(
    s: AsyncSession, ids: list[int], missing: dict[int, list[Requirement]]
) -> list[InboxEntry]:
    if not ids:
        return []
    rows = (
        await s.exec(
            select(Dossier, Producer, Commune)
            .join(Producer, col(Producer.id) == col(Dossier.producer_id))
            .join(Commune, col(Commune.code) == col(Dossier.commune_code))
            .where(col(Dossier.id).in_(ids))
        )
    ).all()
    by_id = {d.id: (d, p, c) for d, p, c in rows}
    entries = []
    for i in ids:
        d, p, c = by_id[i]
        gaps = missing.get(i, [])
        knockouts = sum(1 for r in gaps if r.kind == "knockout")
        entries.append(InboxEntry(d, p.name, c.name, len(gaps), knockouts))
    return entries


async def communes_overview(s: AsyncSession, actor: Actor) -> list[tuple[str, str, int]]:
    """Provincial staff: the communes that have open dossiers, busiest first (code, name, n)."""
    _require_officer(actor)
    if actor.role not in (Role.PROVINCE, Role.ADMIN):
        raise NotFound(N_("error.officers_only"))
    stmt = (
        select(Commune.code, Commune.name, func.count())
        .join(Dossier, col(Dossier.commune_code) == col(Commune.code))
        .where(dossier_scope(actor), col(Dossier.stage).in_(sorted(OPEN_STAGES)))
        .group_by(Commune.code, Commune.name)
        .order_by(func.count().desc(), col(Commune.name))
    )
    return [(code, name, int(n)) for code, name, n in (await s.exec(stmt)).all()]


def available_actions(actor: Actor, dossier: Dossier) -> list[str]:
    """The actions this officer may take on this dossier now (dry runs of the lifecycle)."""
    ruleset = get_ruleset(dossier.ruleset)
    stage = dossier.stage
    probes: list[tuple[str, Callable[[], Any]]] = [
        (ACT_CHECK, lambda: lifecycle.plan_commune_check(actor, stage)),
        (ACT_FORWARD, lambda: lifecycle.plan_forward(actor, stage, ruleset, dossier.points)),
        (ACT_SCORE, lambda: lifecycle.plan_score(actor, stage, ruleset, 0.0)),
        (ACT_CERTIFY, lambda: lifecycle.plan_certify(actor, stage, ruleset, dossier.stars)),
        (ACT_REQUEST, lambda: lifecycle.plan_request_documents(actor, stage)),
        (ACT_RETURN, lambda: lifecycle.plan_return(actor, stage)),
        (ACT_REJECT, lambda: lifecycle.plan_reject(actor, stage)),
    ]
    found = []
    for name, probe in probes:
        try:
            probe()
        except DomainError:
            continue
        found.append(name)
    return found


async def card(s: AsyncSession, ctx: CoreContext, actor: Actor, dossier_id: int) -> DossierCard:
    _require_officer(actor)
    dossier = await get_dossier_by_id(s, actor, dossier_id)
    summary = await summarise(s, ctx, dossier)
    producer = await s.get(Producer, dossier.producer_id)
    await personal_data.record_access(s, ctx, actor, dossier, "card")
    commune = await s.get(Commune, dossier.commune_code)
    province = await s.get(Province, dossier.province_code)
    window = None
    if dossier.certificate_expiry is not None:
        try:
            window = get_ruleset(dossier.ruleset).reevaluation_window(dossier.certificate_expiry)
        except DomainError:
            window = None
    return DossierCard(
        summary=summary,
        producer=producer,
        commune_name=commune.name if commune else dossier.commune_code,
        province_name=province.name if province else dossier.province_code,
        commune_check_due=commune_check_due(dossier),
        reevaluation_window=window,
        actions=available_actions(actor, dossier)
        + await correctable_actions(s, ctx, actor, dossier),
    )


async def correctable_actions(
    s: AsyncSession, ctx: CoreContext, actor: Actor, dossier: Dossier
) -> list[str]:
    """``[ACT_CORRECT]`` while the last council score may still be corrected by this person."""
    from ocop_core.services.results import can_correct

    return [ACT_CORRECT] if await can_correct(s, actor, dossier, ctx.clock.now()) else []


async def export_document(
    s: AsyncSession, ctx: CoreContext, actor: Actor, dossier_id: int, requirement: str
) -> tuple[Path, int]:
    """All current pages of one document as one PDF under the data dir (path, page count)."""
    from ocop_core.media import assemble_pdf  # Pillow-heavy: imported only when used

    dossier = await get_dossier_by_id(s, actor, dossier_id)
    docs = [d for d in await current_documents(s, dossier.id or 0) if d.requirement == requirement]
    if not docs:
        raise NotFound(N_("docs.nothing_to_view"))
    await personal_data.record_access(s, ctx, actor, dossier, f"document:{requirement}")
    pdf = await asyncio.to_thread(assemble_pdf, [ctx.data_dir / d.path for d in docs])
    out_dir = ctx.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dossier.receipt_code}-{requirement}.pdf"
    path.write_bytes(pdf)
    return path, len(docs)


async def officer_name(s: AsyncSession, account_id: int | None) -> str:
    account = await s.get(Account, account_id) if account_id else None
    return account.display_name if account else ""


CRITERION_KEYS = {
    "local_raw_material": N_("check.local_raw_material"),
    "local_labour": N_("check.local_labour"),
    "idea_origin": N_("check.idea_origin"),
    "local_identity": N_("check.local_identity"),
}
KIND_VI = {"mandatory": "Bắt buộc", "knockout": "Loại trừ", "evidence": "Minh chứng"}


def report_path(ctx: CoreContext, dossier: Dossier) -> Path:
    """Where a dossier's Mẫu 03 lives: one file per recorded check (a re-check after a return
    gets its own file; the old one stays for the record)."""
    check = dossier.commune_check or {}
    stamp = str(check.get("checked_at", "")).replace(":", "").replace("-", "")[:15] or "0"
    return ctx.data_dir / "reports" / dossier.receipt_code / f"mau03-{stamp}.pdf"


async def commune_report(s: AsyncSession, ctx: CoreContext, actor: Actor, dossier_id: int) -> Path:
    """The Mẫu 03 PDF of the dossier's recorded commune check, rendered on first use."""
    from ocop_core.i18n import translate
    from ocop_core.reports import CriterionLine, DocumentLine, Mau03Data, render_mau03
    from ocop_core.services.dossiers import COMMUNE_CRITERIA
    from ocop_core.services.status import checklist

    _require_officer(actor)
    dossier = await get_dossier_by_id(s, actor, dossier_id)
    check = dossier.commune_check
    if not check:
        raise NotFound(N_("error.no_commune_check"), code=dossier.receipt_code)
    path = report_path(ctx, dossier)
    if path.exists():
        return path
    producer = await s.get(Producer, dossier.producer_id)
    commune = await s.get(Commune, dossier.commune_code)
    province = await s.get(Province, dossier.province_code)
    checked_at = datetime.fromisoformat(str(check["checked_at"])).astimezone(VN_TZ)
    items = [i for i in await checklist(s, dossier) if i.requirement.blocking]
    data = Mau03Data(
        commune_name=commune.name if commune else dossier.commune_code,
        province_name=province.name if province else dossier.province_code,
        receipt_code=dossier.receipt_code,
        producer_name=producer.name if producer else "",
        producer_kind=translate(f"producer_kind.{producer.kind}", "vi") if producer else "",
        representative=producer.representative if producer else "",
        address=producer.address if producer else "",
        phone=(producer.phone or "") if producer else "",
        product_name=dossier.product_name,
        criteria_set=f"{dossier.criteria_set} – {translate(f'set.{dossier.criteria_set}', 'vi')}",
        attempt=translate(f"attempt.{dossier.attempt}", "vi"),
        checked_on=checked_at.date(),
        officer=await officer_name(s, check.get("checked_by")),
        legal_basis=get_ruleset(dossier.ruleset).title,
        criteria=[
            CriterionLine(
                translate(CRITERION_KEYS[k], "vi"), bool(check[k]["met"]), check[k]["note"]
            )
            for k in COMMUNE_CRITERIA
        ],
        documents=[
            DocumentLine(
                translate(i.requirement.label_key, "vi"), KIND_VI[i.requirement.kind], i.pages
            )
            for i in items
        ],
    )
    pdf = await asyncio.to_thread(render_mau03, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)  # never leave a half-written report behind
    return path
