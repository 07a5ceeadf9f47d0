"""Helpers shared by the officer flows: the dossier in hand, the version seen, notices."""

from __future__ import annotations

from bot.flows.engine import FlowContext
from bot.flows.types import Outgoing
from ocop_core.models import Dossier
from ocop_core.services import dossiers, notices

CARD = "card"
INBOX = "inbox"


async def current_dossier(fc: FlowContext) -> Dossier:
    """The dossier the officer has open, authorised again on every use (state is not trusted)."""
    return await dossiers.get_dossier_by_id(fc.s, fc.actor, int(fc.data["dossier_id"]))


def seen_version(fc: FlowContext) -> int | None:
    """The version shown on the card the officer acted from: the core refuses if it moved."""
    value = fc.data.get("version")
    return int(value) if value is not None else None


async def notify_producer(fc: FlowContext, dossier: Dossier) -> notices.Notice | None:
    """Tell the producer about the change just made, through the outbox (their language)."""
    notice = await notices.notice_for(fc.s, dossier)
    if notice is None:
        return None
    fc.outbox.append(Outgoing(notice.recipient_id, notice.text_key, notice.key, notice.params))
    return notice
