"""Builders for officer tests: producers with submitted dossiers (real page files on disk),
invite codes, dossiers moved along by the core — shared by the transcript and end-to-end tests."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.authz import Actor
from ocop_core.db import transaction
from ocop_core.models import Account, Document, Dossier, Role
from ocop_core.rules import requirements_for
from ocop_core.services import accounts, dossiers, invites
from ocop_core.services.context import CoreContext
from tests.factories import BINH_LU, registration


def page_jpeg(seed: str) -> bytes:
    """A small but real photo of a page: enough for the PDF a card opens."""
    image = Image.new("RGB", (420, 594), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    for n in range(12):
        width = 150 + (hash((seed, n)) % 200)
        draw.rectangle([30, 40 + n * 42, 30 + width, 58 + n * 42], fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def store_page(data_dir: Path, seed: str) -> dict[str, Any]:
    data = page_jpeg(seed)
    digest = hashlib.sha256(data + seed.encode()).hexdigest()
    rel = Path("media") / digest[:2] / f"{digest}.jpg"
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / rel).write_bytes(data)
    return {
        "path": str(rel),
        "sha256": digest,
        "mime": "image/jpeg",
        "pages": 1,
        "size_bytes": len(data),
        "quality_flags": [],
    }


@dataclass
class Seeded:
    dossier_id: int
    code: str
    product: str
    producer_account_id: int
    producer_user: str


async def producer_account(
    s: AsyncSession,
    ctx: CoreContext,
    user: str,
    *,
    locale: str = "vi",
    channel: str = "telegram",
    chat_id: str | None = None,
) -> Account:
    account = await accounts.get_or_create_account(
        s,
        ctx,
        channel=channel,
        platform_user_id=user,
        chat_id=chat_id or user,
        display_name=user,
        locale=locale,
    )
    account.consent_at = ctx.clock.now()
    account.locale = locale
    s.add(account)
    await s.flush()
    return account


async def submitted_dossier(
    sessions: async_sessionmaker[AsyncSession],
    ctx: CoreContext,
    *,
    user: str,
    product: str,
    commune: str = BINH_LU,
    locale: str = "vi",
    channel: str = "telegram",
    chat_id: str | None = None,
    skip: frozenset[str] = frozenset(),
    submit: bool = True,
) -> Seeded:
    """A producer's dossier with one real page for every blocking document, submitted."""
    async with transaction(sessions) as s:
        account = await producer_account(
            s, ctx, user, locale=locale, channel=channel, chat_id=chat_id
        )
        actor = await accounts.actor_for(s, account)
        d = await dossiers.register_dossier(
            s,
            ctx,
            actor,
            registration(commune=commune, name=product, producer_name=f"HTX {product}"),
        )
        for req in requirements_for(d.criteria_set, d.attempt):
            if req.blocking and req.code not in skip:
                await dossiers.record_document(
                    s,
                    ctx,
                    actor,
                    d,
                    requirement=req.code,
                    pages=[store_page(ctx.data_dir, f"{d.receipt_code}-{req.code}")],
                )
        if submit:
            await dossiers.submit(s, ctx, actor, d)
        return Seeded(d.id or 0, d.receipt_code, product, account.id or 0, user)


async def invite_code(
    sessions: async_sessionmaker[AsyncSession],
    ctx: CoreContext,
    commune: str = BINH_LU,
    role: str = Role.COMMUNE,
    days: int = 7,
) -> str:
    async with transaction(sessions) as s:
        issued = await invites.create_invite(
            s, ctx, Actor.system(), commune_code=commune, role=role, days=days
        )
    return issued.code


async def officer_actor(
    sessions: async_sessionmaker[AsyncSession], ctx: CoreContext, role: str, commune: str
) -> Actor:
    """An officer made by the operator directly (for moving dossiers along in setup)."""
    async with transaction(sessions) as s:
        account = await accounts.get_or_create_account(
            s,
            ctx,
            channel="terminal",
            platform_user_id=f"setup-{role}-{commune}",
            chat_id="setup",
            display_name=f"Setup {role}",
        )
        await accounts.grant_role(s, Actor.system(), account, role, commune_code=commune)
        return await accounts.actor_for(s, account)


async def move_to_province(
    sessions: async_sessionmaker[AsyncSession], ctx: CoreContext, seeded: Seeded, commune: str
) -> None:
    """Commune check + forward done by a setup officer: the dossier waits for the council."""
    officer = await officer_actor(sessions, ctx, Role.COMMUNE, commune)
    async with transaction(sessions) as s:
        d = await dossiers.get_dossier_by_id(s, officer, seeded.dossier_id)
        checks = {k: {"met": True, "note": ""} for k in dossiers.COMMUNE_CRITERIA}
        await dossiers.record_commune_check(s, ctx, officer, d, results=checks)
        await dossiers.forward(s, ctx, officer, d)


async def dossier(sessions: async_sessionmaker[AsyncSession], dossier_id: int) -> Dossier:
    async with transaction(sessions) as s:
        found = await s.get(Dossier, dossier_id)
        assert found is not None
        return found


async def withdraw_document(
    sessions: async_sessionmaker[AsyncSession], dossier_id: int, requirement: str
) -> None:
    """Mark a document's pages replaced-by-nothing (e.g. found forged at the check)."""
    async with transaction(sessions) as s:
        rows = (
            await s.exec(
                select(Document).where(
                    Document.dossier_id == dossier_id, Document.requirement == requirement
                )
            )
        ).all()
        for doc in rows:
            doc.replaced = True
            s.add(doc)
