"""What the producer is told when an officer changes their dossier, like a public-service portal's
dossier notices ("hồ sơ đã được tiếp nhận", "cần bổ sung", "đã chuyển", "đã có kết quả").

A notice is derived from the dossier's latest audit event, so its idempotency key is that event:
replaying the same step never sends the same notice twice. The transport (outbox) is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.clock import VN_TZ, local_today
from ocop_core.i18n import N_, normalise_locale
from ocop_core.lifecycle import Action, Stage, stage_level
from ocop_core.models import Account, Dossier, DossierEvent, Fire, Producer
from ocop_core.services.context import CoreContext

NUDGE_AFTER_DAYS = 3
NUDGE_HOUR = time(8, 0)  # local morning: people read messages before going to the fields
NUDGE_KIND = "missing_documents"


@dataclass(frozen=True)
class Notice:
    recipient_id: int
    text_key: str
    key: str  # idempotency key: one notice per dossier event
    params: dict[str, Any] = field(default_factory=dict)


def _date(value: Any) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _points(value: float | None, locale: str) -> str:
    return format_decimal(value or 0, locale=normalise_locale(locale))


async def latest_event(s: AsyncSession, dossier: Dossier) -> DossierEvent | None:
    stmt = (
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id)
        .order_by(col(DossierEvent.id).desc())
        .limit(1)
    )
    return (await s.exec(stmt)).first()


async def producer_account(s: AsyncSession, dossier: Dossier) -> Account | None:
    producer = await s.get(Producer, dossier.producer_id)
    if producer is None or producer.account_id is None:
        return None
    return await s.get(Account, producer.account_id)


async def notice_for(s: AsyncSession, dossier: Dossier) -> Notice | None:
    """The notice for the dossier's latest event, or None when it is not news to the producer
    (their own actions, or a dossier whose producer has no chat account)."""
    event = await latest_event(s, dossier)
    recipient = await producer_account(s, dossier)
    if event is None or recipient is None or event.actor_id == recipient.id:
        return None
    base: dict[str, Any] = {"code": dossier.receipt_code, "product": dossier.product_name}
    key = f"notice:{event.id}"
    text_key, extra = _describe(event, dossier, recipient.locale)
    if text_key is None:
        return None
    return Notice(recipient.id or 0, text_key, key, {**base, **extra})


def _describe(
    event: DossierEvent, dossier: Dossier, locale: str
) -> tuple[str | None, dict[str, Any]]:
    action = event.action
    if action == Action.RECORD_COMMUNE_CHECK:
        return N_("notice.received"), {}
    if action == Action.REQUEST_DOCUMENTS:
        items = [f"doc.{i}" for i in event.data.get("items", [])]
        if event.note:
            return N_("notice.needs_documents_note"), {"items": items, "note": event.note}
        return N_("notice.needs_documents"), {"items": items}
    if action == Action.FORWARD:
        return N_("notice.forwarded"), {"to": f"who.{stage_level(event.to_stage or '')}"}
    if action == Action.RECORD_SCORE:
        params = {"points": _points(dossier.points, locale), "stars": dossier.stars or 0}
        if event.to_stage == Stage.NOT_CERTIFIED:
            return N_("notice.not_certified"), params
        return N_("notice.scored"), params
    if action == Action.CERTIFY:
        return N_("notice.certified"), {
            "stars": dossier.stars or 0,
            "number": dossier.certificate_number or "",
            "date": _date(dossier.certificate_date),
            "expiry": _date(dossier.certificate_expiry),
        }
    if action == Action.RETURN:
        return N_("notice.returned"), {"reason": event.note}
    if action == Action.REJECT:
        return N_("notice.rejected"), {"reason": event.note}
    if action == Action.REVOKE:
        return N_("notice.revoked"), {"reason": event.note}
    return None, {}


async def schedule_document_nudge(
    s: AsyncSession, ctx: CoreContext, dossier: Dossier, notice: Notice
) -> Fire | None:
    """A reminder a few days after an officer asked for documents ("remind until done").

    Written in the reminders engine's own terms — kind ``missing_documents`` (its dispatcher
    drops the fire once nothing blocking is missing or the dossier left the producer's desk),
    08:00 local time, stale a week later — with its own scope ``request/<event id>``, one per
    request, so repeating this is harmless. The engine's recompute must keep ``request/*``
    scopes (they come from officers' requests, not from plans): see the hand-over note.
    """
    event_id = notice.key.removeprefix("notice:")
    day = local_today(ctx.clock) + timedelta(days=NUDGE_AFTER_DAYS)
    now = ctx.clock.now()
    fire = Fire(
        subject_type="dossier",
        subject_id=dossier.id or 0,
        kind=NUDGE_KIND,
        scope=f"request/{event_id}",
        recipient_id=notice.recipient_id,
        fire_at=datetime.combine(day, NUDGE_HOUR, tzinfo=VN_TZ).astimezone(UTC),
        deadline=day + timedelta(days=6),
        payload={
            "series": "request",
            "event_id": int(event_id) if event_id.isdigit() else event_id,
            "items": [str(i).removeprefix("doc.") for i in notice.params.get("items", [])],
        },
        created_at=now,
        updated_at=now,
    )
    try:
        async with s.begin_nested():
            s.add(fire)
            await s.flush()
    except IntegrityError:
        return None
    return fire
