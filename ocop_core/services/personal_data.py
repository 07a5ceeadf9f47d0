"""A person's rights over their data (Decree 13/2023/NĐ-CP): see it, take a copy, correct it,
withdraw consent and have it erased.

Erasure anonymises the account and its producer records, deletes every uploaded document (rows
and files), every message queued for the person and every stored update of their chat.
Dossiers never submitted are deleted whole. Submitted dossiers stay as programme records (the
evaluation, stars and certificate of a product belong to the OCOP programme's files) but no
longer name the person; the officers of their commune are told the owner withdrew.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.errors import ValidationError
from ocop_core.i18n import N_, translate
from ocop_core.lifecycle import TERMINAL
from ocop_core.models import (
    Account,
    AccountCommune,
    AccountStatus,
    ConversationState,
    DataAccess,
    Document,
    Dossier,
    DossierEvent,
    InboxItem,
    Outbox,
    OutboxStatus,
    Producer,
    ServedFile,
)
from ocop_core.phones import normalise_vn_mobile
from ocop_core.services import outbox
from ocop_core.services.context import CoreContext

log = logging.getLogger("ocop.personal_data")

MAX_NAME = 200


@dataclass
class Erasure:
    """What erasure did: kept dossiers are named by receipt code only (in the reply)."""

    kept: list[str] = field(default_factory=list)  # receipt codes of programme records
    deleted_dossiers: int = 0
    deleted_documents: int = 0
    files: list[Path] = field(default_factory=list)  # to delete once the transaction commits


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def _producers(s: AsyncSession, account: Account) -> list[Producer]:
    stmt = select(Producer).where(Producer.account_id == account.id).order_by(col(Producer.id))
    return list((await s.exec(stmt)).all())


async def _dossiers(s: AsyncSession, producers: list[Producer]) -> list[Dossier]:
    ids = [p.id for p in producers]
    if not ids:
        return []
    stmt = select(Dossier).where(col(Dossier.producer_id).in_(ids)).order_by(col(Dossier.id))
    return list((await s.exec(stmt)).all())


async def collect(s: AsyncSession, account: Account) -> dict[str, Any]:
    """Everything stored about this person, as plain data (shown, and exported as JSON)."""
    producers = await _producers(s, account)
    dossiers = await _dossiers(s, producers)
    docs: list[Document] = []
    if dossiers:
        stmt = select(Document).where(col(Document.dossier_id).in_([d.id for d in dossiers]))
        docs = list((await s.exec(stmt)).all())
    messages = (await s.exec(select(Outbox).where(Outbox.account_id == account.id))).all()
    return {
        "account": {
            "channel": account.channel,
            "name": account.display_name,
            "phone": account.phone,
            "phone_verified": account.phone_verified,
            "language": account.locale,
            "role": account.role,
            "consent_at": _iso(account.consent_at),
            "created_at": _iso(account.created_at),
        },
        "producers": [
            {
                "name": p.name,
                "representative": p.representative,
                "registration_number": p.registration_number,
                "address": p.address,
                "phone": p.phone,
                "commune_code": p.commune_code,
            }
            for p in producers
        ],
        "dossiers": [
            {
                "receipt_code": d.receipt_code,
                "product": d.product_name,
                "stage": d.stage,
                "year": d.year,
                "submitted_at": _iso(d.submitted_at),
                "stars": d.stars,
                "certificate_number": d.certificate_number,
            }
            for d in dossiers
        ],
        "documents": [
            {"requirement": d.requirement, "pages": d.pages, "file": Path(d.path).name}
            for d in docs
            if not d.replaced
        ],
        "messages_kept": len(messages),
    }


async def export(s: AsyncSession, ctx: CoreContext, account: Account) -> Path:
    """A zip file in the exports folder: data.json and the person's documents."""
    data = await collect(s, account)
    producers = await _producers(s, account)
    dossiers = await _dossiers(s, producers)
    paths: list[Path] = []
    if dossiers:
        stmt = select(Document).where(
            col(Document.dossier_id).in_([d.id for d in dossiers]),
            col(Document.replaced).is_(False),
        )
        paths = [ctx.data_dir / d.path for d in (await s.exec(stmt)).all()]
    stamp = ctx.clock.now().strftime("%Y%m%d-%H%M%S")
    target = ctx.data_dir / "exports" / f"data-{account.id}-{stamp}.zip"
    _write_zip(target, data, paths)
    return target


