"""Computing the fires table from plans, dossiers and people, set-wise.

One pass, in the caller's transaction:

1. pending fires whose deadline is behind us become ``dropped``;
2. every fire that should exist now is gathered in a temporary table by a few
   ``INSERT … SELECT`` statements joining dossiers to small "slot" tables built in Python from the
   plans (one row per milestone × offset, not per dossier), so 100,000 dossiers cost a handful of
   statements, not 100,000 round trips;
3. they are upserted on the unique key (subject, kind, scope): an edited plan moves ``fire_at`` of
   the same fire, nothing is doubled, and a fire already sent is never sent again;
4. pending fires that are no longer wanted (the document arrived, the dossier moved on) become
   ``cancelled``.

Who gets what:

* milestone fires — plan milestones × dossiers at the stages each milestone concerns × its
  audience: the producer who owns the dossier (one fire per dossier), commune officers of the
  dossier's commune and provincial staff of its province (one fire per officer, counting their
  dossiers, so an officer with 80 dossiers gets one message, not 80);
* missing-document nudges — weekly after registration while blocking documents are missing;
* certificate windows — the re-evaluation window opens (expiry − 180 days), closes (− 120 days)
  and the certificate expires (the window of the newest ruleset that has one: qd26-2026);
* the commune's working-day check (qd26-2026: 15 working days after filing) for its officers.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.sqltypes import UTCDateTime

from ocop_core.clock import VN_TZ, local_today
from ocop_core.errors import NotFound
from ocop_core.lifecycle import EDITABLE, TERMINAL, Stage
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
from ocop_core.plans import Plan
from ocop_core.plans.models import min_points
from ocop_core.reminders.locks import compute_lock
from ocop_core.reminders.schedule import (
    CHECK_OFFSETS,
    NUDGE_EVERY_DAYS,
    NUDGE_MAX,
    OVERDUE_EVERY_DAYS,
    FireKind,
    deliver_at,
    offsets_for,
)
from ocop_core.rules import all_rulesets, get_ruleset, requirements_for, taxonomy
from ocop_core.rules.requirements import ATTEMPTS
from ocop_core.rules.rulesets import Ruleset
from ocop_core.services.context import CoreContext
from ocop_core.services.rollover import roll_over
from ocop_core.workdays import add_working_days

__all__ = ["ComputeStats", "check_due", "compute_fires", "resolve_plan", "window_ruleset"]

_F = Fire.__table__  # type: ignore[attr-defined]
_D = Dossier.__table__  # type: ignore[attr-defined]
_P = Producer.__table__  # type: ignore[attr-defined]
_A = Account.__table__  # type: ignore[attr-defined]
_AC = AccountCommune.__table__  # type: ignore[attr-defined]
_DOC = Document.__table__  # type: ignore[attr-defined]

# Temporary tables (per connection, dropped at the end of the pass). Their columns use the same
# types as the fire table, so values are copied in the exact stored form on both databases.
_TMP = MetaData()
T_STAGE = Table(
    "ocop_tmp_stage",
    _TMP,
    Column("plan_id", String(64)),
    Column("stage", String(24)),
    Column("mkey", Integer),
    Column("min_points", Float),  # only dossiers with at least these points (≥ 90 to the Ministry)
    Index("ocop_tmp_stage_key", "plan_id", "stage"),
    prefixes=["TEMPORARY"],
)
T_SLOT = Table(
    "ocop_tmp_slot",
    _TMP,
    Column("id", Integer, primary_key=True),
    Column("mkey", Integer),
    Column("audience", String(16)),
    Column("scope", String(160)),
    Column("fire_at", UTCDateTime()),
    Column("deadline", Date),
    Column("payload", JSON),
    Index("ocop_tmp_slot_key", "mkey", "audience"),
    prefixes=["TEMPORARY"],
)
T_NUDGE = Table(
    "ocop_tmp_nudge",
    _TMP,
    Column("created_day", Date),
    Column("scope", String(160)),
    Column("fire_at", UTCDateTime()),
    Column("deadline", Date),
    Column("payload", JSON),
    Index("ocop_tmp_nudge_key", "created_day"),
    prefixes=["TEMPORARY"],
)
T_MISSING = Table(
    "ocop_tmp_missing",
    _TMP,
    Column("dossier_id", Integer, primary_key=True),
    Column("account_id", Integer),
    Column("created_day", Date),
    Index("ocop_tmp_missing_day", "created_day"),
    prefixes=["TEMPORARY"],
)
T_EXPIRY = Table(
    "ocop_tmp_expiry",
    _TMP,
    Column("expiry", Date),
    Column("scope", String(160)),
    Column("fire_at", UTCDateTime()),
    Column("deadline", Date),
    Column("payload", JSON),
    Index("ocop_tmp_expiry_key", "expiry"),
    prefixes=["TEMPORARY"],
)
T_CHECK_DAY = Table(
    "ocop_tmp_check_day",
    _TMP,
    Column("ruleset", String(16)),
    Column("submitted_day", Date),
    Column("due", Date),
    Index("ocop_tmp_check_day_key", "ruleset", "submitted_day"),
    prefixes=["TEMPORARY"],
)
T_CHECK_SLOT = Table(
    "ocop_tmp_check_slot",
    _TMP,
    Column("id", Integer, primary_key=True),
    Column("due", Date),
    Column("scope", String(160)),
    Column("fire_at", UTCDateTime()),
    Column("deadline", Date),
    Column("payload", JSON),
    Index("ocop_tmp_check_slot_due", "due"),
    prefixes=["TEMPORARY"],
)
T_REQUIRED = Table(
    "ocop_tmp_required",
    _TMP,
    Column("criteria_set", Integer),
    Column("attempt", String(16)),
    Column("code", String(48)),
    Index("ocop_tmp_required_key", "criteria_set", "attempt"),
    prefixes=["TEMPORARY"],
)
T_WANTED = Table(
    "ocop_tmp_wanted",
    _TMP,
    Column("subject_type", String(16)),
    Column("subject_id", Integer),
    Column("kind", String(24)),
    Column("scope", String(160)),
    Column("recipient_id", Integer),
    Column("fire_at", UTCDateTime()),
    Column("deadline", Date),
    Column("payload", JSON),
    Index("ocop_tmp_wanted_key", "subject_type", "subject_id", "kind", "scope", unique=True),
    prefixes=["TEMPORARY"],
)
_TEMP_TABLES = (
    T_STAGE,
    T_SLOT,
    T_NUDGE,
    T_MISSING,
    T_EXPIRY,
    T_CHECK_DAY,
    T_CHECK_SLOT,
    T_REQUIRED,
    T_WANTED,
)

_FIRE_KEY = ("subject_type", "subject_id", "kind", "scope")
_EDITABLE = sorted(s.value for s in EDITABLE)
_LIVE_STAGES = ~_D.c.stage.in_(sorted(s.value for s in TERMINAL))


@dataclass
class ComputeStats:
    wanted: int = 0  # fires that should exist now (pending or already sent)
    written: int = 0  # inserted, moved or revived by this pass
    cancelled: int = 0  # their reason disappeared
    dropped: int = 0  # their deadline passed before they could go out
    skipped: bool = False  # another process holds the compute lock
    rolled: int = 0  # dossiers moved to another round (missed date, or a plan now applies)
    seconds: float = 0.0


def window_ruleset() -> Ruleset:
    """The ruleset whose re-evaluation window applies to certificates now: the newest that has
    one (qd26-2026). Older rulesets had none, and a certificate is renewed under today's rules."""
    for rs in reversed(all_rulesets()):
        if rs.reevaluation_opens_days_before and rs.reevaluation_closes_days_before:
            return rs
    raise LookupError("no ruleset defines a re-evaluation window")


