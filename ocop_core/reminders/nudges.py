"""Missing-document nudges: weekly after registration while blocking documents are missing
(at most ``NUDGE_MAX``), for the producer who owns the dossier."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Column, Date, Integer, String, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ocop_core.lifecycle import EDITABLE
from ocop_core.reminders.schedule import NUDGE_EVERY_DAYS, NUDGE_MAX, FireKind, deliver_at
from ocop_core.reminders.temp import (
    DOCUMENT,
    DOSSIER,
    PRODUCER,
    as_date,
    insert_rows,
    local_day,
    slot_columns,
    temp_table,
    want,
)
from ocop_core.rules import requirements_for, taxonomy
from ocop_core.rules.requirements import ATTEMPTS

__all__ = ["want_nudges"]

_D, _P, _DOC = DOSSIER, PRODUCER, DOCUMENT
_EDITABLE = sorted(s.value for s in EDITABLE)

T_NUDGE = temp_table("nudge", Column("created_day", Date), *slot_columns(), key=("created_day",))
T_MISSING = temp_table(
    "missing",
    Column("dossier_id", Integer, primary_key=True),
    Column("account_id", Integer),
    Column("created_day", Date),
    key=("created_day",),
)
T_REQUIRED = temp_table(
    "required",
    Column("criteria_set", Integer),
    Column("attempt", String(16)),
    Column("code", String(48)),
    key=("criteria_set", "attempt"),
)


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


async def want_nudges(conn: AsyncConnection, today: date) -> None:
    # First the dossiers that lack a blocking document, with the local day they were registered
    # (materialised, so the join to the nudge slots below can use an index).
    await insert_rows(conn, T_REQUIRED, _required_rows())
    missing = (
        select(_D.c.id, _P.c.account_id, local_day(_D.c.created_at, conn.dialect.name))
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
        day = as_date(raw)
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
    await insert_rows(conn, T_NUDGE, rows)
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
    await want(conn, nudges)


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
