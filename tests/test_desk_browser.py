"""The desk in a real browser (Debian's chromium driven by Playwright), on a phone-sized and a
desktop viewport: sign in from a /web link, overview with both charts, filter, open a dossier,
preview a document, download the xlsx, sign out. Screenshots of every page are kept under the
test's tmp dir (and copied to $OCOP_KEEP_SCREENSHOTS when set)."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.flows.types import Capabilities, Incoming, Kind
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.desk_helpers import World, build_world, serve_desk, sign_in_token
from tests.test_upload_page import CHROMIUM, CHROMIUM_ARGS, _chromium_or_skip

# A real browser on a busy 2-core machine: minutes, not the default minute.
pytestmark = pytest.mark.timeout(240)

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}


@dataclass
class Site:
    base: str
    sessions: object
    ctx: CoreContext
    world: World
    shots: Path


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 6, 10, 9, 0)), plans=PlanRegistry(), data_dir=tmp_path / "d"
    )
    world = await build_world(sessions, ctx)
    runner, base = await serve_desk(sessions, ctx)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Site(base, sessions, ctx, world, shots)
    finally:
        await runner.cleanup()
        await engine.dispose()
        keep = os.environ.get("OCOP_KEEP_SCREENSHOTS")
        if keep:
            shutil.copytree(shots, Path(keep), dirs_exist_ok=True)


async def chat_link(site: Site, user: str) -> str:
    """What an officer gets by sending /web in chat."""
    conv = Conversations(site.sessions, site.ctx, build_flows())  # type: ignore[arg-type]
    result = await conv.handle(
        Incoming("telegram", user, user, Kind.COMMAND, command="web"), Capabilities()
    )
    found = re.search(r"(http://\S+)", result.replies[0].text)
    assert found, result.replies[0].text
    return found.group(1)


async def walk_the_desk(page, site: Site, link: str, name: str) -> None:  # type: ignore[no-untyped-def]
    async def shot(label: str) -> None:
        await page.screenshot(path=str(site.shots / f"{name}-{label}.png"), full_page=True)

    await page.goto(link)
    assert await page.title() == "Đăng nhập bàn làm việc OCOP · Bàn làm việc OCOP"
    async with page.expect_navigation():
        await page.click("#signin")
    assert page.url.endswith("/desk/")
    # Overview: both charts drawn, with their numbers.
    funnel, communes = page.locator("svg#funnel"), page.locator("svg#by-commune")
    assert await funnel.is_visible() and await communes.is_visible()
    assert await funnel.locator("rect").count() == 7
    assert "Xã Bình Lư" in (await communes.text_content() or "")
    box = await funnel.bounding_box()
    assert box is not None and box["width"] <= VIEWPORTS[name]["width"]
    await shot("overview")
    # Dossiers: filter by an accent-free search, then by stage.
    await page.click("nav >> text=Hồ sơ")
    await page.fill("input[name=q]", "che shan")
    async with page.expect_navigation():
        await page.click("#filters button[type=submit]")
    rows = page.locator("table.dossiers tbody tr")
    assert await rows.count() == 1 and "Chè Shan tuyết" in await rows.inner_text()
    await page.fill("input[name=q]", "")
    await page.select_option("select[name=stage]", "submitted")
    async with page.expect_navigation():
        await page.click("#filters button[type=submit]")
    assert await rows.count() == 1 and "Mật ong bạc hà" in await rows.inner_text()
    await shot("dossiers")
    # The xlsx of the filtered table.
    async with page.expect_download() as info:
        await page.click("a.export")
    download = await info.value
    path = site.shots / f"{name}-dossiers.xlsx"
    await download.save_as(path)
    ws = load_workbook(io.BytesIO(path.read_bytes())).active
    assert ws.max_row == 2 and ws.cell(2, 2).value == "Mật ong bạc hà"
    # One dossier: card, document previews (real images), timeline.
    async with page.expect_navigation():
        await rows.locator("a").first.click()
    assert "Mật ong bạc hà" in await page.inner_text("h1")
    first = page.locator(".docs img").first
    await first.scroll_into_view_if_needed()
    # Loaded (lazily, maybe still in flight when scrolled to): wait for the decoded image.
    loaded = "img => img.complete && img.naturalWidth > 0"
    await page.wait_for_function(loaded, arg=await first.element_handle(), timeout=30_000)
    href = await page.locator(".docs a.preview").first.get_attribute("href")
    assert href
    preview = await page.context.new_page()
    response = await preview.goto(site.base + href)
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/jpeg"
    await preview.close()
    assert await page.locator("#timeline li").count() >= 2
    await shot("dossier")
    for label in ("certificates", "targets"):
        await page.goto(f"{site.base}/desk/{label}")
        await shot(label)
        if label == "certificates":
            assert "123/QĐ-UBND" in await page.inner_text("main")
    # Sign out ends the session.
    async with page.expect_navigation():
        await page.click(".signout button")
    assert "Đã đăng xuất" in await page.inner_text("main")
    response = await page.goto(f"{site.base}/desk/")
    assert response is not None and response.status == 401


async def test_desk_in_a_real_browser_on_a_phone_and_a_desk(site: Site) -> None:
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, viewport in VIEWPORTS.items():
                context = await browser.new_context(viewport=viewport, accept_downloads=True)
                page = await context.new_page()
                link = await chat_link(site, "Cán bộ Bình Lư")
                await walk_the_desk(page, site, link, name)
                # The used link is refused afterwards.
                response = await page.goto(link)
                assert response is not None and response.status == 410
                assert "đã được dùng" in await page.inner_text("main")
                await context.close()
            # Another commune's officer: no page, no rows, no preview of this commune.
            context = await browser.new_context(viewport=VIEWPORTS["phone"])
            page = await context.new_page()
            token = await sign_in_token(site.sessions, site.ctx, site.world.other_officer)  # type: ignore[arg-type]
            await page.goto(f"{site.base}/desk/signin/{token}")
            async with page.expect_navigation():
                await page.click("#signin")
            response = await page.goto(f"{site.base}/desk/dossiers/{site.world.mine[0]}")
            assert response is not None and response.status == 403
            assert (await page.inner_text("main")).strip().startswith("Not allowed")
            await page.screenshot(path=str(site.shots / "other-commune-403.png"))
            await context.close()
        finally:
            await browser.close()
    names = sorted(p.name for p in site.shots.glob("*.png"))
    assert len(names) == 11, names
