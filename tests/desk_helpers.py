"""A small province for the desk tests: officers of two communes and of the province, dossiers
at several stages (one certified, one overdue) with real page files, and the desk served on a
real aiohttp site."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.web import Desk
from ocop_core.authz import Actor
from ocop_core.clock import FixedClock
from ocop_core.db import transaction
from ocop_core.models import Dossier, Role
from ocop_core.services import accounts, dossiers, web_access
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.factories import BINH_LU, TAN_PHONG
from tests.officer_helpers import move_to_province, officer_actor, submitted_dossier


@dataclass
class World:
    commune_officer: int  # Bình Lư
    other_officer: int  # Tân Phong, reads English
    province_officer: int
    producer: int
    mine: list[int]  # Bình Lư dossiers
    certified: int
    overdue: int
    theirs: int  # the Tân Phong dossier


async def officer(
    sessions: async_sessionmaker[AsyncSession],
    ctx: CoreContext,
    name: str,
    role: str,
    commune: str,
    locale: str = "vi",
) -> int:
    async with transaction(sessions) as s:
        account = await accounts.get_or_create_account(
            s, ctx, channel="telegram", platform_user_id=name, chat_id=name, display_name=name
        )
        account.locale = locale
        account.consent_at = ctx.clock.now()
        await accounts.grant_role(s, Actor.system(), account, role, commune_code=commune)
        return account.id or 0


async def certify(
    sessions: async_sessionmaker[AsyncSession], ctx: CoreContext, dossier_id: int, number: str
) -> None:
    province = await officer_actor(sessions, ctx, Role.PROVINCE, BINH_LU)
    async with transaction(sessions) as s:
        d = await dossiers.get_dossier_by_id(s, province, dossier_id)
        await dossiers.record_score(s, ctx, province, d, points="76,5")
        await dossiers.certify(s, ctx, province, d, number=number, issued=date(2026, 6, 10))


async def build_world(sessions: async_sessionmaker[AsyncSession], ctx: CoreContext) -> World:
    honey = await submitted_dossier(sessions, ctx, user="p-honey", product="Mật ong bạc hà")
    # The certified one was filed in the first days of 26/2026 and certified on 10/06/2026: a
    # certificate is never dated before its filing day.
    clock = ctx.clock
    assert isinstance(clock, FixedClock)
    today = clock.now()
    clock.set(vn_time(2026, 5, 25, 9, 0))
    tea = await submitted_dossier(sessions, ctx, user="p-tea", product="Chè Shan tuyết")
    await move_to_province(sessions, ctx, tea, BINH_LU)
    clock.set(vn_time(2026, 6, 10, 15, 0))
    await certify(sessions, ctx, tea.dossier_id, "123/QĐ-UBND")
    clock.set(today)
    rice = await submitted_dossier(
        sessions, ctx, user="p-rice", product="Gạo nếp tan", submit=False, skip=frozenset()
    )
    bamboo = await submitted_dossier(
        sessions, ctx, user="p-bamboo", product="Măng khô Tân Phong", commune=TAN_PHONG
    )
    async with transaction(sessions) as s:  # a deadline already behind us
        late = await s.get(Dossier, honey.dossier_id)
        assert late is not None
        late.next_due = date(2026, 5, 20)
        s.add(late)
    return World(
        commune_officer=await officer(sessions, ctx, "Cán bộ Bình Lư", Role.COMMUNE, BINH_LU),
        other_officer=await officer(
            sessions, ctx, "Tan Phong officer", Role.COMMUNE, TAN_PHONG, "en"
        ),
        province_officer=await officer(sessions, ctx, "Cán bộ tỉnh", Role.PROVINCE, BINH_LU),
        producer=honey.producer_account_id,
        mine=[honey.dossier_id, tea.dossier_id, rice.dossier_id],
        certified=tea.dossier_id,
        overdue=honey.dossier_id,
        theirs=bamboo.dossier_id,
    )


async def sign_in_token(
    sessions: async_sessionmaker[AsyncSession], ctx: CoreContext, account_id: int
) -> str:
    async with transaction(sessions) as s:
        return await web_access.issue_for_account(s, ctx, account_id)


async def serve_desk(
    sessions: async_sessionmaker[AsyncSession], ctx: CoreContext
) -> tuple[web.AppRunner, str]:
    web_app = web.Application()
    Desk(sessions, ctx).add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    ctx.web_url = base
    return runner, base


def cookie_of(headers: Any) -> str:
    """The session cookie's value from a Set-Cookie header (tests send it back by hand)."""
    for raw in headers.getall("Set-Cookie", []):
        if raw.startswith("ocop_desk="):
            return raw.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no session cookie set")
