"""Excel out and in: exports opened with openpyxl match the database; the product list imports
back into an empty database; old addresses land in today's commune; bad sheets, hostile files
and oversized sheets are refused with row numbers and nothing stored."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from datetime import date, datetime
from pathlib import Path

import aiohttp
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func
from sqlmodel import select

from ocop_core.authz import Actor
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.errors import DomainError, Forbidden
from ocop_core.excel import exports, products_import
from ocop_core.i18n import translate
from ocop_core.lifecycle import Stage
from ocop_core.models import Commune, Dossier, DossierEvent, Producer
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext
from tests.conftest import Core, vn_time
from tests.desk_helpers import build_world, cookie_of, serve_desk, sign_in_token

HEADER = [c.header for c in exports.PRODUCT_COLUMNS]


def sheet(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header or HEADER)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def product(n: int, **kw: object) -> list[object]:
    base = {
        "stt": n,
        "name": f"Sản phẩm {n}",
        "producer": f"HTX số {n}",
        "address": "Xã Bình Lư",
        "province": "Lai Châu",
        "set": "4 – Mật ong, mật khác và nông sản thực phẩm khác",
        "points": 72,
        "stars": 4,
        "number": f"{n}/QĐ-UBND",
        "issued": date(2024, 3, 1),
        "expiry": None,
        "code": None,
        "phone": None,
    }
    with_phone = "phone" in kw
    base.update(kw)
    values = list(base.values())
    return values if with_phone else values[:-1]


async def count(core: Core, model: type) -> int:
    async with core.session() as s:  # type: ignore[attr-defined]
        return int((await s.exec(select(func.count()).select_from(model))).one())


async def run_import(core: Core, data: bytes, *, dry_run: bool = False, actor: Actor | None = None):  # type: ignore[no-untyped-def]
    async with core.session() as s:  # type: ignore[attr-defined]
        report = await products_import.import_products(
            s, core.ctx, actor or Actor.system(), data, dry_run=dry_run
        )
        if not report.ok:
            await s.rollback()
        return report


def messages(report: products_import.ImportReport) -> list[tuple[int, str]]:
    return [(e.row, translate(e.key, "vi", **e.params)) for e in report.errors]


# -- export ------------------------------------------------------------------------------------


@pytest.fixture
def empty_db(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "empty.sqlite3"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


async def test_exports_match_the_database_and_import_back_into_an_empty_one(
    sqlite_url: str, empty_db: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 6, 10, 9)), plans=PlanRegistry(), data_dir=tmp_path / "d"
    )
    world = await build_world(sessions, ctx)
    runner, base = await serve_desk(sessions, ctx)
    try:
        token = await sign_in_token(sessions, ctx, world.province_officer)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            async with http.post(f"{base}/desk/signin/{token}", allow_redirects=False) as r:
                cookie = {"Cookie": f"ocop_desk={cookie_of(r.headers)}"}
            async with http.get(f"{base}/desk/products.xlsx", headers=cookie) as r:
                assert r.status == 200 and r.content_type.endswith("spreadsheetml.sheet")
                products = await r.read()
            async with http.get(f"{base}/desk/dossiers.xlsx?sort=code", headers=cookie) as r:
                table = await r.read()
    finally:
        await runner.cleanup()
    async with transaction(sessions) as s:
        cert = await s.get(Dossier, world.certified)
        assert cert is not None
        producer = await s.get(Producer, cert.producer_id)
        all_codes = sorted((await s.exec(select(Dossier.receipt_code))).all())
    await engine.dispose()

    ws = load_workbook(io.BytesIO(products)).active
    assert [c.value for c in ws[1]] == HEADER
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:L2"
    row = [c.value for c in ws[2]]
    assert row[:6] == [
        1,
        "Chè Shan tuyết",
        producer.name if producer else "",
        "Xã Bình Lư",
        "Lai Châu",
        exports.criteria_label(cert.criteria_set),
    ]
    assert row[6] == 76.5 and isinstance(row[6], float) and row[7] == 4
    assert row[8] == "123/QĐ-UBND"
    assert isinstance(row[9], datetime) and row[9].date() == cert.certificate_date
    assert row[10].date() == cert.certificate_expiry == date(2029, 6, 10)
    assert ws.cell(2, 10).number_format == "dd/mm/yyyy" and row[11] == "03390"

    tw = load_workbook(io.BytesIO(table)).active
    assert tw.cell(1, 1).value == "Mã hồ sơ" and tw.max_row == 1 + len(all_codes)
    assert [tw.cell(i, 1).value for i in range(2, tw.max_row + 1)] == all_codes
    stages = {tw.cell(i, 9).value for i in range(2, tw.max_row + 1)}
    assert translate(f"stage.{Stage.CERTIFIED.value}", "vi") in stages

    # The same file into an empty database reproduces the certified product.
    engine2 = make_engine(empty_db)
    sessions2 = session_factory(engine2)
    ctx2 = CoreContext(clock=FixedClock(vn_time(2026, 6, 10, 9)), data_dir=tmp_path / "d2")
    async with transaction(sessions2) as s:
        report = await products_import.import_products(s, ctx2, Actor.system(), products)
        assert report.ok and report.created == 1
    async with transaction(sessions2) as s:
        (copy,) = (await s.exec(select(Dossier))).all()
        copy_producer = await s.get(Producer, copy.producer_id)
    await engine2.dispose()
    assert copy_producer is not None and producer is not None
    assert (copy.product_name, copy_producer.name, copy.commune_code, copy.criteria_set) == (
        cert.product_name,
        producer.name,
        cert.commune_code,
        cert.criteria_set,
    )
    assert (copy.stage, copy.points, copy.stars, copy.certificate_number) == (
        Stage.CERTIFIED,
        cert.points,
        cert.stars,
        cert.certificate_number,
    )
    assert (copy.certificate_date, copy.certificate_expiry) == (
        cert.certificate_date,
        cert.certificate_expiry,
    )
    # The sheet has no filing day: the decision's date stands for it, never the import's day.
    assert copy.filed_on == cert.certificate_date


# -- import ------------------------------------------------------------------------------------


async def test_legacy_addresses_land_in_todays_commune(core: Core) -> None:
    data = sheet(
        [
            product(1, address="xã Nhân Thịnh, huyện Lý Nhân, tỉnh Hà Nam", province=None),
            product(2, address="Xã Nhân Thịnh", province="Hà Nam", number="2/QĐ-UBND"),
            product(3, address="Bình Lư", province="Tỉnh Lai Châu", issued="15/08/2023"),
        ]
    )
    dry = await run_import(core, data, dry_run=True)
    assert dry.ok and [r.commune_code for r in dry.rows] == ["13609", "13609", "03390"]
    assert await count(core, Dossier) == 0  # a dry run stores nothing
    report = await run_import(core, data)
    assert report.ok and report.created == 3
    async with core.session() as s:  # type: ignore[attr-defined]
        rows = (await s.exec(select(Dossier).order_by(Dossier.certificate_number))).all()
        commune = await s.get(Commune, "13609")
        events = (await s.exec(select(DossierEvent))).all()
    assert commune is not None and commune.province_code == "37"  # today's Ninh Bình
    assert {d.commune_code for d in rows} == {"13609", "03390"}
    assert all(d.stage == Stage.CERTIFIED and d.province_code in ("37", "12") for d in rows)
    assert rows[0].certificate_expiry == date(2027, 3, 1)  # 36 months
    assert all(d.filed_on == d.certificate_date for d in rows)  # not the day of the import
    assert {e.action for e in events} == {"import"}


async def test_bad_sheets_are_refused_with_row_numbers_and_nothing_stored(core: Core) -> None:
    core.clock.set(vn_time(2026, 6, 10, 9))
    missing = sheet([product(1)[:-1]], header=HEADER[:5] + HEADER[6:])  # no criteria column
    with pytest.raises(DomainError) as exc:
        await run_import(core, missing)
    assert "Nhóm/bộ tiêu chí" in translate(exc.value.key, "vi", **exc.value.params)
    bad = sheet(
        [
            product(1),
            product(2, set="Bộ 99 không có"),
            product(3, issued=date(2027, 1, 1)),
            product(4, number="1/QĐ-UBND"),
            product(5, stars=2),
            product(6, points=95, stars=3),
            product(7, address="Xã Không Có Thật", province="Lai Châu"),
            product(8),
        ]
    )
    report = await run_import(core, bad)
    got = messages(report)
    assert [r for r, _ in got] == [3, 4, 5, 6, 7, 8]
    assert "bộ tiêu chí" in got[0][1] and "tương lai" in got[1][1]
    assert "trùng với dòng 2" in got[2][1] and "3, 4 hoặc 5" in got[3][1]
    assert "95" in got[4][1] and "Không Có Thật" in got[5][1]
    assert await count(core, Dossier) == 0 and await count(core, Producer) == 0
    # A certificate number already recorded is refused too.
    assert (await run_import(core, sheet([product(1)]))).ok
    again = await run_import(core, sheet([product(9), product(1)]))
    assert messages(again) == [(3, "số quyết định 1/QĐ-UBND đã có trong hệ thống")]
    assert await count(core, Dossier) == 1


async def test_hostile_files_are_refused_before_parsing(core: Core) -> None:
    def refused(data: bytes) -> str:
        with pytest.raises(products_import.SheetRefused) as exc:
            products_import.check_package(data)
        return exc.value.key

    assert refused(b"STT,Ten san pham\n1,x\n") == "desk.import.not_xlsx"
    assert refused(b"PK\x03\x04 not really a zip") == "desk.import.not_xlsx"
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    assert refused(plain.getvalue()) == "desk.import.not_xlsx"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 << 20))
    assert len(bomb.getvalue()) < 1 << 20
    assert refused(bomb.getvalue()) == "desk.import.bomb"
    with pytest.raises(products_import.SheetRefused):
        await run_import(core, bomb.getvalue())


async def test_a_sheet_of_more_than_20000_rows_is_refused_whole(core: Core) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(HEADER)
    for n in range(products_import.MAX_ROWS + 1):  # one row over the limit
        ws.append([n, "x"])
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(products_import.SheetRefused) as exc:
        await run_import(core, out.getvalue())
    assert exc.value.key == "desk.import.too_many_rows"
    assert "20,000" in translate(exc.value.key, "vi", **exc.value.params)
    assert await count(core, Dossier) == 0


async def test_only_provincial_staff_import_and_only_into_their_province(core: Core) -> None:
    _, officer = await core.person("xa", "commune", commune="03390")
    with pytest.raises(Forbidden):
        await run_import(core, sheet([product(1)]), actor=officer)
    _, staff = await core.person("tinh", "province", commune="03390")
    report = await run_import(
        core,
        sheet([product(1), product(2, address="Phường Hoàn Kiếm", province="Hà Nội")]),
        actor=staff,
    )
    assert [r for r, _ in messages(report)] == [3] and "không thuộc tỉnh" in messages(report)[0][1]
    assert re.search("Hoàn Kiếm", messages(report)[0][1])


async def test_a_producer_known_by_phone_gets_the_expiry_reminders(core: Core) -> None:
    from ocop_core.models import Account, Fire
    from ocop_core.reminders.compute import compute_fires

    account, _ = await core.person("hoa")
    async with core.session() as s:  # type: ignore[attr-defined]
        row = await s.get(Account, account.id)
        assert row is not None
        row.phone = "0912345678"
        s.add(row)
    data = sheet(
        [product(1, phone="0912 345 678"), product(2, phone=None)], header=[*HEADER, "Điện thoại"]
    )
    assert (await run_import(core, data)).created == 2
    bad = sheet([product(3, phone="12345")], header=[*HEADER, "Điện thoại"])
    assert "12345" in messages(await run_import(core, bad))[0][1]
    async with core.session() as s:  # type: ignore[attr-defined]
        linked = (await s.exec(select(Producer).where(Producer.account_id == account.id))).all()
        assert [p.name for p in linked] == ["HTX số 1"]
        await compute_fires(s, core.ctx)
        fires = (await s.exec(select(Fire).where(Fire.recipient_id == account.id))).all()
    assert {f.kind for f in fires} == {"expiry"}
    assert {f.payload["moment"] for f in fires} == {"opens", "closes", "expires"}
