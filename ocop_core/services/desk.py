"""Read models of the officers' web desk: scoped lists, counts and one dossier's full record.

Every query takes the acting person and is narrowed by ``authz.dossier_scope``: a commune
officer sees their communes, provincial staff their province. Counting happens in SQL (group by,
not Python loops), so the overview of 100,000 dossiers is a handful of statements.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    false,
    func,
    or_,
    tuple_,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core import receipts
from ocop_core.admin_units import fold
from ocop_core.authz import Actor, dossier_scope
from ocop_core.clock import local_today
from ocop_core.errors import NotFound
from ocop_core.i18n import N_
from ocop_core.lifecycle import TERMINAL, Stage
from ocop_core.models import (
    Account,
    Attempt,
    Commune,
    Document,
    Dossier,
    DossierEvent,
    EvaluationRound,
    Producer,
    Province,
    Role,
)
from ocop_core.plans import Milestone
from ocop_core.rules import requirements_for, taxonomy
from ocop_core.services import plan_progress, rounds
from ocop_core.services.context import CoreContext
from ocop_core.services.dossiers import current_documents, get_dossier_by_id

PAGE_SIZE = 50
EXPORT_LIMIT = 200_000
SORTS = ("due", "-due", "code", "-updated")

# How far along the process a stage is, for the funnel (registered → … → certified).
FUNNEL = (
    "registered",
    "documents_complete",
    "submitted",
    "commune_checked",
    "at_province",
    "scored",
    "certified",
)
_RANK = {
    Stage.IDEA_REGISTERED: 0,
    Stage.DOCUMENTS_PENDING: 0,
    Stage.REJECTED: 0,  # may have stopped anywhere: counted only as registered
    Stage.SUBMITTED: 2,
    Stage.COMMUNE_CHECKED: 3,
    Stage.AT_DISTRICT: 3,
    Stage.DISTRICT_SCORED: 3,
    Stage.AT_PROVINCE: 4,
    Stage.PROVINCE_SCORED: 5,
    Stage.AT_CENTRAL: 5,
    Stage.CENTRAL_SCORED: 5,
    Stage.NOT_CERTIFIED: 5,
    Stage.CERTIFIED: 6,
    Stage.REVOKED: 6,
}
STAGE_ORDER = tuple(_RANK)


@dataclass
class DossierFilter:
    """What the dossier table shows; every field is optional and validated on the way in."""

    year: int | None = None
    round_id: int | None = None
    stage: str | None = None
    commune: str | None = None
    criteria_set: int | None = None
    overdue: bool = False
    missing_knockout: bool = False
    q: str = ""
    sort: str = "due"
    page: int = 1

    @classmethod
    def parse(cls, params: Any) -> DossierFilter:
        """From query parameters: unknown or malformed values are dropped, never passed on."""

        def num(name: str, lo: int, hi: int) -> int | None:
            raw = str(params.get(name) or "").strip()
            return int(raw) if raw.isdigit() and lo <= int(raw) <= hi else None

        stage = str(params.get("stage") or "")
        commune = str(params.get("commune") or "").strip()
        sort = str(params.get("sort") or "due")
        return cls(
            year=num("year", 2000, 2100),
            round_id=num("round", 1, 10**9),
            stage=stage if stage in {s.value for s in Stage} else None,
            commune=commune if commune.isdigit() and len(commune) <= 12 else None,
            criteria_set=num("set", 1, 99),
            overdue=params.get("overdue") in ("1", "on", "true"),
            missing_knockout=params.get("knockout") in ("1", "on", "true"),
            q=" ".join(str(params.get("q") or "").split())[:100],
            sort=sort if sort in SORTS else "due",
            page=num("page", 1, 100_000) or 1,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters (for links that keep it: sort, pages, export)."""
        values = {
            "year": self.year,
            "round": self.round_id,
            "stage": self.stage,
            "commune": self.commune,
            "set": self.criteria_set,
            "overdue": "1" if self.overdue else None,
            "knockout": "1" if self.missing_knockout else None,
            "q": self.q or None,
            "sort": self.sort if self.sort != "due" else None,
            "page": self.page if self.page > 1 else None,
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


@dataclass(frozen=True)
class DossierRow:
    id: int
    receipt_code: str
    product_name: str
    producer_name: str
    commune_code: str
    commune_name: str
    province_code: str
    criteria_set: int
    attempt: str
    year: int
    stage: str
    next_due: date | None
    points: float | None
    stars: int | None
    certificate_number: str | None
    certificate_date: date | None
    certificate_expiry: date | None
    overdue: bool


@dataclass
class Page:
    rows: list[DossierRow]
    total: int
    page: int
    pages: int


# -- filters ---------------------------------------------------------------------------------


def requirement_groups(kinds: frozenset[str]) -> dict[tuple[str, ...], list[tuple[int, str]]]:
    """(criteria set, attempt) pairs grouped by the document codes of ``kinds`` they need."""
    by_codes: dict[tuple[str, ...], list[tuple[int, str]]] = defaultdict(list)
    for cs in taxonomy().sets:
        for attempt in Attempt:
            codes = tuple(
                sorted(r.code for r in requirements_for(cs.code, attempt.value) if r.kind in kinds)
            )
            if codes:
                by_codes[codes].append((cs.code, attempt.value))
    return by_codes


def _present(codes: tuple[str, ...]) -> Any:
    """How many of ``codes`` the dossier has a current document for (a correlated count that
    walks the (dossier_id, requirement) index)."""
    return (
        select(func.count(func.distinct(Document.requirement)))
        .where(
            Document.dossier_id == Dossier.id,
            col(Document.requirement).in_(codes),
            col(Document.replaced).is_(False),
        )
        .correlate(Dossier)
        .scalar_subquery()
    )


def lacks(kinds: frozenset[str]) -> ColumnElement[bool]:
    """Dossiers missing at least one current document of the given requirement kinds."""
    terms = [
        and_(tuple_(Dossier.criteria_set, Dossier.attempt).in_(pairs), _present(codes) < len(codes))
        for codes, pairs in requirement_groups(kinds).items()
    ]
    return or_(*terms) if terms else false()


def _overdue(today: date) -> ColumnElement[bool]:
    return and_(
        col(Dossier.next_due) < today, col(Dossier.stage).not_in([s.value for s in TERMINAL])
    )


async def _conditions(
    s: AsyncSession, actor: Actor, f: DossierFilter, today: date
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [dossier_scope(actor)]
    if f.year is not None:
        where.append(col(Dossier.year) == f.year)
    if f.round_id is not None:
        where.append(col(Dossier.round_id) == f.round_id)
    if f.stage:
        where.append(col(Dossier.stage) == f.stage)
    if f.commune:
        where.append(col(Dossier.commune_code) == f.commune)
    if f.criteria_set is not None:
        where.append(col(Dossier.criteria_set) == f.criteria_set)
    if f.overdue:
        where.append(_overdue(today))
    if f.missing_knockout:
        where.append(col(Dossier.stage).not_in([s.value for s in TERMINAL]))
        where.append(lacks(frozenset({"knockout"})))
    if f.q:
        code = receipts.normalise(f.q)
        words = fold(f.q)
        # The stored folded names (ocop_core.search_text): a plain LIKE, the same on both DBs.
        text = col(Dossier.search_text).contains(words, autoescape=True)
        where.append(or_(col(Dossier.receipt_code) == code, text) if code else text)
    return where


def _order(sort: str) -> list[Any]:
    if sort == "-due":
        return [col(Dossier.next_due).desc().nulls_last(), col(Dossier.id).desc()]
    if sort == "code":
        return [col(Dossier.receipt_code)]
    if sort == "-updated":
        return [col(Dossier.updated_at).desc(), col(Dossier.id).desc()]
    return [col(Dossier.next_due).asc().nulls_last(), col(Dossier.id)]


def _rows_stmt(where: list[ColumnElement[bool]]) -> Any:
    return (
        select(Dossier, Producer.name, Commune.name)
        .join(Producer, col(Producer.id) == col(Dossier.producer_id))
        .join(Commune, col(Commune.code) == col(Dossier.commune_code))
        .where(*where)
    )


def _row(d: Dossier, producer: str, commune: str, today: date) -> DossierRow:
    return DossierRow(
        id=d.id or 0,
        receipt_code=d.receipt_code,
        product_name=d.product_name,
        producer_name=producer,
        commune_code=d.commune_code,
        commune_name=commune,
        province_code=d.province_code,
        criteria_set=d.criteria_set,
        attempt=d.attempt,
        year=d.year,
        stage=d.stage,
        next_due=d.next_due,
        points=d.points,
        stars=d.stars,
        certificate_number=d.certificate_number,
        certificate_date=d.certificate_date,
        certificate_expiry=d.certificate_expiry,
        overdue=bool(d.next_due and d.next_due < today and d.stage not in TERMINAL),
    )


async def list_dossiers(
    s: AsyncSession, ctx: CoreContext, actor: Actor, f: DossierFilter, *, export: bool = False
) -> Page:
    """One page of the dossier table (or every row, for an export)."""
    today = local_today(ctx.clock)
    where = await _conditions(s, actor, f, today)
    size = EXPORT_LIMIT if export else PAGE_SIZE
    count_stmt = select(func.count()).select_from(Dossier).where(*where)
    total = int((await s.exec(count_stmt)).one())
    pages = max(1, -(-total // PAGE_SIZE))
    page = 1 if export else min(f.page, pages)
    if total == 0:
        return Page([], total, page, pages)
    stmt = _rows_stmt(where).order_by(*_order(f.sort)).limit(size)
    rows = [
        _row(d, p, c, today)
        for d, p, c in (await s.exec(stmt.offset((page - 1) * PAGE_SIZE))).all()
    ]
    return Page(rows, total, page, pages)


# -- overview ----------------------------------------------------------------------------------


@dataclass
class Overview:
    year: int
    total: int
    by_stage: list[tuple[str, int]]
    funnel: list[tuple[str, int]]
    by_commune: list[tuple[str, str, int]]  # code, name, count (most first)
    overdue_count: int
    overdue: list[DossierRow]
    deadlines: list[tuple[date, Milestone, str]] = field(default_factory=list)  # due, step, plan
    years: list[int] = field(default_factory=list)
    current_round: DeskRound | None = None


async def overview(
    s: AsyncSession, ctx: CoreContext, actor: Actor, year: int | None = None, *, communes: int = 15
) -> Overview:
    today = local_today(ctx.clock)
    year = year or today.year
    scope = [dossier_scope(actor), col(Dossier.year) == year]
    # One index-only pass (ix_dossier_desk_year): (stage, commune, documents complete)
    # groups, summed every way here.
    pairs_stmt = (
        select(Dossier.stage, Dossier.commune_code, Dossier.documents_complete, func.count())
        .where(*scope)
        .group_by(Dossier.stage, Dossier.commune_code, Dossier.documents_complete)
    )
    counts: dict[str, int] = defaultdict(int)
    per_commune: dict[str, int] = defaultdict(int)
    complete: dict[str, int] = defaultdict(int)
    for stage, commune, done, n in (await s.exec(pairs_stmt)).all():
        counts[stage] += int(n)
        per_commune[commune] += int(n)
        if done:
            complete[stage] += int(n)
    by_stage = [(st.value, counts[st]) for st in STAGE_ORDER if counts.get(st)]
    total = sum(n for _, n in by_stage)
    funnel = _funnel(counts, complete)
    by_commune = await _commune_names(s, per_commune, communes)
    late = [*scope, _overdue(today)]
    overdue_count = int((await s.exec(select(func.count()).where(*late))).one())
    overdue_stmt = _rows_stmt(late).order_by(*_order("due")).limit(10)
    overdue = [_row(d, p, c, today) for d, p, c in (await s.exec(overdue_stmt)).all()]
    years = sorted({*await years_in_scope(s, actor), year}, reverse=True)
    return Overview(
        year=year,
        total=total,
        by_stage=by_stage,
        funnel=funnel,
        by_commune=by_commune,
        overdue_count=overdue_count,
        overdue=overdue,
        deadlines=await next_deadlines(s, ctx, actor, today, year),
        years=years,
        current_round=current_round_of(await rounds_in_scope(s, actor), today),
    )


async def _commune_names(
    s: AsyncSession, per_commune: dict[str, int], limit: int
) -> list[tuple[str, str, int]]:
    """The communes with most dossiers, with their names."""
    top = sorted(per_commune.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    stmt = select(Commune.code, Commune.name).where(col(Commune.code).in_([c for c, _ in top]))
    names = dict((await s.exec(stmt)).all())
    return [(c, names.get(c, c), n) for c, n in top]


def _funnel(counts: dict[str, int], complete: dict[str, int]) -> list[tuple[str, int]]:
    """How many dossiers reached each step. "Documents complete" also counts dossiers still
    with the producer whose blocking documents are all in (the stored flag)."""
    reached = [0] * len(FUNNEL)
    for stage, n in counts.items():
        rank = _RANK.get(Stage(stage), 0)
        for i in range(rank + 1):
            reached[i] += int(n)
    for stage in (Stage.IDEA_REGISTERED, Stage.DOCUMENTS_PENDING):
        reached[1] += complete.get(stage.value, 0)
    return list(zip(FUNNEL, reached, strict=True))


async def provinces_in_scope(s: AsyncSession, actor: Actor) -> list[str]:
    if actor.role == Role.PROVINCE:
        return [actor.province_code] if actor.province_code else []
    if actor.role == Role.COMMUNE:
        stmt = select(Commune.province_code).where(col(Commune.code).in_(sorted(actor.communes)))
        return sorted(set((await s.exec(stmt)).all()))
    if actor.role == Role.ADMIN:
        return sorted(set((await s.exec(select(Dossier.province_code).distinct())).all()))
    return []


async def next_deadlines(
    s: AsyncSession, ctx: CoreContext, actor: Actor, today: date, year: int, limit: int = 5
) -> list[tuple[date, Milestone, str]]:
    """The plan's next steps for officers (commune and province audiences), soonest first."""
    audience = "province" if actor.role in (Role.PROVINCE, Role.ADMIN) else "commune"
    found: list[tuple[date, Milestone, str]] = []
    for province in (await provinces_in_scope(s, actor))[:5]:
        for y in (year, year + 1):
            try:
                plan = ctx.plans.plan_for(province, y)
            except NotFound:
                continue
            found += [
                (m.due, m, plan.title)
                for m in plan.milestones_for_audience(audience)
                if m.due >= today
            ]
    found.sort(key=lambda t: t[0])
    return found[:limit]


# -- one dossier -------------------------------------------------------------------------------


@dataclass
class EventLine:
    at: Any
    action: str
    from_stage: str | None
    to_stage: str | None
    who: str
    note: str


@dataclass
class DossierView:
    dossier: Dossier
    producer: Producer | None
    commune_name: str
    province_name: str
    documents: list[Document]
    events: list[EventLine]
    history: list[Dossier]
    missing: list[str]
    round: rounds.RoundInfo | None = None


async def dossier_view(s: AsyncSession, actor: Actor, dossier_id: int) -> DossierView:
    """The dossier's card, documents, timeline and round history; NotFound when out of scope."""
    dossier = await get_dossier_by_id(s, actor, dossier_id)
    producer = await s.get(Producer, dossier.producer_id)
    commune = await s.get(Commune, dossier.commune_code)
    province = await s.get(Province, dossier.province_code)
    docs = await current_documents(s, dossier.id or 0)
    have = {d.requirement for d in docs}
    missing = [
        r.code
        for r in requirements_for(dossier.criteria_set, dossier.attempt)
        if r.blocking and r.code not in have
    ]
    events_stmt = (
        select(DossierEvent, Account.display_name)
        .join(Account, col(Account.id) == col(DossierEvent.actor_id), isouter=True)
        .where(DossierEvent.dossier_id == dossier.id)
        .order_by(col(DossierEvent.at), col(DossierEvent.id))
    )
    events = [
        EventLine(e.at, e.action, e.from_stage, e.to_stage, name or "", e.note)
        for e, name in (await s.exec(events_stmt)).all()
    ]
    return DossierView(
        dossier=dossier,
        producer=producer,
        commune_name=commune.name if commune else dossier.commune_code,
        province_name=province.name if province else dossier.province_code,
        documents=docs,
        events=events,
        history=await _history(s, actor, dossier),
        missing=missing,
        round=await rounds.current_round(s, dossier),
    )


async def _history(s: AsyncSession, actor: Actor, dossier: Dossier) -> list[Dossier]:
    """Earlier and later attempts of the same product (upgrade, re-evaluation), oldest first."""
    related: dict[int, Dossier] = {}
    current: Dossier | None = dossier
    while current is not None and current.previous_dossier_id and len(related) < 20:
        current = await s.get(Dossier, current.previous_dossier_id)
        if current is not None:
            related[current.id or 0] = current
    conds = [col(Dossier.previous_dossier_id) == dossier.id]
    if dossier.certificate_number:
        conds.append(col(Dossier.previous_certificate_number) == dossier.certificate_number)
    if dossier.previous_certificate_number:
        conds.append(col(Dossier.certificate_number) == dossier.previous_certificate_number)
    stmt = select(Dossier).where(dossier_scope(actor), col(Dossier.id) != dossier.id, or_(*conds))
    for d in (await s.exec(stmt)).all():
        related[d.id or 0] = d
    return sorted(related.values(), key=lambda d: (d.year, d.id or 0))


async def document_for(s: AsyncSession, actor: Actor, document_id: int) -> Document:
    """A document file the actor may open: its dossier must be in their scope."""
    doc = await s.get(Document, document_id)
    if doc is None:
        raise NotFound(N_("error.dossier_not_found"), code=str(document_id))
    await get_dossier_by_id(s, actor, doc.dossier_id)
    return doc


# -- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateRow:
    row: DossierRow
    window_opens: date | None
    window_closes: date | None
    state: str  # valid | window_open | window_closed | expired


async def certificates(
    s: AsyncSession, ctx: CoreContext, actor: Actor, *, limit: int = EXPORT_LIMIT
) -> list[CertificateRow]:
    """Certified products with expiry and re-evaluation window, soonest expiry first."""
    from ocop_core.reminders.compute import window_ruleset

    today = local_today(ctx.clock)
    ruleset = window_ruleset()
    stmt = (
        _rows_stmt([dossier_scope(actor), col(Dossier.stage) == Stage.CERTIFIED])
        .order_by(col(Dossier.certificate_expiry).asc().nulls_last(), col(Dossier.id))
        .limit(limit)
    )
    out = []
    for d, p, c in (await s.exec(stmt)).all():
        opens = closes = None
        state = "valid"
        if d.certificate_expiry is not None:
            opens, closes = ruleset.reevaluation_window(d.certificate_expiry)
            if d.certificate_expiry < today:
                state = "expired"
            elif closes < today:
                state = "window_closed"
            elif opens <= today:
                state = "window_open"
        out.append(CertificateRow(_row(d, p, c, today), opens, closes, state))
    return out


# -- filter options and yearly results ---------------------------------------------------------


async def communes_in_scope(s: AsyncSession, actor: Actor) -> list[tuple[str, str]]:
    """The commune filter's options: the officer's communes, the staff's province's communes
    (from the small commune table, not from 100,000 dossiers)."""
    if actor.role == Role.COMMUNE:
        where = col(Commune.code).in_(sorted(actor.communes))
    elif actor.role == Role.PROVINCE and actor.province_code:
        where = and_(Commune.province_code == actor.province_code, col(Commune.legacy).is_(False))
    elif actor.role == Role.ADMIN:
        where = col(Commune.code).in_(select(Dossier.commune_code).distinct())
    else:
        return []
    stmt = select(Commune.code, Commune.name).where(where).order_by(Commune.name)
    return [(c, n) for c, n in (await s.exec(stmt)).all()]


async def years_in_scope(s: AsyncSession, actor: Actor) -> list[int]:
    stmt = select(func.min(Dossier.year), func.max(Dossier.year)).where(dossier_scope(actor))
    low, high = (await s.exec(stmt)).one()
    return list(range(int(high), int(low) - 1, -1)) if low is not None else []


@dataclass(frozen=True)
class YearResult:
    """What a year achieved: products certified that year (by decision date), by stars."""

    year: int
    certified: int
    stars: dict[int, int]
    three_plus: int


async def achieved_by_year(s: AsyncSession, actor: Actor) -> list[YearResult]:
    year_of = func.extract("year", Dossier.certificate_date)
    stmt = (
        select(year_of, Dossier.stars, func.count())
        .where(
            dossier_scope(actor),
            col(Dossier.stage).in_([Stage.CERTIFIED.value, Stage.REVOKED.value]),
            col(Dossier.certificate_date).is_not(None),
        )
        .group_by(year_of, Dossier.stars)
    )
    per: dict[int, dict[int, int]] = defaultdict(dict)
    for y, stars, n in (await s.exec(stmt)).all():
        per[int(y)][int(stars or 0)] = int(n)
    return [
        YearResult(
            y,
            sum(by.values()),
            dict(sorted(by.items())),
            sum(n for st, n in by.items() if st >= 3),
        )
        for y, by in sorted(per.items(), reverse=True)
    ]


# -- rounds and targets (rounds and plan progress come from the rounds use cases) ---------------


@dataclass(frozen=True)
class DeskRound:
    id: int
    info: rounds.RoundInfo
    dossiers: int


async def rounds_in_scope(s: AsyncSession, actor: Actor) -> list[DeskRound]:
    """Rounds that hold dossiers the actor may see (the round filter's options), newest first."""
    stmt = (
        select(EvaluationRound, func.count())
        .join(Dossier, col(Dossier.round_id) == col(EvaluationRound.id))
        .where(dossier_scope(actor))
        .group_by(col(EvaluationRound.id))
    )
    found = [
        DeskRound(row.id or 0, rounds.info_of_row(row), int(n))
        for row, n in (await s.exec(stmt)).all()
    ]
    return sorted(found, key=lambda r: (r.info.year, r.info.number, r.id), reverse=True)


def current_round_of(found: list[DeskRound], today: date) -> DeskRound | None:
    """The round whose commune deadline comes next; else the latest one."""
    upcoming = [r for r in found if (r.info.commune_due or r.info.intake_due or today) >= today]
    if upcoming:
        return min(upcoming, key=lambda r: r.info.commune_due or r.info.intake_due or today)
    return found[0] if found else None


@dataclass(frozen=True)
class PlanTargets:
    plan: Any
    progress: list[plan_progress.TargetProgress]


async def targets_in_scope(s: AsyncSession, ctx: CoreContext, actor: Actor) -> list[PlanTargets]:
    """Every loaded plan with targets for the actor's province(s): target against achieved,
    counted by the rounds use cases (``plan_progress``) over the plan's whole territory."""
    from ocop_core.admin_units_legacy import successor

    provinces = set(await provinces_in_scope(s, actor))
    out = []
    for plan in ctx.plans.plans():
        if not plan.targets or successor(plan.province_code) not in provinces:
            continue
        _plan, progress = await plan_progress.plan_progress(s, ctx, plan.province_code, plan.year)
        out.append(PlanTargets(plan, progress))
    return sorted(out, key=lambda p: p.plan.year, reverse=True)
