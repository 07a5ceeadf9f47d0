"""The officers' web desk over real HTTP: sign-in links (once, 10 minutes), sessions (cookie
flags, sign-out, forged cookies), CSRF on forms, scope by the core (another commune's dossier,
document or rows: refused without detail), hostile filters, and the /web chat command."""

from __future__ import annotations

import io
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from openpyxl import load_workbook
from sqlmodel import select

from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.flows.types import Capabilities, Incoming, Kind
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.lifecycle import Action
from ocop_core.models_web import WebSession, WebSignIn
from ocop_core.plans import PlanRegistry
from ocop_core.rules import requirements_for
from ocop_core.services import desk, dossiers, rounds
from ocop_core.services.context import CoreContext
from ocop_core.services.desk import DossierFilter
from tests.conftest import Core, vn_time
from tests.desk_helpers import World, build_world, cookie_of, serve_desk, sign_in_token
from tests.factories import BINH_LU, attach_all, registration

TEMPLATES = Path(__file__).resolve().parent.parent / "bot" / "web" / "templates"


@dataclass
class Site:
    base: str
    sessions: object
    ctx: CoreContext
    clock: FixedClock
    world: World
    runner: web.AppRunner

    async def token(self, account_id: int) -> str:
        return await sign_in_token(self.sessions, self.ctx, account_id)  # type: ignore[arg-type]


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    clock = FixedClock(vn_time(2026, 6, 10, 9, 0))
    ctx = CoreContext(clock=clock, plans=PlanRegistry(), data_dir=tmp_path / "d")
    world = await build_world(sessions, ctx)
    runner, base = await serve_desk(sessions, ctx)
    try:
        yield Site(base, sessions, ctx, clock, world, runner)
    finally:
        await runner.cleanup()
        await engine.dispose()


