"""Council results, carefully: previewed before they count, correctable for 24 hours by the same
level, and told to the producer only once final — with stars called *tiềm năng* (potential) until
the level that awards them has recorded them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core import lifecycle
from ocop_core.authz import Actor
from ocop_core.errors import Forbidden, InvalidTransition, ValidationError
from ocop_core.i18n import N_, normalise_locale, translate
from ocop_core.lifecycle import Action, Move, Stage, stage_level
from ocop_core.models import Account, Dossier, DossierEvent, Outbox, OutboxStatus, Producer, Role
from ocop_core.rules import get_ruleset
from ocop_core.services import dossiers
from ocop_core.services.context import CoreContext
from ocop_core.services.outbox import PRIORITY_NOTICE, enqueue

__all__ = [
    "CORRECTION_HOURS",
    "ScorePreview",
    "can_correct",
    "correct_score",
    "parse_score",
    "preview_score",
    "record_score",
    "result_text",
    "stars_are_potential",
]

CORRECTION_HOURS = 24
# "89,5.0", "8.9,5" or "1,000.5": both separators, or several, cannot be read with certainty.
_AMBIGUOUS = re.compile(r"[.,].*[.,]")


@dataclass(frozen=True)
class ScorePreview:
    points: float
    stars: int
    level: str  # the level whose council scored
    awarded: bool  # this level (or one below it) awards these stars; else they are potential
    certified: bool  # 3 stars or more


def parse_score(typed: str) -> float:
    """Council points as typed; a comma/point mix is asked back instead of guessed."""
    text = typed.strip()
    if _AMBIGUOUS.search(text):
        raise ValidationError(N_("rounds.error.points_ambiguous"), value=text[:20])
    return lifecycle.parse_points(text)


def preview_score(dossier: Dossier, typed: str) -> ScorePreview:
    points = parse_score(typed)
    ruleset = get_ruleset(dossier.ruleset)
    level = stage_level(dossier.stage) or ""
    stars = ruleset.stars_for(points)
    order = [lv.code for lv in ruleset.levels]
    certified = ruleset.grants_certificate(stars)
    awarding = ruleset.certifying_level(stars).code if certified else level
    awarded = level in order and order.index(awarding) <= order.index(level)
    return ScorePreview(points, stars, level, awarded, certified)


def stars_are_potential(dossier: Dossier) -> bool:
    """Stars on a dossier are *tiềm năng* until the level that awards them has recorded them."""
    if dossier.stars is None or dossier.stage in (Stage.CERTIFIED, Stage.NOT_CERTIFIED):
        return False
    ruleset = get_ruleset(dossier.ruleset)
    if not ruleset.grants_certificate(dossier.stars):
        return False
    order = [lv.code for lv in ruleset.levels]
    level = stage_level(dossier.stage) or ""
    awarding = ruleset.certifying_level(dossier.stars).code
    return level not in order or order.index(awarding) > order.index(level)


def result_text(locale: str, dossier: Dossier, preview: ScorePreview, number: str) -> str:
    """ "89,5 điểm → tiềm năng 4 sao" or "75 điểm → 4 sao" (``number`` = the points as shown)."""
    key = N_("rounds.score.stars") if preview.awarded else N_("rounds.score.potential")
    return translate(key, locale, points=number, stars=preview.stars)


async def _last_score_event(s: AsyncSession, dossier: Dossier) -> DossierEvent | None:
    stmt = (
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id)
        .order_by(col(DossierEvent.id).desc())
        .limit(1)
    )
    event = (await s.exec(stmt)).first()
    return event if event is not None and event.action == Action.RECORD_SCORE else None


async def can_correct(s: AsyncSession, actor: Actor, dossier: Dossier, now: datetime) -> bool:
    """Provincial staff may correct the last council score for 24 hours, until the next step."""
    if actor.role not in (Role.PROVINCE, Role.ADMIN):
        return False
    event = await _last_score_event(s, dossier)
    return event is not None and now - _scored_at(event) <= timedelta(hours=CORRECTION_HOURS)


def _scored_at(event: DossierEvent) -> datetime:
    """When the council's score was first recorded: corrections do not extend the window."""
    first = event.data.get("scored_at")
    return datetime.fromisoformat(first) if isinstance(first, str) else event.at