async def compute_fires(
    s: AsyncSession, ctx: CoreContext, *, wait_for_lock: bool = False
) -> ComputeStats:
    """Bring the fires table in line with plans, dossiers and accounts as of ``ctx.clock``."""
    started = _time.perf_counter()
    await s.flush()
    if not await compute_lock(s, wait=wait_for_lock):
        return ComputeStats(skipped=True)
    now = ctx.clock.now()
    today = local_today(ctx.clock)
    stats = ComputeStats()
    # Rounds first: a dossier that missed its round is reminded of its new round's dates.
    stats.rolled = (await roll_over(s, ctx)).moved
    conn = await s.connection()
    await _create_temp_tables(conn)
    stats.dropped = await _drop_late(conn, today, now)
    await _want_milestones(conn, ctx, today)
    await _want_nudges(conn, today)
    await _want_expiry(conn, today)
    await _want_commune_checks(conn, today)
    counted = await conn.execute(select(func.count()).select_from(T_WANTED))
    stats.wanted = int(counted.scalar() or 0)
    stats.written = await _upsert(conn, now)
    stats.cancelled = await _cancel_unwanted(conn, now)
    # On failure the caller's rollback undoes the temporary tables too (DDL is transactional on
    # both databases); on success they are dropped so the pooled connection is clean.
    await _drop_temp_tables(conn)
    stats.seconds = _time.perf_counter() - started
    return stats