class Visitor:
    """An HTTP client that keeps the desk cookie by hand (it is Secure: aiohttp's jar would
    not send it over plain http, a browser on localhost does)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base, self.cookie = http, base, ""

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"ocop_desk={self.cookie}"} if self.cookie else {}

    async def get(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(
            self.base + path, headers=self._headers(), allow_redirects=False
        ) as r:
            return r.status, await r.text(errors="replace"), r

    async def post(self, path: str, data: object) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.post(
            self.base + path, data=data, headers=self._headers(), allow_redirects=False
        ) as r:
            return r.status, await r.text(errors="replace"), r

    async def sign_in(self, token: str) -> None:
        status, _, resp = await self.post(f"/desk/signin/{token}", {})
        assert status == 303, status
        self.cookie = cookie_of(resp.headers)

    async def csrf(self) -> str:
        _, page, _ = await self.get("/desk/")
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found
        return found.group(1)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def test_sign_in_link_works_once_and_sets_a_strict_cookie(
    site: Site, http: aiohttp.ClientSession
) -> None:
    v = Visitor(http, site.base)
    token = await site.token(site.world.commune_officer)
    # Opening the link (or a chat app's preview of it) only asks: it does not use it up.
    for _ in range(2):
        status, page, resp = await v.get(f"/desk/signin/{token}")
        assert status == 200 and "Đăng nhập với tên Cán bộ Bình Lư?" in page
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    status, _, resp = await v.post(f"/desk/signin/{token}", {})
    assert status == 303 and resp.headers["Location"] == "/desk/"
    raw = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith("ocop_desk="))
    flags = {p.strip().lower() for p in raw.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/desk", "max-age=28800"} <= flags
    v.cookie = cookie_of(resp.headers)
    status, page, _ = await v.get("/desk/")
    assert status == 200 and 'id="funnel"' in page and 'id="by-commune"' in page
    # Used: refused, on the page and on the post, and no second session comes of it.
    other = Visitor(http, site.base)
    status, page, _ = await other.get(f"/desk/signin/{token}")
    assert status == 410 and "đã được dùng" in page
    status, _, resp = await other.post(f"/desk/signin/{token}", {})
    assert status == 410 and "Set-Cookie" not in resp.headers


async def test_expired_tampered_and_forged_are_refused(
    site: Site, http: aiohttp.ClientSession
) -> None:
    v = Visitor(http, site.base)
    token = await site.token(site.world.commune_officer)
    site.clock.advance(timedelta(minutes=10, seconds=1))
    status, page, _ = await v.post(f"/desk/signin/{token}", {})
    assert status == 410 and "hết hạn" in page
    fresh = await site.token(site.world.commune_officer)
    tampered = fresh[:-1] + ("A" if fresh[-1] != "A" else "B")
    for bad in (tampered, "x" * 300, "<script>"):
        status, page, _ = await v.post(f"/desk/signin/{bad}", {})
        assert status in (403, 404) and "Set-Cookie" not in page
    v.cookie = "forged-" + "a" * 40
    status, page, _ = await v.get("/desk/dossiers")
    assert status == 401 and "/web" in page
    # Sessions last 8 hours; a day later the rows are gone at the next sign-in.
    await v.sign_in(fresh)
    assert (await v.get("/desk/"))[0] == 200
    site.clock.advance(timedelta(hours=8, seconds=1))
    assert (await v.get("/desk/"))[0] == 401
    site.clock.advance(timedelta(days=1))
    await Visitor(http, site.base).sign_in(await site.token(site.world.commune_officer))
    async with transaction(site.sessions) as s:  # type: ignore[arg-type]
        assert len((await s.exec(select(WebSession))).all()) == 1
        assert len((await s.exec(select(WebSignIn))).all()) == 1


async def test_sign_out_needs_the_form_token_and_ends_the_session(
    site: Site, http: aiohttp.ClientSession
) -> None:
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(site.world.commune_officer))
    csrf = await v.csrf()
    status, page, _ = await v.post("/desk/signout", {"csrf": "wrong"})
    assert status == 403 and "Biểu mẫu" in page
    assert (await v.get("/desk/"))[0] == 200  # still signed in
    status, page, resp = await v.post("/desk/signout", {"csrf": csrf})
    assert status == 200 and "Đã đăng xuất" in page
    assert any(
        c.startswith("ocop_desk=;") or 'ocop_desk=""' in c
        for c in resp.headers.getall("Set-Cookie")
    )
    status, _, _ = await v.get("/desk/")  # the old cookie, replayed
    assert status == 401


async def test_another_communes_dossier_document_and_rows_are_out_of_reach(
    site: Site, http: aiohttp.ClientSession
) -> None:
    w = site.world
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(w.commune_officer))
    status, page, _ = await v.get(f"/desk/dossiers/{w.theirs}")
    assert status == 403 and "Măng khô" not in page and "Tân Phong" not in page
    forbidden_missing = (await v.get("/desk/dossiers/999999"))[1]
    main = lambda html: html[html.index("<main>") :]  # noqa: E731
    assert main(forbidden_missing) == main(page)  # "not yours" and "none" read the same
    status, page, _ = await v.get(f"/desk/dossiers/{w.mine[0]}")
    assert status == 200 and "Mật ong bạc hà" in page
    doc_ids = [int(x) for x in re.findall(r'href="/desk/documents/(\d+)"', page)]
    assert doc_ids
    async with http.get(
        f"{site.base}/desk/documents/{doc_ids[0]}", headers={"Cookie": f"ocop_desk={v.cookie}"}
    ) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
    # The other commune's officer can open neither that page nor that document.
    o = Visitor(http, site.base)
    await o.sign_in(await site.token(w.other_officer))
    status, page, _ = await o.get(f"/desk/dossiers/{w.mine[0]}")
    assert status == 403 and "Not allowed" in page and "Mật ong" not in page
    status, page, _ = await o.get(f"/desk/documents/{doc_ids[0]}")
    assert status == 403 and "jpeg" not in page.lower()
    status, page, _ = await o.get(f"/desk/dossiers/{w.mine[0]}/mau03.pdf")
    assert status == 403
    # Lists and exports hold only their own rows.
    status, page, _ = await o.get("/desk/dossiers")
    assert "Măng khô Tân Phong" in page and "Mật ong" not in page
    status, _, _ = await o.get("/desk/dossiers.xlsx")
    assert status == 200
    # No desk for a producer, and no page without a session.
    anon = Visitor(http, site.base)
    for path in (
        "/desk/",
        "/desk/dossiers",
        "/desk/dossiers.xlsx",
        f"/desk/documents/{doc_ids[0]}",
    ):
        assert (await anon.get(path))[0] == 401


async def test_hostile_filters_are_harmless(site: Site, http: aiohttp.ClientSession) -> None:
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(site.world.province_officer))
    for q in ("'; DROP TABLE dossier; --", "<script>alert(1)</script>", "%", "_", "\\"):
        status, page, _ = await v.get("/desk/dossiers?" + urlencode({"q": q}))
        assert status == 200, q
        assert "<script>alert" not in page
        assert "0 hồ sơ" in page
    junk = {"stage": "<b>", "commune": "1 OR 1=1", "year": "x", "sort": "evil", "page": "-3"}
    status, page, _ = await v.get("/desk/dossiers?" + urlencode(junk))
    assert status == 200 and "4 hồ sơ" in page
    # Accent-free search over product and producer, and by receipt code.
    assert "1 hồ sơ" in (await v.get("/desk/dossiers?q=mat+ong+bac"))[1]
    assert "1 hồ sơ" in (await v.get("/desk/dossiers?q=HTX+CHE+SHAN"))[1]
    status, page, _ = await v.get("/desk/dossiers?overdue=1")
    assert "1 hồ sơ" in page and "Mật ong bạc hà" in page


async def test_filters_sort_and_pages(site: Site, http: aiohttp.ClientSession) -> None:
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(site.world.province_officer))
    status, page, _ = await v.get("/desk/dossiers?stage=certified")
    assert status == 200 and "1 hồ sơ" in page and "Chè Shan tuyết" in page
    status, page, _ = await v.get("/desk/dossiers?commune=03408")
    assert "1 hồ sơ" in page and "Măng khô" in page
    status, page, _ = await v.get("/desk/dossiers?sort=-due")
    assert status == 200
    status, page, _ = await v.get("/desk/certificates")
    assert "123/QĐ-UBND" in page and "10/06/2029" in page
    # Rounds (from the rounds use cases): the current one on the overview, a filter by round.
    status, page, _ = await v.get("/desk/")
    found = re.search(
        r'id="current-round".*?href="/desk/dossiers\?round=(\d+)">([^<]+)<', page, re.S
    )
    assert found and found.group(2).startswith("Đợt ")
    status, page, _ = await v.get(f"/desk/dossiers?round={found.group(1)}")
    assert status == 200 and re.search(r"[1-9] hồ sơ", page)
    assert "Đợt " in (await v.get(f"/desk/dossiers/{site.world.overdue}"))[1]


async def test_web_command_gives_officers_a_link_and_producers_none(site: Site) -> None:
    conv = Conversations(site.sessions, site.ctx, build_flows())  # type: ignore[arg-type]
    caps = Capabilities()

    def web_cmd(user: str) -> Incoming:
        return Incoming("telegram", user, user, Kind.COMMAND, command="web")

    result = await conv.handle(web_cmd("Cán bộ Bình Lư"), caps)
    text = result.replies[0].text
    assert "dùng một lần, hết hạn sau 10 phút" in text
    url = re.search(r"(http://\S+)", text)
    assert url and url.group(1).startswith(f"{site.base}/desk/signin/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        v = Visitor(http, site.base)
        await v.sign_in(url.group(1).rsplit("/", 1)[1])
        assert (await v.get("/desk/"))[0] == 200
    result = await conv.handle(web_cmd("p-honey"), caps)
    assert "chỉ dành cho cán bộ" in result.replies[0].text
    assert "/desk/signin/" not in result.replies[0].text


def test_every_template_text_is_in_both_catalogs() -> None:
    from ocop_core.i18n import catalog

    keys = set()
    for path in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"t\('([a-z0-9_.-]+)'", path.read_text()))
    keys = {k for k in keys if not k.endswith(".")}  # prefixes of keys built from data:
    assert len(keys) > 50
    keys |= {f"desk.action.{a.value}" for a in Action}
    keys |= {"desk.action.import", f"desk.action.{rounds.ASSIGN_ROUND}"}
    keys |= {f"desk.sort.{s}" for s in desk.SORTS} | {f"desk.funnel.{f}" for f in desk.FUNNEL}
    keys |= {f"desk.cert.{s}" for s in ("valid", "window_open", "window_closed", "expired")}
    for locale in ("vi", "en"):
        missing = sorted(k for k in keys if k not in catalog(locale))
        assert not missing, (locale, missing)


async def test_search_is_accent_free_on_both_databases(core: Core) -> None:
    _, producer = await core.person("p1")
    async with core.session() as s:  # type: ignore[attr-defined]
        for name in ("Mật ong bạc hà", "Đường phèn Đồng Nai", "Chè Shan tuyết"):
            await dossiers.register_dossier(s, core.ctx, producer, registration(name=name))
    _, officer = await core.person("xa", "commune", commune=BINH_LU)

    async def found(q: str) -> list[str]:
        async with core.session() as s:  # type: ignore[attr-defined]
            page = await desk.list_dossiers(s, core.ctx, officer, DossierFilter(q=q))
        return sorted(r.product_name for r in page.rows)

    assert await found("mat ong") == ["Mật ong bạc hà"]
    assert await found("DUONG PHEN") == ["Đường phèn Đồng Nai"]
    assert await found("Shan Tuyết") == ["Chè Shan tuyết"]
    assert len(await found("htx ong mat")) == 3  # the producer's name
    assert await found("100%") == []


async def test_search_text_follows_renamed_products_and_producers(core: Core) -> None:
    """The stored folded names are kept current by the core on every write (and erased with
    the producer's name), so the search never finds a name that is gone."""
    from ocop_core.models import Dossier, Producer

    _, producer = await core.person("p1")
    async with core.session() as s:  # type: ignore[attr-defined]
        d = await dossiers.register_dossier(s, core.ctx, producer, registration(name="Mật ong"))
        dossier_id, producer_id = d.id, d.producer_id
    _, officer = await core.person("xa", "commune", commune=BINH_LU)

    async def found(q: str) -> int:
        async with core.session() as s:  # type: ignore[attr-defined]
            return (await desk.list_dossiers(s, core.ctx, officer, DossierFilter(q=q))).total

    assert await found("mat ong") == 1
    async with core.session() as s:  # type: ignore[attr-defined]
        row = await s.get(Dossier, dossier_id)
        owner = await s.get(Producer, producer_id)
        assert row is not None and owner is not None
        row.product_name, owner.name = "Trà hoa vàng", "Hợp tác xã Đồi Chè"
        s.add_all([row, owner])
    assert await found("mat ong") == 0
    assert await found("tra hoa vang") == 1
    assert await found("doi che") == 1
    async with core.session() as s:  # type: ignore[attr-defined]
        owner = await s.get(Producer, producer_id)
        assert owner is not None
        owner.name = ""
        s.add(owner)
    assert await found("doi che") == 0


async def test_import_form_for_provincial_staff(site: Site, http: aiohttp.ClientSession) -> None:
    from openpyxl import Workbook

    from ocop_core.excel.products_import import MAX_ROWS
    from tests.test_desk_excel import HEADER, product, sheet

    o = Visitor(http, site.base)
    await o.sign_in(await site.token(site.world.commune_officer))
    assert (await o.get("/desk/import"))[0] == 403
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(site.world.province_officer))
    status, page, _ = await v.get("/desk/import")
    assert status == 200 and 'type="file"' in page
    csrf = await v.csrf()

    def form(data: bytes, *, dry: bool, token: str = csrf) -> aiohttp.FormData:
        f = aiohttp.FormData()
        f.add_field("csrf", token)
        if dry:
            f.add_field("dry_run", "1")
        f.add_field("file", data, filename="ds.xlsx")
        return f

    good = sheet([product(1, number="77/QĐ-UBND"), product(2, number="78/QĐ-UBND")])
    status, page, _ = await v.post("/desk/import", form(good, dry=True, token="forged"))
    assert status == 403
    status, page, _ = await v.post("/desk/import", form(good, dry=True))
    assert status == 200 and "sẽ tạo 2 sản phẩm" in page
    status, page, _ = await v.post("/desk/import", form(b"PK\x03\x04junk", dry=False))
    assert status == 422 and "không phải bảng tính" in page
    bad = sheet([product(1, number="79/QĐ-UBND"), product(2, issued="31/12/2030")])
    status, page, _ = await v.post("/desk/import", form(bad, dry=False))
    assert status == 422 and "Dòng 3" in page and "chưa lưu gì" in page
    assert "79/QĐ-UBND" not in (await v.get("/desk/certificates"))[1]
    status, page, _ = await v.post("/desk/import", form(good, dry=False))
    assert status == 200 and "Đã nhập 2 sản phẩm" in page
    assert "77/QĐ-UBND" in (await v.get("/desk/certificates"))[1]
    # Larger than the web server's 1 MB body limit, read as a stream: a clear answer each time.
    # One row over the import's limit; random names keep the compressed sheet over 1 MB.
    rng = random.Random(1)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(HEADER)
    for n in range(MAX_ROWS + 1):
        ws.append([n, f"Sản phẩm số {n} {rng.randbytes(48).hex()}", "HTX", "Xã Bình Lư"])
    out = io.BytesIO()
    wb.save(out)
    assert len(out.getvalue()) > 1 << 20
    status, page, _ = await v.post("/desk/import", form(out.getvalue(), dry=True))
    assert status == 422 and "hơn 20,000 dòng" in page
    status, page, _ = await v.post(
        "/desk/import", form(b"PK\x03\x04" + b"x" * (11 << 20), dry=True)
    )
    assert status == 413 and "lớn hơn 10 MB" in page


