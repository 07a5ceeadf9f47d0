"""``ocop-bot dossier show``: the documents received (kept apart from the dossier's header, which
the rounds work prints)."""

from __future__ import annotations

import sys
from datetime import tzinfo
from typing import TextIO

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import print_rows
from ocop_core.db import transaction
from ocop_core.i18n import translate
from ocop_core.models import Account, Document
from ocop_core.services import dossiers


def document_rows(
    docs: list[Document], senders: dict[int, Account], tz: tzinfo, locale: str
) -> list[list[str]]:
    rows = [["DOCUMENT", "PAGE", "PAGES", "RECEIVED", "SENT BY"]]
    for d in docs:
        sender = senders.get(d.uploaded_by or 0)
        who = "-"
        if sender is not None:
            who = f"{sender.display_name or sender.platform_user_id} ({sender.channel})"
        received = d.created_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")
        label = translate(f"doc.{d.requirement}", locale)
        rows.append([f"{label} [{d.requirement}]", str(d.page), str(d.pages), received, who])
    return rows


async def print_documents(
    sessions: async_sessionmaker[AsyncSession],
    dossier_id: int,
    tz: tzinfo,
    locale: str,
    out: TextIO = sys.stdout,
) -> None:
    """Every current file of the dossier: document type, page, pages, when, who sent it."""
    async with transaction(sessions) as s:
        docs = await dossiers.current_documents(s, dossier_id)
        ids = {d.uploaded_by for d in docs if d.uploaded_by}
        found = await s.exec(select(Account).where(col(Account.id).in_(ids))) if ids else []
        senders = {a.id or 0: a for a in found}
    if not docs:
        print("  no documents received yet", file=out)
        return
    print_rows(document_rows(docs, senders, tz, locale), lambda line: print(line, file=out), "  ")
    print(f"  {len(docs)} file(s) received", file=out)