# -- temporary tables ----------------------------------------------------------------------------


async def _create_temp_tables(conn: AsyncConnection) -> None:
    await _drop_temp_tables(conn)  # a pass that died half-way may have left them on this connection
    for table in _TEMP_TABLES:
        await conn.run_sync(lambda sync, t=table: t.create(sync))


async def _drop_temp_tables(conn: AsyncConnection) -> None:
    for table in reversed(_TEMP_TABLES):
        await conn.run_sync(lambda sync, t=table: t.drop(sync, checkfirst=True))


def _local_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Vietnamese calendar day of a stored UTC instant, computed by the database."""
    if dialect == "postgresql":
        return cast(func.timezone(str(VN_TZ), column), Date)
    # Vietnam has kept UTC+7 without daylight saving since 1975.
    hours = int((VN_TZ.utcoffset(datetime(2000, 1, 1)) or timedelta()).total_seconds() // 3600)
    return func.date(column, f"{hours:+d} hours")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 2000):
        await conn.execute(table.insert(), rows[i : i + 2000])


# -- 1. late fires ------------------------------------------------------------------------------


async def _drop_late(conn: AsyncConnection, today: date, now: datetime) -> int:
    result = await conn.execute(
        update(_F)
        .where(_F.c.status == FireStatus.PENDING, _F.c.deadline < today)
        .values(status=FireStatus.DROPPED, updated_at=now)
    )
    return int(result.rowcount or 0)


# -- 2. what should exist -----------------------------------------------------------------------


def resolve_plan(ctx: CoreContext, plan_id: str, province: str, year: int) -> Plan | None:
    try:
        return ctx.plans.get(plan_id)
    except NotFound:
        try:
            # The plan file was removed or renamed: whatever governs that year now applies.
            return ctx.plans.plan_for(province, year)
        except NotFound:
            return None


async def _want_milestones(conn: AsyncConnection, ctx: CoreContext, today: date) -> None:
    keys = (
        await conn.execute(
            select(_D.c.plan_id, _D.c.province_code, _D.c.year).where(_LIVE_STAGES).distinct()
        )
    ).all()
    stage_rows: list[dict[str, Any]] = []
    slot_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for plan_id, province, year in keys:
        if plan_id in seen:
            continue
        seen.add(plan_id)
        plan = resolve_plan(ctx, plan_id, province, year)
        if plan is None:
            continue
        for m in plan.milestones:
            offsets = offsets_for(m)
            if not m.stages or not offsets or m.due < today:
                continue
            mkey = len(stage_rows) + 1
            floor = min_points(m, plan.ruleset)
            stage_rows.extend(
                {"plan_id": plan_id, "stage": st, "mkey": mkey, "min_points": floor}
                for st in m.stages
            )
            for offset in offsets:
                day = m.due - timedelta(days=offset)
                deadline = max(m.due, day)  # a negative offset is an overdue nudge: its own day
                if deadline < today:
                    continue
                payload = {
                    "plan_id": plan_id,
                    "milestone_id": m.id,
                    "offset": offset,
                    "series": f"{plan_id}/{m.id}",
                }
                for audience in m.audience:
                    slot_rows.append(
                        {
                            "id": len(slot_rows) + 1,
                            "mkey": mkey,
                            "audience": audience,
                            "scope": f"{plan_id}/{m.id}/{offset}",
                            "fire_at": deliver_at(day),
                            "deadline": deadline,
                            "payload": {**payload, "audience": audience},
                        }
                    )
    if not slot_rows:
        return
    await _insert_rows(conn, T_STAGE, stage_rows)
    await _insert_rows(conn, T_SLOT, slot_rows)
    cols = ["subject_type", "subject_id", "kind", "scope", "recipient_id", "fire_at", "deadline"]
    cols.append("payload")
    kind = literal(FireKind.MILESTONE.value)
    stage_match = and_(
        T_STAGE.c.plan_id == _D.c.plan_id,
        T_STAGE.c.stage == _D.c.stage,
        or_(T_STAGE.c.min_points.is_(None), _D.c.points >= T_STAGE.c.min_points),
    )

    # Producers: one fire per dossier they own.
    producers = (
        select(
            literal("dossier"),
            _D.c.id,
            kind,
            T_SLOT.c.scope,
            _P.c.account_id,
            T_SLOT.c.fire_at,
            T_SLOT.c.deadline,
            T_SLOT.c.payload,
        )
        .select_from(_D)
        .join(_P, _P.c.id == _D.c.producer_id)
        .join(T_STAGE, stage_match)
        .join(T_SLOT, and_(T_SLOT.c.mkey == T_STAGE.c.mkey, T_SLOT.c.audience == "producer"))
        .where(_P.c.account_id.is_not(None))
    )
    await conn.execute(T_WANTED.insert().from_select(cols, producers))

    # Officers: one fire per officer and milestone offset, whatever the number of dossiers.
    officer_scopes = (
        (
            Role.COMMUNE,
            select(_AC.c.account_id.label("account_id"), T_STAGE.c.mkey.label("mkey"))
            .select_from(_D)
            .join(T_STAGE, stage_match)
            .join(_AC, _AC.c.commune_code == _D.c.commune_code)
            .join(_A, and_(_A.c.id == _AC.c.account_id, _A.c.role == Role.COMMUNE))
            .distinct()
            .subquery(),
        ),
        (
            Role.PROVINCE,
            select(_A.c.id.label("account_id"), T_STAGE.c.mkey.label("mkey"))
            .select_from(_D)
            .join(T_STAGE, stage_match)
            .join(_A, and_(_A.c.role == Role.PROVINCE, _A.c.province_code == _D.c.province_code))
            .distinct()
            .subquery(),
        ),
    )
    for role, pairs in officer_scopes:
        officers = (
            select(
                literal("account"),
                pairs.c.account_id,
                kind,
                T_SLOT.c.scope,
                pairs.c.account_id,
                T_SLOT.c.fire_at,
                T_SLOT.c.deadline,
                T_SLOT.c.payload,
            )
            .select_from(pairs)
            .join(T_SLOT, and_(T_SLOT.c.mkey == pairs.c.mkey, T_SLOT.c.audience == role.value))
        )
        await conn.execute(T_WANTED.insert().from_select(cols, officers))


def _missing_blocking_document() -> ColumnElement[bool]:
    """True for a dossier row that lacks at least one blocking document of its checklist."""
    # Correlations are explicit: the page lookup sits two subqueries below the dossier row.
    has_page = (
        select(_DOC.c.id)
        .where(
            _DOC.c.dossier_id == _D.c.id,
            _DOC.c.requirement == T_REQUIRED.c.code,
            _DOC.c.replaced.is_(False),
        )
        .correlate(_D, T_REQUIRED)
        .exists()
    )
    lacking = (
        select(T_REQUIRED.c.code)
        .where(
            T_REQUIRED.c.criteria_set == _D.c.criteria_set,
            T_REQUIRED.c.attempt == _D.c.attempt,
            ~has_page,
        )
        .correlate(_D)
    )
    return lacking.exists()


async def _want_nudges(conn: AsyncConnection, today: date) -> None:
    # First the dossiers that lack a blocking document, with the local day they were registered
    # (materialised, so the join to the nudge slots below can use an index).
    await _insert_rows(conn, T_REQUIRED, _required_rows())
    missing = (
        select(_D.c.id, _P.c.account_id, _local_day(_D.c.created_at, conn.dialect.name))
        .select_from(_D)
        .join(_P, _P.c.id == _D.c.producer_id)
        .where(
            _D.c.stage.in_(_EDITABLE),
            _P.c.account_id.is_not(None),
            _missing_blocking_document(),
        )
    )
    await conn.execute(
        T_MISSING.insert().from_select(["dossier_id", "account_id", "created_day"], missing)
    )
    days = (await conn.execute(select(T_MISSING.c.created_day).distinct())).scalars()
    rows: list[dict[str, Any]] = []
    for raw in days:
        if raw is None:
            continue
        day = _as_date(raw)
        for n in range(1, NUDGE_MAX + 1):
            fire_day = day + timedelta(days=NUDGE_EVERY_DAYS * n)
            deadline = fire_day + timedelta(days=NUDGE_EVERY_DAYS - 1)  # stale once the next is due
            if deadline < today:
                continue
            rows.append(
                {
                    "created_day": day,
                    "scope": f"nudge/{n}",
                    "fire_at": deliver_at(fire_day),
                    "deadline": deadline,
                    "payload": {"n": n, "series": "nudge"},
                }
            )
    if not rows:
        return
    await _insert_rows(conn, T_NUDGE, rows)
    nudges = (
        select(
            literal("dossier"),
            T_MISSING.c.dossier_id,
            literal(FireKind.MISSING_DOCUMENTS.value),
            T_NUDGE.c.scope,
            T_MISSING.c.account_id,
            T_NUDGE.c.fire_at,
            T_NUDGE.c.deadline,
            T_NUDGE.c.payload,
        )
        .select_from(T_MISSING)
        .join(T_NUDGE, T_NUDGE.c.created_day == T_MISSING.c.created_day)
    )
    await conn.execute(T_WANTED.insert().from_select(list(T_WANTED.c.keys()), nudges))


def _required_rows() -> list[dict[str, Any]]:
    """Blocking documents of every criteria set and attempt: a few hundred rows of pure data."""
    rows = []
    for cs in taxonomy().sets:
        for attempt in ATTEMPTS:
            rows.extend(
                {"criteria_set": cs.code, "attempt": attempt, "code": r.code}
                for r in requirements_for(cs.code, attempt)
                if r.blocking
            )
    return rows


async def _want_expiry(conn: AsyncConnection, today: date) -> None:
    expiries = (
        await conn.execute(
            select(_D.c.certificate_expiry)
            .where(_D.c.stage == Stage.CERTIFIED, _D.c.certificate_expiry.is_not(None))
            .distinct()
        )
    ).scalars()
    ruleset = window_ruleset()
    rows: list[dict[str, Any]] = []
    for raw in expiries:
        expiry = _as_date(raw)
        opens, closes = ruleset.reevaluation_window(expiry)
        for moment, day, deadline in (
            ("opens", opens, closes),
            ("closes", closes, closes),
            ("expires", expiry, expiry),
        ):
            if deadline < today:
                continue
            rows.append(
                {
                    "expiry": expiry,
                    "scope": f"expiry/{moment}/{expiry.isoformat()}",
                    "fire_at": deliver_at(day),
                    "deadline": deadline,
                    "payload": {
                        "moment": moment,
                        "expiry": expiry.isoformat(),
                        "opens": opens.isoformat(),
                        "closes": closes.isoformat(),
                        "series": "expiry",
                    },
                }
            )
    if not rows:
        return
    await _insert_rows(conn, T_EXPIRY, rows)
    renewal = _D.alias("renewal")
    renewed = (
        select(renewal.c.id)
        .where(
            renewal.c.producer_id == _D.c.producer_id,
            or_(
                renewal.c.previous_dossier_id == _D.c.id,
                renewal.c.previous_certificate_number == _D.c.certificate_number,
            ),
        )
        .correlate(_D)
        .exists()
    )
    windows = (
        select(
            literal("dossier"),
            _D.c.id,
            literal(FireKind.EXPIRY.value),
            T_EXPIRY.c.scope,
            _P.c.account_id,
            T_EXPIRY.c.fire_at,
            T_EXPIRY.c.deadline,
            T_EXPIRY.c.payload,
        )
        .select_from(_D)
        .join(_P, _P.c.id == _D.c.producer_id)
        .join(T_EXPIRY, T_EXPIRY.c.expiry == _D.c.certificate_expiry)
        .where(_D.c.stage == Stage.CERTIFIED, _P.c.account_id.is_not(None), ~renewed)
    )
    await conn.execute(T_WANTED.insert().from_select(list(T_WANTED.c.keys()), windows))


def _check_moments(due: date, today: date) -> list[tuple[str, date, date, dict[str, Any]]]:
    """(scope, fire day, deadline, payload) of the commune-check reminders for one due day.

    Before it: 7, 3 and 1 days ahead. After it, while dossiers still wait: once the next day, then
    weekly (only the next of those is kept, so the table does not grow with the delay).
    """
    moments: list[tuple[str, date, date, dict[str, Any]]] = []
    if due >= today:
        for offset in CHECK_OFFSETS:
            moments.append((str(offset), due - timedelta(days=offset), due, {"offset": offset}))
    weeks_late = max(0, (today - due - timedelta(days=1)).days // OVERDUE_EVERY_DAYS)
    for n in (weeks_late, weeks_late + 1):
        fire_day = due + timedelta(days=1 + OVERDUE_EVERY_DAYS * n)
        stale = fire_day + timedelta(days=OVERDUE_EVERY_DAYS - 1)
        if stale >= today and fire_day <= today + timedelta(days=OVERDUE_EVERY_DAYS):
            moments.append((f"overdue/{n}", fire_day, stale, {"overdue": n}))
    return moments


def check_due(ruleset_id: str, submitted_day: date) -> date | None:
    """When the commune must have checked a dossier filed that day (None: no such limit)."""
    days = get_ruleset(ruleset_id).level("commune").check_working_days
    return add_working_days(submitted_day, days) if days else None


async def _want_commune_checks(conn: AsyncConnection, today: date) -> None:
    dialect = conn.dialect.name
    submitted = _local_day(_D.c.submitted_at, dialect)
    pairs = (
        await conn.execute(
            select(_D.c.ruleset, submitted)
            .where(_D.c.stage == Stage.SUBMITTED, _D.c.submitted_at.is_not(None))
            .distinct()
        )
    ).all()
    day_rows: list[dict[str, Any]] = []
    dues: set[date] = set()
    for ruleset_id, raw in pairs:
        day = _as_date(raw)
        due = check_due(ruleset_id, day)
        if due is None:
            continue
        day_rows.append({"ruleset": ruleset_id, "submitted_day": day, "due": due})
        dues.add(due)
    slot_rows: list[dict[str, Any]] = []
    for due in sorted(dues):
        for scope, fire_day, deadline, extra in _check_moments(due, today):
            slot_rows.append(
                {
                    "id": len(slot_rows) + 1,
                    "due": due,
                    "scope": f"check/{due.isoformat()}/{scope}",
                    "fire_at": deliver_at(fire_day),
                    "deadline": deadline,
                    "payload": {
                        "due": due.isoformat(),
                        "series": f"check/{due.isoformat()}",
                        **extra,
                    },
                }
            )
    if not slot_rows:
        return
    await _insert_rows(conn, T_CHECK_DAY, day_rows)
    await _insert_rows(conn, T_CHECK_SLOT, slot_rows)
    per_officer = (
        select(_AC.c.account_id.label("account_id"), T_CHECK_SLOT.c.id.label("slot_id"))
        .select_from(_D)
        .join(
            T_CHECK_DAY,
            and_(T_CHECK_DAY.c.ruleset == _D.c.ruleset, T_CHECK_DAY.c.submitted_day == submitted),
        )
        .join(T_CHECK_SLOT, T_CHECK_SLOT.c.due == T_CHECK_DAY.c.due)
        .join(_AC, _AC.c.commune_code == _D.c.commune_code)
        .join(_A, and_(_A.c.id == _AC.c.account_id, _A.c.role == Role.COMMUNE))
        .where(_D.c.stage == Stage.SUBMITTED)
        .distinct()
        .subquery()
    )
    checks = (
        select(
            literal("account"),
            per_officer.c.account_id,
            literal(FireKind.COMMUNE_CHECK.value),
            T_CHECK_SLOT.c.scope,
            per_officer.c.account_id,
            T_CHECK_SLOT.c.fire_at,
            T_CHECK_SLOT.c.deadline,
            T_CHECK_SLOT.c.payload,
        )
        .select_from(per_officer)
        .join(T_CHECK_SLOT, T_CHECK_SLOT.c.id == per_officer.c.slot_id)
    )
    await conn.execute(T_WANTED.insert().from_select(list(T_WANTED.c.keys()), checks))


# -- 3. upsert, 4. cancel -----------------------------------------------------------------------


async def _upsert(conn: AsyncConnection, now: datetime) -> int:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stamp = literal(now, UTCDateTime())
    rows = select(
        *T_WANTED.c,
        literal(FireStatus.PENDING.value),
        stamp,
        stamp,
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
    stmt = insert(_F).from_select([*T_WANTED.c.keys(), "status", "created_at", "updated_at"], rows)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_FIRE_KEY),
        set_={
            "recipient_id": new.recipient_id,
            "fire_at": new.fire_at,
            "deadline": new.deadline,
            "payload": new.payload,
            "status": FireStatus.PENDING.value,
            "updated_at": new.updated_at,
        },
        # A sent fire stays sent (never twice). A pending one is rewritten only when it moved; a
        # cancelled one comes back when its reason does; a dropped one only when the plan moved
        # its date (a clock jumping back must not revive what was dropped as late or superseded).
        where=or_(
            and_(
                _F.c.status == FireStatus.PENDING,
                or_(
                    _F.c.fire_at != new.fire_at,
                    _F.c.deadline != new.deadline,
                    _F.c.recipient_id != new.recipient_id,
                ),
            ),
            _F.c.status == FireStatus.CANCELLED,
            and_(
                _F.c.status == FireStatus.DROPPED,
                or_(_F.c.fire_at != new.fire_at, _F.c.deadline != new.deadline),
            ),
        ),
    )
    result = await conn.execute(stmt)
    return int(result.rowcount or 0)


async def _cancel_unwanted(conn: AsyncConnection, now: datetime) -> int:
    still_wanted = (
        select(T_WANTED.c.kind)
        .where(*(T_WANTED.c[k] == _F.c[k] for k in _FIRE_KEY))
        .correlate(_F)
        .exists()
    )
    # A nudge an officer asked for ("request/<event>", written by services.notices) is not
    # computed here: keep it while the dossier is still with the producer. Dispatch re-checks
    # that documents are still missing before sending it.
    officer_request = and_(
        _F.c.kind == FireKind.MISSING_DOCUMENTS.value,
        _F.c.scope.like("request/%"),
        select(_D.c.id)
        .where(_D.c.id == _F.c.subject_id, _D.c.stage.in_(_EDITABLE))
        .correlate(_F)
        .exists(),
    )
    result = await conn.execute(
        update(_F)
        .where(_F.c.status == FireStatus.PENDING, ~still_wanted, ~officer_request)
        .values(status=FireStatus.CANCELLED, updated_at=now)
    )
    return int(result.rowcount or 0)
