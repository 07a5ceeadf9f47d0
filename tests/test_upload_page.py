"""The upload page behind signed links: over real HTTP, and in a real browser (headless Chromium
driven by Playwright). Refusals: expired, reused, edited links, another person's dossier, a dossier
past the document stage, a file that is not a PDF, a missing file."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from bot.handlers import upload_page
from bot.handlers.links import DOWNLOAD_PATH, LinkSigner, register_file
from bot.handlers.upload_page import LinkRoutes, sweep_orphans
from ocop_core.clock import VN_TZ, FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.lifecycle import Stage
from ocop_core.models import Account, Document, Dossier, ServedFile
from ocop_core.plans import PlanRegistry
from ocop_core.services import accounts, dossiers
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.factories import registration
from tests.transcript import document_photo, pdf_file

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    base: str
    signer: LinkSigner
    sessions: object
    ctx: CoreContext
    owner_id: int
    other_id: int
    dossier_id: int
    notices: list[tuple[int, str]] = field(default_factory=list)
    routes: LinkRoutes | None = None

    def link(self, account_id: int | None = None, *, ttl: int = 3600, locale: str = "vi") -> str:
        token = self.signer.upload_token(
            account_id or self.owner_id, self.dossier_id, "mau02_self_assessment", locale, ttl=ttl
        )
        return f"{self.base}/link/u/{token}"

    async def documents(self) -> list[Document]:
        async with transaction(self.sessions) as s:  # type: ignore[arg-type]
            rows = await s.exec(select(Document).where(Document.dossier_id == self.dossier_id))
            return list(rows.all())


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 6, 1, 9, 0)), plans=PlanRegistry(), data_dir=tmp_path / "d"
    )
    async with transaction(sessions) as s:
        owner = await accounts.get_or_create_account(
            s, ctx, channel="zalo", platform_user_id="owner", chat_id="owner"
        )
        other = await accounts.get_or_create_account(
            s, ctx, channel="zalo", platform_user_id="other", chat_id="other"
        )
        dossier = await dossiers.register_dossier(
            s, ctx, await accounts.actor_for(s, owner), registration()
        )
        ids = (owner.id or 0, other.id or 0, dossier.id or 0)
    signer = LinkSigner(b"test-secret")
    site = Site("", signer, sessions, ctx, *ids)

    async def notify(account: Account, text: str) -> None:
        site.notices.append((account.id or 0, text))

    web_app = web.Application()
    site.routes = LinkRoutes(sessions, ctx, signer, tz=VN_TZ, notify=notify)
    site.routes.add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    site.base = f"http://127.0.0.1:{port}"
    signer.set_base(site.base)
    try:
        yield site
    finally:
        await runner.cleanup()
        await engine.dispose()


async def post_file(
    http: aiohttp.ClientSession, url: str, data: bytes | None, name: str = "a.pdf"
) -> tuple[int, str]:
    form = aiohttp.FormData()
    if data is not None:
        form.add_field("file", data, filename=name, content_type="application/pdf")
    else:
        form.add_field("note", "no file")
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.text()


async def test_upload_once_then_refused(site: Site) -> None:
    url = site.link()
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            page = await resp.text()
            assert resp.status == 200
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert '<html lang="vi">' in page and "Báo cáo tự đánh giá" in page
            assert "http://" not in page and "https://" not in page  # no external assets
        status, page = await post_file(http, url, pdf_file(2))
        assert status == 200 and "Đã nhận tệp PDF (2 trang)" in page
        docs = await site.documents()
        assert len(docs) == 1 and docs[0].mime == "application/pdf" and docs[0].pages == 2
        assert site.notices and "qua liên kết tải lên" in site.notices[0][1]
        # Reused: refused, on the form too, and nothing more stored.
        status, page = await post_file(http, url, pdf_file(1))
        assert status == 410 and "đã được dùng" in page
        async with http.get(url) as resp:
            assert resp.status == 410
        assert len(await site.documents()) == 1


async def test_one_link_takes_several_pdfs_and_leads_back_to_zalo(site: Site) -> None:
    form = aiohttp.FormData()
    form.add_field("file", pdf_file(2), filename="a.pdf", content_type="application/pdf")
    form.add_field("file", pdf_file(1), filename="b.pdf", content_type="application/pdf")
    async with aiohttp.ClientSession() as http, http.post(site.link(), data=form) as resp:
        page = await resp.text()
    assert resp.status == 200 and "(3 trang)" in page
    assert 'href="https://zalo.me/"' in page and "Quay lại Zalo" in page
    docs = await site.documents()
    assert len(docs) == 2 and sum(d.pages for d in docs) == 3


async def test_bad_links_and_files_are_refused_cleanly(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        # Expired.
        async with http.get(site.link(ttl=-5)) as resp:
            assert resp.status == 410 and "hết hạn" in await resp.text()
        # Edited: one character of the signed part changed, or the dossier swapped.
        url = site.link()
        body, mac = url.rsplit(".", 1)
        edited = f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
        for bad in (edited, url.replace("/link/u/", "/link/u/x"), site.base + "/link/u/abc"):
            async with http.get(bad) as resp:
                page = await resp.text()
                assert resp.status == 403, bad
                assert "không hợp lệ" in page and "not valid" in page  # Vietnamese, then English
                assert page.index("không hợp lệ") < page.index("not valid")
        # Another person's account in an otherwise valid link: the core refuses.
        status, page = await post_file(http, site.link(site.other_id), pdf_file(1))
        assert status == 403 and "Không tìm thấy hồ sơ" in page
        # Not a PDF, no file: refused, and the link stays usable (a "choose another" link).
        url = site.link(locale="en")
        status, page = await post_file(http, url, document_photo(1), "photo.jpg")
        assert status == 415 and "not a PDF" in page and 'href="/link/u/' in page
        status, page = await post_file(http, url, None)
        assert status == 400 and "No file was chosen" in page
        status, page = await post_file(http, url, b"%PDF-1.4 broken")
        assert status == 422
        assert await site.documents() == []
        status, page = await post_file(http, url, pdf_file(1))
        assert status == 200 and "Received the PDF" in page
        # A dossier past the document stage: the core re-checks and refuses.
        async with transaction(site.sessions) as s:  # type: ignore[arg-type]
            dossier = await s.get(Dossier, site.dossier_id)
            assert dossier is not None
            dossier.stage = Stage.COMMUNE_CHECKED
            s.add(dossier)
        late = site.link()
        async with http.get(late) as resp:  # said at once, before any upload
            assert resp.status == 403 and 'type="file"' not in await resp.text()
        status, page = await post_file(http, late, pdf_file(3))
        assert status == 403 and len(await site.documents()) == 1
    assert not list((site.ctx.data_dir / "tmp").iterdir())  # no temporary file left behind


async def test_a_refused_big_upload_leaves_nothing_and_the_link_usable(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_page, "MAX_UPLOAD", 256 * 1024)
    url = site.link()
    async with aiohttp.ClientSession() as http:
        status, page = await post_file(http, url, b"%PDF-1.4\n" + b"0" * 600_000)
        assert status == 413 and 'href="/link/u/' in page
        assert not list((site.ctx.data_dir / "tmp").iterdir())
        status, page = await post_file(http, url, pdf_file(1))
        assert status == 200 and len(await site.documents()) == 1


async def test_uploads_wait_for_a_free_slot_then_say_busy(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_page, "UPLOAD_SLOT_WAIT", 0.2)
    assert site.routes is not None
    taken = [await site.routes.slots.acquire() for _ in range(3)]  # three uploads in progress
    url = site.link()
    async with aiohttp.ClientSession() as http:
        status, page = await post_file(http, url, pdf_file(1))
        assert status == 503 and "nhiều tệp cùng lúc" in page and 'href="/link/u/' in page
        for _ in taken:
            site.routes.slots.release()
        status, page = await post_file(http, url, pdf_file(1))  # the same link, later: works
        assert status == 200


def test_orphans_are_swept_at_start(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "var"
    (data / "tmp").mkdir(parents=True)
    (data / "tmp" / "x.part").write_bytes(b"half an upload")
    (data / "media" / "ab").mkdir(parents=True)
    orphan, kept, fresh = (data / "media" / "ab" / n for n in ("orphan.pdf", "kept.pdf", "new.pdf"))
    for path in (orphan, kept, fresh):
        path.write_bytes(b"%PDF")
    old = time.time() - 2 * 3600
    os.utime(orphan, (old, old))
    os.utime(kept, (old, old))
    with sqlite3.connect(data / "ocop.sqlite3") as db:
        db.execute("CREATE TABLE document (path TEXT)")
        db.execute("INSERT INTO document VALUES ('media/ab/kept.pdf')")
    assert sweep_orphans(data) == 2
    assert kept.exists() and fresh.exists() and not orphan.exists()


async def test_download_links_name_registered_files_only(site: Site, tmp_path: Path) -> None:
    data = site.ctx.data_dir
    exports = data / "exports"
    exports.mkdir(parents=True)
    (exports / "a.pdf").write_bytes(pdf_file(1))
    (data / "ocop.sqlite3").write_bytes(b"SQLite format 3\x00 everyone's personal data")
    (exports / "db-link").symlink_to(data / "ocop.sqlite3")
    async with transaction(site.sessions) as s:  # type: ignore[arg-type]
        file_id = await register_file(
            s, data, site.owner_id, exports / "a.pdf", "Mẫu 02.pdf", "application/pdf"
        )
        refused = [
            await register_file(s, data, site.owner_id, data / "ocop.sqlite3", "x", "x/y"),
            await register_file(s, data, site.owner_id, exports / "db-link", "x", "x/y"),
            await register_file(s, data, site.owner_id, Path("/etc/passwd"), "x", "x/y"),
        ]
        # A row pointing at the database (as if written by a bug) is still never served.
        bad = ServedFile(account_id=site.owner_id, path="ocop.sqlite3", filename="a", mime="a/b")
        s.add(bad)
        await s.flush()
        bad_id = bad.id or 0
    assert file_id is not None and refused == [None, None, None]
    async with aiohttp.ClientSession() as http:
        url = site.signer.download_url(file_id, site.owner_id, "Mẫu 02.pdf")
        async with http.get(url) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"%PDF")
            assert "attachment" in resp.headers["Content-Disposition"]
        expired = site.signer.download_url(file_id, site.owner_id, "a.pdf", ttl=-1)
        async with http.get(expired) as resp:
            assert resp.status == 410
        # Someone else's id, an unknown id, the database row: nothing.
        for fid, account in ((file_id, site.other_id), (file_id + 999, site.owner_id)):
            async with http.get(site.signer.download_url(fid, account, "a.pdf")) as resp:
                assert resp.status == 404
        async with http.get(site.signer.download_url(bad_id, site.owner_id, "a")) as resp:
            assert resp.status == 404 and b"SQLite" not in await resp.read()
        async with http.get(f"{site.base}{DOWNLOAD_PATH}forged.sig/a.pdf") as resp:
            assert resp.status == 403
        old_style = f"{site.base}{DOWNLOAD_PATH}../ocop.sqlite3"
        async with http.get(old_style) as resp:
            assert resp.status in (403, 404) and b"SQLite" not in await resp.read()


def _chromium_or_skip() -> None:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is absent (Debian package 'chromium'): browser test skipped")
    pytest.importorskip("playwright", reason="playwright (dev extra) is not installed")


async def test_upload_in_a_real_browser(site: Site, tmp_path: Path) -> None:
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    pdf = tmp_path / "mau02.pdf"
    pdf.write_bytes(pdf_file(2))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740})  # a phone
            response = await page.goto(site.link())
            assert response is not None and response.status == 200
            assert await page.title() == "Gửi tệp PDF cho hồ sơ OCOP"
            await page.screenshot(path=str(tmp_path / "form.png"))
            await page.set_input_files("input[type=file]", str(pdf))
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            assert "Đã nhận tệp PDF (2 trang)" in await page.inner_text("main")
            assert len(await site.documents()) == 1

            # Expired and edited links: a clear page, nothing to upload.
            await page.goto(site.link(ttl=-5))
            assert "Liên kết đã hết hạn" in await page.inner_text("h1")
            assert await page.locator("input[type=file]").count() == 0
            url = site.link()
            await page.goto(url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb"))
            assert "Liên kết không hợp lệ" in await page.inner_text("main")
            assert await page.locator("input[type=file]").count() == 0
        finally:
            await browser.close()
    if os.environ.get("OCOP_KEEP_SCREENSHOTS"):
        shutil.copy(tmp_path / "form.png", os.environ["OCOP_KEEP_SCREENSHOTS"])
