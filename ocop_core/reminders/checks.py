"""The commune's working-day check (qd26-2026: 15 working days after filing), for its officers:
7, 3 and 1 days ahead, then — while dossiers still wait — once the next day and weekly after."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Column, Date, Integer, String, and_, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ocop_core.lifecycle import Stage
from ocop_core.models import Role
from ocop_core.reminders.schedule import CHECK_OFFSETS, OVERDUE_EVERY_DAYS, FireKind, deliver_at
from ocop_core.reminders.temp import (
    ACCOUNT,
    ACCOUNT_COMMUNE,
    DOSSIER,
    as_date,
    insert_rows,
    local_day,
    slot_columns,
    temp_table,
    want,
)
from ocop_core.rules import get_ruleset
from ocop_core.workdays import add_working_days

__all__ = ["check_due", "want_commune_checks"]

_D, _A, _AC = DOSSIER, ACCOUNT, ACCOUNT_COMMUNE

T_CHECK_DAY = temp_table(
    "check_day",
    Column("ruleset", String(16)),
    Column("submitted_day", Date),
    Column("due", Date),
    key=("ruleset", "submitted_day"),
)
T_CHECK_SLOT = temp_table(
    "check_slot",
    Column("id", Integer, primary_key=True),
    Column("due", Date),
    *slot_columns(),
    key=("due",),
)


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


async def want_commune_checks(conn: AsyncConnection, today: date) -> None:
    dialect = conn.dialect.name
    submitted = local_day(_D.c.submitted_at, dialect)
    pairs = (
        await conn.execute(
            select(_D.c.ruleset, submitted)
            .where(_D.c.stage == Stage.SUBMITTED, _D.c.submitted_at.is_not(None))
            .distinct()
        )
    ).all()
    day_rows = [
        {"ruleset": ruleset_id, "submitted_day": as_date(raw), "due": due}
        for ruleset_id, raw in pairs
        if (due := check_due(ruleset_id, as_date(raw))) is not None
    ]
    slot_rows = _slot_rows(sorted({row["due"] for row in day_rows}), today)
    if not slot_rows:
        return
    await insert_rows(conn, T_CHECK_DAY, day_rows)
    await insert_rows(conn, T_CHECK_SLOT, slot_rows)
    await want(conn, _check_fires(submitted))


def _slot_rows(dues: list[date], today: date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for due in dues:
        for scope, fire_day, deadline, extra in _check_moments(due, today):
            series = f"check/{due.isoformat()}"
            rows.append(
                {
                    "id": len(rows) + 1,
                    "due": due,
                    "scope": f"{series}/{scope}",
                    "fire_at": deliver_at(fire_day),
                    "deadline": deadline,
                    "payload": {"due": due.isoformat(), "series": series, **extra},
                }
            )
    return rows


def _check_fires(submitted: Any) -> Any:
    """One fire per commune officer and slot, whatever the number of their dossiers."""
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
    return (
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