async def record_score(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    typed: str,
    expected_version: int | None = None,
) -> Dossier:
    """Record a confirmed score; the producer hears of it when the correction window closes."""
    preview = preview_score(dossier, typed)
    await dossiers.record_score(
        s, ctx, actor, dossier, points=preview.points, expected_version=expected_version
    )
    await _schedule_result_notice(s, ctx, dossier, preview, ctx.clock.now())
    return dossier


async def correct_score(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    dossier: Dossier,
    *,
    typed: str,
    expected_version: int | None = None,
) -> Dossier:
    """Replace the last score within 24 hours, by staff of the same level, if nothing happened
    since (the dossier is where that score put it)."""
    if actor.role not in (Role.PROVINCE, Role.ADMIN):
        raise Forbidden(N_("error.not_allowed"))
    event = await _last_score_event(s, dossier)
    if event is None or not await can_correct(s, actor, dossier, ctx.clock.now()):
        raise InvalidTransition(N_("rounds.error.correction_closed"), hours=CORRECTION_HOURS)
    level = str(event.data.get("level") or "")
    probe = Dossier.model_validate({**dossier.model_dump(), "stage": f"at_{level}"})
    preview = preview_score(probe, typed)
    move: Move = lifecycle.plan_score(
        actor, probe.stage, get_ruleset(dossier.ruleset), preview.points
    )
    await dossiers.apply_move(
        s,
        ctx,
        actor,
        dossier,
        Action.RECORD_SCORE,
        move,
        expected_version=expected_version,
        changes={"points": preview.points},
        data={
            "points": preview.points,
            "stars": move.stars,
            "level": level,
            "corrects": event.id,
            "scored_at": _scored_at(event).isoformat(),
        },
    )
    await _schedule_result_notice(s, ctx, dossier, preview, _scored_at(event))
    return dossier


async def _schedule_result_notice(
    s: AsyncSession, ctx: CoreContext, dossier: Dossier, preview: ScorePreview, first_at: datetime
) -> None:
    """One message per dossier and level, sent when the window that began at ``first_at`` closes;
    a correction rewrites it while it waits."""
    producer = await s.get(Producer, dossier.producer_id)
    account = (
        await s.get(Account, producer.account_id) if producer and producer.account_id else None
    )
    if account is None:
        return
    locale = account.locale or "vi"
    payload = {"text": _notice(locale, dossier, preview)}
    key = f"result:{dossier.id}:{preview.level}"
    send_at = first_at + timedelta(hours=CORRECTION_HOURS)
    row = await enqueue(s, account, payload, key=key, now=send_at, priority=PRIORITY_NOTICE)
    if row is None:
        await s.exec(
            update(Outbox)
            .where(
                col(Outbox.idempotency_key) == key,
                col(Outbox.status) == OutboxStatus.QUEUED,
                col(Outbox.attempts) == 0,
            )
            .values(payload=payload)
        )


def _notice(locale: str, dossier: Dossier, preview: ScorePreview) -> str:
    number = format_decimal(preview.points, locale=normalise_locale(locale))
    params: dict[str, Any] = {
        "code": dossier.receipt_code,
        "product": dossier.product_name,
        "result": result_text(locale, dossier, preview, number),
    }
    if not preview.certified:
        return translate(N_("rounds.notice.result_not_certified"), locale, **params)
    return translate(N_("rounds.notice.result"), locale, **params)


def is_final_stage(stage: str) -> bool:
    return stage in (Stage.NOT_CERTIFIED, Stage.CERTIFIED)
