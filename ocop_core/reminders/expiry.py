"""Certificate windows: the re-evaluation window opens (expiry − 180 days), closes (− 120 days)
and the certificate expires, for the producer, unless a follow-up dossier exists. The window is
that of the newest ruleset that has one (qd26-2026): a certificate is renewed under today's
rules."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Column, Date, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ocop_core.lifecycle import Stage
from ocop_core.reminders.schedule import FireKind, deliver_at
from ocop_core.reminders.temp import (
    DOSSIER,
    PRODUCER,
    as_date,
    insert_rows,
    slot_columns,
    temp_table,
    want,
)
from ocop_core.rules import all_rulesets
from ocop_core.rules.rulesets import Ruleset

__all__ = ["want_expiry", "window_ruleset"]

_D, _P = DOSSIER, PRODUCER

T_EXPIRY = temp_table("expiry", Column("expiry", Date), *slot_columns(), key=("expiry",))


def window_ruleset() -> Ruleset:
    """The ruleset whose re-evaluation window applies to certificates now: the newest that has
    one (qd26-2026). Older rulesets had none, and a certificate is renewed under today's rules."""
    for rs in reversed(all_rulesets()):
        if rs.reevaluation_opens_days_before and rs.reevaluation_closes_days_before:
            return rs
    raise LookupError("no ruleset defines a re-evaluation window")


async def want_expiry(conn: AsyncConnection, today: date) -> None:
    expiries = (
        await conn.execute(
            select(_D.c.certificate_expiry)
            .where(_D.c.stage == Stage.CERTIFIED, _D.c.certificate_expiry.is_not(None))
            .distinct()
        )
    ).scalars()
    rows = [row for raw in expiries for row in _rows(as_date(raw), today)]
    if not rows:
        return
    await insert_rows(conn, T_EXPIRY, rows)
    await want(conn, _window_fires())


def _rows(expiry: date, today: date) -> list[dict[str, Any]]:
    opens, closes = window_ruleset().reevaluation_window(expiry)
    payload = {
        "expiry": expiry.isoformat(),
        "opens": opens.isoformat(),
        "closes": closes.isoformat(),
        "series": "expiry",
    }
    return [
        {
            "expiry": expiry,
            "scope": f"expiry/{moment}/{expiry.isoformat()}",
            "fire_at": deliver_at(day),
            "deadline": deadline,
            "payload": {"moment": moment, **payload},
        }
        for moment, day, deadline in (
            ("opens", opens, closes),
            ("closes", closes, closes),
            ("expires", expiry, expiry),
        )
        if deadline >= today
    ]


def _window_fires() -> Any:
    """The producer of each certified dossier not yet followed by a renewal dossier."""
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
    return (
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