def _write_zip(target: Path, data: dict[str, Any], paths: list[Path]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        for path in paths:
            if path.is_file():
                z.write(path, f"documents/{path.name}")


async def correct_name(s: AsyncSession, account: Account, name: str) -> str:
    value = " ".join(name.split())
    if not value or not any(ch.isalpha() for ch in value):
        raise ValidationError(N_("error.field_required"), field="field.representative")
    if len(value) > MAX_NAME:
        raise ValidationError(N_("error.field_too_long"), field="field.representative", limit=200)
    account.display_name = value
    for producer in await _producers(s, account):
        producer.representative = value
        s.add(producer)
    s.add(account)
    return value


async def correct_phone(s: AsyncSession, account: Account, phone: str) -> str:
    value = normalise_vn_mobile(phone)
    if value is None:
        raise ValidationError(N_("data.phone_invalid"))
    account.phone, account.phone_verified = value, False  # typed, not shared by the platform
    for producer in await _producers(s, account):
        producer.phone = value
        s.add(producer)
    s.add(account)
    return value


async def erase(s: AsyncSession, ctx: CoreContext, account: Account) -> Erasure:
    """Withdraw consent and erase (see the module text). Files are listed in the result and
    removed by ``remove_files`` after the transaction commits."""
    result = Erasure()
    producers = await _producers(s, account)
    for dossier in await _dossiers(s, producers):
        result.files += await _drop_documents(s, ctx, dossier, result)
        if dossier.submitted_at is None:
            await s.exec(delete(DossierEvent).where(col(DossierEvent.dossier_id) == dossier.id))
            await s.exec(delete(DataAccess).where(col(DataAccess.dossier_id) == dossier.id))
            await s.delete(dossier)
            result.deleted_dossiers += 1
        else:
            result.kept.append(dossier.receipt_code)
            if dossier.stage not in TERMINAL:
                await _tell_officers(s, ctx, dossier)
    await s.flush()
    for producer in producers:
        producer.name, producer.representative, producer.address = "", "", ""
        producer.registration_number, producer.phone, producer.account_id = None, None, None
        s.add(producer)
    await _forget_account(s, ctx, account, result)
    await s.flush()
    result.files = await _unshared(s, ctx, result.files)
    files = list(result.files)
    # Files go only once the rows are gone for good; a rollback keeps both.
    event.listen(s.sync_session, "after_commit", lambda _s: remove_files(files), once=True)
    log.info("personal data of account %s erased", account.id)
    return result


async def _unshared(s: AsyncSession, ctx: CoreContext, paths: list[Path]) -> list[Path]:
    """Files no remaining document names (the media store keeps one copy of equal content)."""
    still = {
        ctx.data_dir / p
        for p in (await s.exec(select(Document.path))).all()  # type: ignore[call-overload]
    }
    return [p for p in dict.fromkeys(paths) if p not in still]


async def _drop_documents(
    s: AsyncSession, ctx: CoreContext, dossier: Dossier, result: Erasure
) -> list[Path]:
    docs = (await s.exec(select(Document).where(Document.dossier_id == dossier.id))).all()
    for doc in docs:
        await s.delete(doc)
    result.deleted_documents += len(docs)
    return [ctx.data_dir / d.path for d in docs]


async def _tell_officers(s: AsyncSession, ctx: CoreContext, dossier: Dossier) -> None:
    stmt = (
        select(Account)
        .join(AccountCommune, col(AccountCommune.account_id) == col(Account.id))
        .where(AccountCommune.commune_code == dossier.commune_code)
    )
    for officer in (await s.exec(stmt)).all():
        text = translate(N_("data.owner_withdrew"), officer.locale, code=dossier.receipt_code)
        key = f"withdrew:{dossier.id}:{officer.id}"
        await outbox.enqueue(s, officer, {"text": text}, key=key, now=ctx.clock.now())


async def _forget_account(
    s: AsyncSession, ctx: CoreContext, account: Account, result: Erasure
) -> None:
    await s.exec(delete(Outbox).where(col(Outbox.account_id) == account.id))
    served = (await s.exec(select(ServedFile).where(ServedFile.account_id == account.id))).all()
    result.files += [ctx.data_dir / f.path for f in served if f.path.startswith("exports/")]
    await s.exec(delete(ServedFile).where(col(ServedFile.account_id) == account.id))
    await s.exec(
        delete(InboxItem).where(
            col(InboxItem.channel) == account.channel,
            col(InboxItem.chat_key) == account.chat_id,
            col(InboxItem.status).not_in(["pending", "answering"]),
        )
    )
    await s.exec(
        update(ConversationState)
        .where(col(ConversationState.account_id) == account.id)
        .values(data={})
    )
    result.files += list((ctx.data_dir / "exports").glob(f"data-{account.id}-*.zip"))
    account.display_name, account.phone, account.phone_verified = "", None, False
    account.platform_user_id = f"erased-{account.id}"
    account.chat_id = ""
    account.consent_at = None
    account.status = AccountStatus.STOPPED
    account.last_interaction_at = None
    s.add(account)


async def record_access(
    s: AsyncSession, ctx: CoreContext, actor: Actor, dossier: Dossier, what: str
) -> None:
    """An officer looked at a producer's personal data: one DataAccess row."""
    if actor.is_officer:
        s.add(
            DataAccess(
                officer_id=actor.account_id,
                dossier_id=dossier.id or 0,
                what=what[:64],
                at=ctx.clock.now(),
            )
        )


async def purge_outbox(s: AsyncSession, *, before: datetime) -> int:
    """Retention: delete delivered (or given up) outbox messages created before ``before``.
    Queued ones stay: they are still to be sent."""
    result = await s.exec(
        delete(Outbox).where(
            col(Outbox.status).in_([OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.STOPPED]),
            col(Outbox.created_at) < before,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def remove_files(paths: list[Path]) -> int:
    """After the commit: delete the files of erased documents and exports."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