async def test_knockout_filter_and_funnel_count_documents(core: Core) -> None:
    knockout = next(r.code for r in requirements_for(4, "new") if r.kind == "knockout")
    _, producer = await core.person("p1")
    async with core.session() as s:  # type: ignore[attr-defined]
        full = await dossiers.register_dossier(s, core.ctx, producer, registration(name="Đủ"))
        await attach_all(s, core, producer, full)
        short = await dossiers.register_dossier(s, core.ctx, producer, registration(name="Thiếu"))
        await attach_all(s, core, producer, short, skip=frozenset({knockout}))
        await dossiers.register_dossier(s, core.ctx, producer, registration(name="Mới"))
    _, officer = await core.person("xa", "commune", commune=BINH_LU)
    async with core.session() as s:  # type: ignore[attr-defined]
        page = await desk.list_dossiers(s, core.ctx, officer, DossierFilter(missing_knockout=True))
        ov = await desk.overview(s, core.ctx, officer)
    assert sorted(r.product_name for r in page.rows) == ["Mới", "Thiếu"]
    assert dict(ov.funnel)["registered"] == 3 and dict(ov.funnel)["documents_complete"] == 1
    assert ov.by_commune == [(BINH_LU, "Xã Bình Lư", 3)]


async def test_targets_against_the_plan_for_ninh_binh_staff(
    site: Site, http: aiohttp.ClientSession
) -> None:
    """Hà Nam's 2024 plan (a former province, now Ninh Bình): products imported with their old
    addresses count towards its "25–30 new 3★ products" target."""
    from ocop_core.authz import Actor
    from ocop_core.db import transaction
    from ocop_core.excel import products_import
    from tests.desk_helpers import officer
    from tests.test_desk_excel import product, sheet

    rows = [
        product(
            n,
            address="xã Nhân Thịnh, huyện Lý Nhân, tỉnh Hà Nam",
            province=None,
            issued=date(2024, 11, 20),
        )
        for n in range(1, 4)
    ]
    async with transaction(site.sessions) as s:  # type: ignore[arg-type]
        report = await products_import.import_products(s, site.ctx, Actor.system(), sheet(rows))
        assert report.ok
    staff = await officer(site.sessions, site.ctx, "Cán bộ Ninh Bình", "province", "13609")  # type: ignore[arg-type]
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(staff))
    status, page, _ = await v.get("/desk/targets")
    assert status == 200
    assert "Thêm 25 - 30 sản phẩm được đánh giá, phân hạng 3 sao trở lên" in page
    row = re.search(r"Thêm 25 - 30 sản phẩm.*?</tr>", page, re.S)
    assert row and "<td>25–30</td>" in row.group(0) and "<td>3</td>" in row.group(0)
    assert "Còn thiếu 22" in row.group(0)
    assert "Không đếm tự động được" in page  # the plan's "manual" target
    async with http.get(
        f"{site.base}/desk/targets.xlsx", headers={"Cookie": f"ocop_desk={v.cookie}"}
    ) as r:
        ws = load_workbook(io.BytesIO(await r.read())).active
    found = [row for row in ws.iter_rows(values_only=True) if row[2] and "25 - 30" in row[2]]
    assert found and found[0][1] == 2024 and found[0][3:7] == (25, 30, "sản phẩm", 3)
    # Lai Châu's staff see Lai Châu's plan, not Hà Nam's.
    v2 = Visitor(http, site.base)
    await v2.sign_in(await site.token(site.world.province_officer))
    page = (await v2.get("/desk/targets"))[1]
    assert "Thêm 25 - 30" not in page


async def test_pdf_documents_preview_inline(site: Site, http: aiohttp.ClientSession) -> None:
    from ocop_core.models import Document
    from tests.transcript import pdf_file

    rel = Path("media") / "pdf" / "mau02.pdf"
    target = site.ctx.data_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pdf_file(2))
    async with transaction(site.sessions) as s:  # type: ignore[arg-type]
        doc = Document(
            dossier_id=site.world.overdue,
            requirement="mau02_self_assessment",
            page=2,
            path=str(rel),
            sha256="f" * 64,
            mime="application/pdf",
            pages=2,
            size_bytes=target.stat().st_size,
        )
        s.add(doc)
        await s.flush()
        doc_id = doc.id
    v = Visitor(http, site.base)
    await v.sign_in(await site.token(site.world.commune_officer))
    page = (await v.get(f"/desk/dossiers/{site.world.overdue}"))[1]
    assert f'href="/desk/documents/{doc_id}"' in page and '<span class="pdf">PDF</span>' in page
    async with http.get(
        f"{site.base}/desk/documents/{doc_id}", headers={"Cookie": f"ocop_desk={v.cookie}"}
    ) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
        assert r.headers["Content-Disposition"].startswith("inline")
        assert (await r.read()).startswith(b"%PDF")
