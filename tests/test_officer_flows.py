"""Officers on their phones, as transcripts against the real flows and a real database:
joining with an invite, the inbox, the dossier card, every action, and what the producer is told."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader
from sqlmodel import col, select

from bot.flows import build_flows
from bot.flows.router import Conversations
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.errors import InvalidTransition
from ocop_core.lifecycle import Stage
from ocop_core.models import Account, DossierEvent, Fire, Invite, Outbox, Role
from ocop_core.plans import PlanRegistry
from ocop_core.reports import TITLE
from ocop_core.services import dossiers
from ocop_core.services.context import CoreContext
from tests.conftest import _truncate, vn_time
from tests.factories import BINH_LU, TAN_PHONG
from tests.officer_helpers import (
    Seeded,
    dossier,
    invite_code,
    move_to_province,
    officer_actor,
    submitted_dossier,
    withdraw_document,
)
from tests.transcript import ZALO_LIKE, Person

World = dict[str, object]


async def _make_world(url: str, tmp_path: Path) -> World:
    engine = make_engine(url)
    await _truncate(engine)
    clock = FixedClock(vn_time(2026, 9, 1, 9, 0))
    ctx = CoreContext(clock=clock, plans=PlanRegistry(), data_dir=tmp_path / "data")
    sessions = session_factory(engine)
    conv = Conversations(sessions, ctx, build_flows())
    return {"conv": conv, "sessions": sessions, "ctx": ctx, "engine": engine, "clock": clock}


@pytest.fixture
async def world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[World]:
    w = await _make_world(sqlite_url, tmp_path)
    yield w
    await w["engine"].dispose()  # type: ignore[attr-defined]


@pytest.fixture
async def any_world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    """The same on SQLite and, when configured, PostgreSQL (row locks, real concurrency)."""
    w = await _make_world(db_url, tmp_path)
    yield w
    await w["engine"].dispose()  # type: ignore[attr-defined]


def _s(w: World):  # type: ignore[no-untyped-def]
    return w["sessions"], w["ctx"]


async def seed(w: World, user: str, product: str, **kw: object) -> Seeded:
    sessions, ctx = _s(w)
    return await submitted_dossier(sessions, ctx, user=user, product=product, **kw)  # type: ignore[arg-type]


async def officer(
    w: World,
    name: str,
    *,
    commune: str = BINH_LU,
    role: str = Role.COMMUNE,
    caps: object = None,
    channel: str = "telegram",
) -> Person:
    """A person who onboards as an officer and joins with an invite code in chat."""
    sessions, ctx = _s(w)
    code = await invite_code(sessions, ctx, commune, role)
    p = Person(w["conv"], name, channel=channel)  # type: ignore[arg-type]
    if caps is not None:
        p.caps = caps  # type: ignore[assignment]
    await p.say("/start")
    await p.say("1") if caps is not None else await p.tap("Tiếng Việt")
    if caps is not None:
        await p.say("2")
        assert "/canbo" in p.text  # officers are told how to join
        await p.say("1")
        await p.say("0912345679")
    else:
        await p.tap("Cán bộ xã")
        assert "/canbo" in p.text
        await p.tap("Tôi đồng ý")
        await p.share_contact("0912345679")
    await p.say(f"/canbo {code.lower().replace('-', ' ')}")  # typed loosely on a phone
    assert "Bạn đã là cán bộ OCOP" in p.text, p.text
    return p


def files_of(p: Person) -> list[Path]:
    return [f.path for r in p.last for f in r.files]


async def outbox_rows(w: World) -> list[Outbox]:
    async with transaction(w["sessions"]) as s:  # type: ignore[arg-type]
        return list((await s.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def events(w: World, dossier_id: int) -> list[str]:
    async with transaction(w["sessions"]) as s:  # type: ignore[arg-type]
        rows = await s.exec(
            select(DossierEvent.action)
            .where(DossierEvent.dossier_id == dossier_id)
            .order_by(col(DossierEvent.id))
        )
        return list(rows.all())


async def run_check(p: Person, *, met: tuple[bool, bool, bool, bool], note: str = "") -> None:
    await p.tap("Kiểm tra (Mẫu 03)")
    for n, ok in enumerate(met):
        assert f"Tiêu chí {n + 1}/4" in p.text
        await p.tap("✅ Đạt" if ok else "Không đạt")
        if n == 0 and note:
            await p.say(note)
        else:
            await p.tap("Bỏ qua")
    assert "Kết quả 4 tiêu chí" in p.text
    await p.tap("Xác nhận, lập Mẫu 03")


# -- the journey --------------------------------------------------------------------------------


async def test_commune_officer_takes_three_dossiers_to_the_province(world: World) -> None:
    a = await seed(world, "prod-a", "Mật ong bạc hà")
    b = await seed(world, "prod-b", "Chè shan tuyết", locale="en")
    c = await seed(world, "prod-c", "Rượu ngô men lá")
    o = await officer(world, "can-bo-lan")
    assert "Hồ sơ cần xử lý" in o.choices[0]  # the menu now leads with the officer's inbox
    await o.say("/xa")
    assert "🗂 Hồ sơ — Xã Bình Lư" in o.text
    assert "Đã nộp, chờ UBND xã kiểm tra: 3" in o.text
    assert all(x.code in o.text for x in (a, b, c)) and "hạn 23/09/2026" in o.text

    # A: every document one tap away, the commune check with its Mẫu 03, forwarded.
    await o.tap(a.code)
    assert "📁 Hồ sơ" in o.text and "Giấy tờ bắt buộc: 6/6" in o.text
    assert "Hạn xã kiểm tra (15 ngày làm việc): 23/09/2026" in o.text
    await o.tap("Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm")
    pdf = files_of(o)
    assert pdf and pdf[0].read_bytes().startswith(b"%PDF")
    assert "Chạm giấy tờ khác" in o.text  # the card is not repeated after a file
    await run_check(o, met=(True, True, True, True), note="Mua mật của 12 hộ trong xã")
    assert "Đã ghi kết quả kiểm tra" in o.text and "Kiểm tra của xã: đạt 4/4" in o.text
    report = files_of(o)
    assert report and report[0].name.startswith("mau03-")
    await o.tap("📤 Chuyển lên")
    assert "Chuyển hồ sơ" in o.text and "Cơ quan OCOP tỉnh" in o.text
    await o.tap("Xác nhận chuyển")
    assert "Đã chuyển hồ sơ" in o.text and "Chờ Hội đồng cấp tỉnh chấm điểm" in o.text

    # B: something to fix first — ask for it, the producer answers, then check and forward.
    await o.tap("Danh sách")
    await o.tap(b.code)
    await o.tap("Yêu cầu bổ sung")
    await o.tap("Phiếu kết quả kiểm nghiệm")  # tick a document to re-take
    assert "☑ Phiếu kết quả kiểm nghiệm" in o.choices
    await o.tap("Gửi yêu cầu (1)")
    await o.say("Chụp rõ trang 2, ảnh đang bị mờ")
    assert "Đã gửi yêu cầu bổ sung 1 giấy tờ" in o.text
    assert "Đang bổ sung giấy tờ" in o.text
    producer_b = Person(world["conv"], "prod-b")  # type: ignore[arg-type]
    await producer_b.say("/documents")
    await producer_b.tap("Submit")  # the producer resubmits (all blocking documents are there)
    await producer_b.tap("📨 Submit")  # after the confirmation screen
    await o.tap("Danh sách")
    await o.tap(b.code)
    await run_check(o, met=(True, False, True, True))
    assert "đạt 3/4" in o.text
    await o.tap("📤 Chuyển lên")
    await o.tap("Xác nhận chuyển")
    assert "Đã chuyển hồ sơ" in o.text

    # C: opened by typing its code in the inbox.
    await o.tap("Danh sách")
    await o.say(c.code.lower().replace("-", ""))
    await run_check(o, met=(True, True, True, True))
    await o.tap("📤 Chuyển lên")
    await o.tap("Xác nhận chuyển")
    await o.tap("Danh sách")
    assert "Chờ Hội đồng cấp tỉnh chấm điểm: 3" in o.text and "Không có hồ sơ nào ở đây" in o.text

    for x in (a, b, c):
        assert (await dossier(world["sessions"], x.dossier_id)).stage == Stage.AT_PROVINCE  # type: ignore[arg-type]
    assert (await events(world, b.dossier_id))[-4:] == [
        "request_documents",
        "submit",
        "record_commune_check",
        "forward",
    ]
    assert (await events(world, a.dossier_id))[-2:] == ["record_commune_check", "forward"]

    # The producers were told each change, in their own language, once per event.
    rows = await outbox_rows(world)
    by_account: dict[int, list[str]] = {}
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row.payload["text"])
        # producers get "notice:…"; the officer is told of B's resubmission ("submitted:…")
        assert row.idempotency_key.startswith(("notice:", "submitted:"))
    assert len({r.idempotency_key for r in rows}) == len(rows)
    assert sum(r.idempotency_key.startswith("submitted:") for r in rows) == 1
    texts_a = by_account[a.producer_account_id]
    assert any("UBND xã đã tiếp nhận và kiểm tra hồ sơ" in t for t in texts_a)
    assert any("đã được chuyển lên Cơ quan OCOP tỉnh" in t for t in texts_a)
    texts_b = by_account[b.producer_account_id]
    assert any(
        "needs more documents: Lab test report" in t and "blurry" not in t and "Chụp rõ" in t
        for t in texts_b
    ), texts_b
    assert any("has been forwarded to The provincial OCOP office" in t for t in texts_b)
    # ... and a nudge is scheduled for B's request, in the reminders engine's table.
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        fires = (await s.exec(select(Fire))).all()
    assert [(f.kind, f.subject_id, f.recipient_id) for f in fires] == [
        ("missing_documents", b.dossier_id, b.producer_account_id)
    ]
    assert fires[0].scope.startswith("request/")
    assert fires[0].payload["items"] == ["lab_test_report"]


async def test_inbox_pages_filters_and_counts(world: World) -> None:
    sessions, ctx = _s(world)
    seeded = [await seed(world, f"p{i}", f"Sản phẩm {i}") for i in range(6)]
    pending = await seed(world, "p-miss", "Miến dong", skip=frozenset({"samples"}), submit=False)
    o = await officer(world, "lan")
    await o.say("/xa")
    assert "trang 1/2, 6 hồ sơ" in o.text and "Thiếu giấy tờ: 1" in o.text
    first_page = [x.code for x in seeded if x.code in o.text]
    assert len(first_page) == 5
    await o.tap("Trang sau")
    assert "trang 2/2" in o.text and len([x for x in seeded if x.code in o.text]) == 1
    await o.tap("Trang trước")
    assert "trang 1/2" in o.text
    await o.tap("Lọc")
    await o.tap("Thiếu giấy tờ (1)")
    assert pending.code in o.text and "thiếu 1 giấy tờ" in o.text
    assert not any(x.code in o.text for x in seeded)
    await o.tap("Lọc")
    await o.tap("Đang bổ sung giấy tờ: 1")
    assert pending.code in o.text
    await o.tap("Lọc")
    await o.tap("Tất cả hồ sơ đang mở")
    assert "7 hồ sơ" in o.text
    # Type a number that is on no list: asked again, nothing opened.
    await o.say("9")
    assert "Hãy chạm chọn một hồ sơ, hoặc gõ mã hồ sơ" in o.text
    del sessions, ctx


async def test_province_staff_see_by_stage_and_per_commune(world: World) -> None:
    sessions, ctx = _s(world)
    a = await seed(world, "pa", "Mật ong bạc hà")
    b = await seed(world, "pb", "Chè Tân Phong", commune=TAN_PHONG)
    await move_to_province(sessions, ctx, a, BINH_LU)  # type: ignore[arg-type]
    staff = await officer(world, "tinh", role=Role.PROVINCE)
    await staff.say("/tinh")
    assert "Lai Châu" in staff.text and a.code in staff.text and b.code not in staff.text
    await staff.tap("Theo xã")
    assert any("Phường Tân Phong (1)" in c for c in staff.choices), (staff.text, staff.choices)
    await staff.tap("Phường Tân Phong")
    assert "🗂 Hồ sơ — Phường Tân Phong" in staff.text and b.code in staff.text
    assert a.code not in staff.text
    await staff.tap("Lọc")
    await staff.tap("Cả tỉnh")
    assert "Lai Châu" in staff.text


# -- scoring and certificates -------------------------------------------------------------------


async def test_points_stars_forward_and_certificate(world: World) -> None:
    sessions, ctx = _s(world)
    low = await seed(world, "p1", "Mật ong bạc hà")
    high = await seed(world, "p2", "Chè shan tuyết")
    comma = await seed(world, "p3", "Miến dong")
    dot = await seed(world, "p4", "Gạo nếp")
    for x in (low, high, comma, dot):
        await move_to_province(sessions, ctx, x, BINH_LU)  # type: ignore[arg-type]
    staff = await officer(world, "tinh", role=Role.PROVINCE)
    await staff.say(f"/tinh {low.code}")
    await staff.tap("Ghi điểm Hội đồng")
    assert "từ 0 đến 100" in staff.text
    await staff.say("abc")
    assert "«abc» không phải là số điểm" in staff.text and "từ 0 đến 100" in staff.text
    await staff.say("120")
    assert "Điểm phải từ 0 đến 100 (bạn nhập 120)" in staff.text
    await staff.say("89.5")
    assert "89,5 điểm → 4 sao. Xác nhận?" in staff.text  # nothing counts before the officer says so
    await staff.tap("Đúng, ghi điểm")
    assert "Đã ghi 89,5 điểm → 4 sao" in staff.text
    assert "Chưa đủ 90 điểm nên không chuyển lên Bộ" in staff.text
    assert not any("📤 Chuyển lên" in c for c in staff.choices)
    d = await dossier(sessions, low.dossier_id)  # type: ignore[arg-type]
    assert (d.stage, d.stars, d.points) == (Stage.PROVINCE_SCORED, 4, 89.5)
    staff_actor = await officer_actor(sessions, ctx, Role.PROVINCE, BINH_LU)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition) as refused:
        async with transaction(sessions) as s:  # type: ignore[arg-type]
            await dossiers.forward(s, ctx, staff_actor, d)  # type: ignore[arg-type]
    assert refused.value.key == "error.forward_threshold"

    # The certificate: number, date; expiry and the re-evaluation window follow the ruleset.
    await staff.tap("Ghi giấy chứng nhận")
    await staff.say("1234/QĐ-UBND")
    await staff.say("31/02/2026")
    assert "Chưa đúng ngày" in staff.text
    await staff.say("15/12/2026")
    assert "Ngày 15/12/2026 chưa tới" in staff.text  # not issued yet: today is 01/09/2026
    await staff.say("15-08-2026")
    assert "trước ngày nộp hồ sơ (01/09/2026)" in staff.text  # implausible: refused
    await staff.say("01-09-2026")
    assert "Đã ghi giấy chứng nhận số 1234/QĐ-UBND ngày 01/09/2026 (4 sao)" in staff.text
    assert "Hết hạn: 01/09/2029" in staff.text
    expiry = date(2029, 9, 1)
    opens, closes = expiry - timedelta(days=180), expiry - timedelta(days=120)
    assert f"từ {opens:%d/%m/%Y} đến {closes:%d/%m/%Y}" in staff.text
    d = await dossier(sessions, low.dossier_id)  # type: ignore[arg-type]
    assert (d.stage, d.certificate_expiry) == (Stage.CERTIFIED, expiry)

    await staff.tap("Danh sách")
    await staff.say(high.code)
    await staff.tap("Ghi điểm Hội đồng")
    await staff.say("90")
    assert "90 điểm → tiềm năng 5 sao. Xác nhận?" in staff.text  # only the Ministry awards 5★
    await staff.tap("Đúng, ghi điểm")
    assert "Đã ghi 90 điểm → 5 sao" in staff.text and "gửi hồ sơ lên Bộ" in staff.text
    await staff.tap("📤 Chuyển lên")
    assert "Bộ Nông nghiệp và Môi trường" in staff.text
    await staff.tap("Xác nhận chuyển")
    assert (await dossier(sessions, high.dossier_id)).stage == Stage.AT_CENTRAL  # type: ignore[arg-type]

    for x, typed in ((comma, "85,5"), (dot, "85.5")):
        await staff.tap("Danh sách")
        await staff.say(x.code)
        await staff.tap("Ghi điểm Hội đồng")
        await staff.say(typed)
        await staff.tap("Đúng, ghi điểm")
        assert "Đã ghi 85,5 điểm → 4 sao" in staff.text
        assert (await dossier(sessions, x.dossier_id)).points == 85.5  # type: ignore[arg-type]

    texts = [r.payload["text"] for r in await outbox_rows(world)]
    assert any("89,5 điểm → 4 sao" in t for t in texts)  # queued until the result is final
    assert any("được công nhận OCOP 4 sao" in t and "01/09/2029" in t for t in texts)
    assert any("đã được chuyển lên Bộ Nông nghiệp và Môi trường" in t for t in texts)


async def test_low_score_is_not_certified_and_the_producer_is_told(world: World) -> None:
    sessions, ctx = _s(world)
    x = await seed(world, "p1", "Măng khô", locale="en")
    await move_to_province(sessions, ctx, x, BINH_LU)  # type: ignore[arg-type]
    staff = await officer(world, "tinh", role=Role.PROVINCE)
    await staff.say(f"/tinh {x.code}")
    await staff.tap("Ghi điểm Hội đồng")
    await staff.say("45")
    await staff.tap("Đúng, ghi điểm")
    assert "Dưới 50 điểm" in staff.text and "Chưa đạt (dưới 3 sao)" in staff.text
    texts = [r.payload["text"] for r in await outbox_rows(world)]
    assert any("45 points → 2 stars, below 3 stars" in t for t in texts), texts


# -- the Mẫu 03 report ---------------------------------------------------------------------------


async def test_report_pdf_has_vietnamese_text_and_renders(world: World) -> None:
    a = await seed(world, "pa", "Mật ong bạc hà")
    o = await officer(world, "lan")
    await o.say(f"/xa {a.code}")
    await run_check(o, met=(True, False, True, True), note="Nguyên liệu của 12 hộ ở Bình Lư")
    path = files_of(o)[0]
    data = path.read_bytes()
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert TITLE == "BÁO CÁO ĐÁNH GIÁ CỦA UBND XÃ" and TITLE in text
    for expected in (
        "XÃ BÌNH LƯ",
        "Mật ong bạc hà",
        "Nguyên liệu của 12 hộ ở Bình Lư",
        "Không đạt",
    ):
        assert expected in text
    page = pdfium.PdfDocument(data)[0]
    image = page.render(scale=1).to_pil().convert("L")
    assert image.size[0] > 500 and image.size[1] > 700
    dark = sum(image.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 2000  # real glyphs were drawn, not an empty page or tofu boxes only
    # The report stays attached: the card opens the same file again.
    await o.tap("Báo cáo Mẫu 03")
    assert files_of(o)[0] == path


# -- authorisation: an officer of X never reaches a dossier of Y --------------------------------


async def test_officer_cannot_reach_another_communes_dossier_by_any_route(world: World) -> None:
    mine = await seed(world, "pa", "Mật ong bạc hà")
    theirs = await seed(world, "pb", "Chè Tân Phong bí mật", commune=TAN_PHONG)
    o = await officer(world, "lan")
    secret = "Chè Tân Phong bí mật"
    seen: list[str] = []

    async def check(step: object) -> None:
        await step  # type: ignore[misc]
        seen.append(o.text)
        assert secret not in o.text, o.text

    await check(o.say("/xa"))
    assert mine.code in o.text and theirs.code not in o.text
    old_list = o.last[-1]
    await check(o.say(theirs.code))  # typed in the inbox
    assert "Không tìm thấy hồ sơ" in o.text
    await check(o.say(f"/xa {theirs.code}"))  # with the command
    assert "Không tìm thấy hồ sơ" in o.text
    await check(o.say(f"/trangthai {theirs.code}"))  # the producers' status command
    assert "Không tìm thấy hồ sơ" in o.text
    await o.say("/xa")
    token = o.last[-1].token
    await check(o.press(f"d:{theirs.dossier_id}", token))  # forged button, current token
    assert "tin nhắn cũ" in o.text
    await check(o.press("#7", token))  # a forged index
    assert "tin nhắn cũ" in o.text
    await check(o.press(f"open:{theirs.dossier_id}", None))  # the status shortcut
    assert "Không tìm thấy hồ sơ" in o.text
    await check(o.press(f"menu:officer_inbox:{theirs.dossier_id}", None))  # a forged menu item
    assert "Không tìm thấy hồ sơ" in o.text
    await check(o.press("menu:officer_inbox:1 OR 1=1", None))  # garbage in a forged item
    assert "Không tìm thấy hồ sơ" in o.text
    await o.say("/xa")
    await o.tap(mine.code)
    await check(o.press(old_list.choices[0].id, old_list.token))  # a button of an old list
    assert "tin nhắn cũ" in o.text
    await o.tap("Danh sách")
    await check(o.say("9"))  # a number that was never on this officer's list
    assert "Hãy chạm chọn một hồ sơ" in o.text
    await check(o.say("1"))  # numbers count against the current list only: their own dossier
    assert mine.code in o.text
    # ... and nothing happened to the other commune's dossier.
    assert await events(world, theirs.dossier_id) == ["register", "assign_round"] + [
        "add_document"
    ] * 6 + ["submit"]
    assert len(seen) == 12


# -- refusals and races ---------------------------------------------------------------------------


async def test_forward_refused_when_a_knockout_document_is_missing(world: World) -> None:
    a = await seed(world, "pa", "Mật ong bạc hà")
    o = await officer(world, "lan")
    await o.say(f"/xa {a.code}")
    await run_check(o, met=(True, True, True, True))
    # The food-safety certificate turns out forged: it is withdrawn from the dossier.
    await withdraw_document(world["sessions"], a.dossier_id, "food_safety_certificate")  # type: ignore[arg-type]
    await o.tap("📤 Chuyển lên")
    assert "Chưa thể chuyển hồ sơ: còn thiếu 1 giấy tờ" in o.text
    assert "⛔ Thiếu (không có là bị loại): Giấy chứng nhận cơ sở đủ điều kiện" in o.text
    assert (await dossier(world["sessions"], a.dossier_id)).stage == Stage.COMMUNE_CHECKED  # type: ignore[arg-type]
    # Withdrawn between the question and the confirmation: the core refuses, with reasons.
    b = await seed(world, "pb", "Chè shan tuyết")
    await o.say(f"/xa {b.code}")
    await run_check(o, met=(True, True, True, True))
    await o.tap("📤 Chuyển lên")
    await withdraw_document(world["sessions"], b.dossier_id, "food_safety_certificate")  # type: ignore[arg-type]
    await o.tap("Xác nhận chuyển")
    assert "⛔ Thiếu (không có là bị loại)" in o.text
    assert "forward" not in await events(world, b.dossier_id)


async def test_two_officers_at_the_same_moment(any_world: World) -> None:
    w = any_world
    a = await seed(w, "pa", "Mật ong bạc hà")
    lan = await officer(w, "lan")
    minh = await officer(w, "minh")
    for o in (lan, minh):
        await o.say(f"/xa {a.code}")
        await o.tap("Trả lại chủ thể")
    results = await asyncio.gather(lan.say("Thiếu ảnh nhãn"), minh.say("Thiếu bản công bố"))
    texts = ["\n".join(r.text for r in replies) for replies in results]
    won = [t for t in texts if "Đã trả hồ sơ" in t]
    told = [t for t in texts if "vừa được người khác cập nhật" in t]
    assert len(won) == 1 and len(told) == 1, texts
    assert "Đang bổ sung giấy tờ" in told[0]  # the loser sees the fresh card
    assert (await events(w, a.dossier_id)).count("return") == 1
    notices = [r for r in await outbox_rows(w) if r.account_id == a.producer_account_id]
    assert len(notices) == 1 and "được trả lại để hoàn thiện" in notices[0].payload["text"]


async def test_a_stale_card_is_refused_after_someone_else_acted(world: World) -> None:
    a = await seed(world, "pa", "Mật ong bạc hà")
    lan = await officer(world, "lan")
    minh = await officer(world, "minh")
    await lan.say(f"/xa {a.code}")
    await minh.say(f"/xa {a.code}")
    await run_check(lan, met=(True, True, True, True))
    await minh.tap("Loại hồ sơ")  # Minh still looks at the card from before Lan's check
    assert "vừa được người khác cập nhật" in minh.text
    assert "UBND xã đã kiểm tra" in minh.text  # ... and sees the fresh card at once
    # Again, but Lan acts while Minh is typing the reason: refused at the confirmation.
    await minh.tap("Loại hồ sơ")
    await minh.say("Sản phẩm sao chép")
    await lan.tap("📤 Chuyển lên")
    await lan.tap("Xác nhận chuyển")
    await minh.tap("Xác nhận loại")
    assert "vừa được người khác cập nhật" in minh.text
    assert "Chờ Hội đồng cấp tỉnh chấm điểm" in minh.text
    assert "reject" not in await events(world, a.dossier_id)
    assert (await events(world, a.dossier_id))[-2:] == ["record_commune_check", "forward"]


# -- joining ---------------------------------------------------------------------------------------


async def test_invite_codes_expired_used_mistyped_revoked(world: World) -> None:
    sessions, ctx = _s(world)
    clock: FixedClock = world["clock"]  # type: ignore[assignment]
    p = Person(world["conv"], "newcomer")  # type: ignore[arg-type]
    await p.say("/start")
    await p.tap("Tiếng Việt")
    await p.tap("Chủ thể sản xuất")
    await p.tap("Tôi đồng ý")
    await p.share_contact("0912345678")
    await p.say("/xa")  # a producer typing the officers' command
    assert "Lệnh này dành cho cán bộ xã, tỉnh" in p.text and "/canbo" in p.text
    await p.say("/canbo 1234")
    assert "Mã mời không đúng" in p.text
    await p.say("/canbo")
    assert "Gửi mã mời cán bộ" in p.text
    await p.say("ZZZZ-ZZZZ")
    assert "Mã mời không đúng" in p.text and "Gửi mã mời cán bộ" in p.text  # asked again
    await p.say("/huy")
    old = await invite_code(sessions, ctx, days=1)  # type: ignore[arg-type]
    clock.advance(timedelta(days=2))
    await p.say(f"/canbo {old}")
    assert "Mã mời này đã hết hạn ngày" in p.text
    used = await invite_code(sessions, ctx)  # type: ignore[arg-type]
    other = await officer(world, "other")
    await other.say(f"/canbo {used}")
    assert "Bạn đã là cán bộ" in other.text
    await p.say(f"/canbo {used}")
    assert "Mã mời này đã được dùng" in p.text
    await other.say(f"/canbo {used}")
    assert "Bạn đã dùng mã này rồi" in other.text
    async with transaction(sessions) as s:  # type: ignore[arg-type]
        revoked = (await s.exec(select(Invite).where(Invite.used_at == None))).all()  # noqa: E711
        assert revoked
    fresh = await invite_code(sessions, ctx)  # type: ignore[arg-type]
    from ocop_core.authz import Actor
    from ocop_core.services import invites

    async with transaction(sessions) as s:  # type: ignore[arg-type]
        await invites.revoke_invite(s, ctx, Actor.system(), code=fresh)  # type: ignore[arg-type]
    await p.say(f"/canbo {fresh}")
    assert "Mã mời này đã bị thu hồi" in p.text
    async with transaction(sessions) as s:  # type: ignore[arg-type]
        account = (
            await s.exec(select(Account).where(Account.platform_user_id == "newcomer"))
        ).one()
    assert account.role == Role.PRODUCER  # none of it made them an officer
    await p.say("/xa")
    assert "Lệnh này dành cho cán bộ xã, tỉnh" in p.text


# -- Zalo-like capabilities: no buttons, numbered answers -----------------------------------------


def _number(p: Person, label: str) -> str:
    from ocop_core.admin_units import fold

    for n, choice in enumerate(p.choices, start=1):
        if fold(label) in fold(choice):
            return str(n)
    raise AssertionError(f"no option {label!r} in {p.choices}")


async def test_officer_journey_with_numbered_answers(world: World) -> None:
    """The same journey where the channel has no buttons (Zalo): numbers and typed words."""
    a = await seed(world, "pa", "Mật ong bạc hà", channel="zalo")
    o = await officer(world, "zalo-officer", caps=ZALO_LIKE, channel="zalo")
    await o.say("/xa")
    assert any(a.code in c and "hạn 23/09/2026" in c for c in o.choices)  # details in options
    await o.say(_number(o, a.code))
    assert "📁 Hồ sơ" in o.text
    await o.say(_number(o, "Phiếu đăng ký"))
    assert files_of(o)  # the channel turns the file into a signed link
    await o.say(_number(o, "Kiểm tra (Mẫu 03)"))
    for _ in range(4):
        await o.say("1")  # Đạt
        await o.say("bo qua")  # "Bỏ qua" typed without accents
    await o.say("xac nhan")  # the first words of "✅ Xác nhận, lập Mẫu 03", no accents
    assert "Đã ghi kết quả kiểm tra" in o.text and files_of(o)
    await o.say(_number(o, "📤 Chuyển lên"))
    await o.say("1")
    assert "Đã chuyển hồ sơ" in o.text
    assert (await dossier(world["sessions"], a.dossier_id)).stage == Stage.AT_PROVINCE  # type: ignore[arg-type]


async def test_score_is_confirmed_correctable_for_24_hours_and_told_once_final(
    world: World,
) -> None:
    """A provincial officer mistypes, is asked to confirm, corrects within the window; the
    producer hears only the final result, with *tiềm năng* where the stars are potential."""
    sessions, ctx = _s(world)
    clock: FixedClock = world["clock"]  # type: ignore[assignment]
    x = await seed(world, "p1", "Chè shan tuyết")
    y = await seed(world, "p2", "Mật ong bạc hà")
    for s in (x, y):
        await move_to_province(sessions, ctx, s, BINH_LU)  # type: ignore[arg-type]
    staff = await officer(world, "tinh", role=Role.PROVINCE)
    await staff.say(f"/tinh {x.code}")
    await staff.tap("Ghi điểm Hội đồng")
    await staff.say("92,5.0")  # a comma and a point: asked back, not guessed
    assert "có cả dấu phẩy và dấu chấm" in staff.text
    await staff.say("9,25")  # meant 92,5
    assert "9,25 điểm → 1 sao. Xác nhận?" in staff.text
    await staff.say("hồ sơ của tôi")  # a question in between: answered, then the same question
    assert "Tiếp tục bước đang dở" in staff.text and "9,25 điểm → 1 sao. Xác nhận?" in staff.text
    await staff.tap("Gõ lại")
    await staff.say("92,5")
    assert "92,5 điểm → tiềm năng 5 sao. Xác nhận?" in staff.text
    await staff.tap("Đúng, ghi điểm")
    assert "Đã ghi 92,5 điểm → 5 sao" in staff.text and "sửa điểm trong 24 giờ" in staff.text
    assert (await dossier(sessions, x.dossier_id)).stage == Stage.PROVINCE_SCORED  # type: ignore[arg-type]
    # The council sheet said 82,5: corrected three hours later, by the same level.
    clock.advance(timedelta(hours=3))
    await staff.say(f"/tinh {x.code}")
    await staff.tap("Sửa điểm")
    await staff.say("82,5")
    assert "82,5 điểm → 4 sao. Xác nhận?" in staff.text  # the province awards 4★ itself
    await staff.tap("Đúng, ghi điểm")
    d = await dossier(sessions, x.dossier_id)  # type: ignore[arg-type]
    assert (d.stage, d.points, d.stars) == (Stage.PROVINCE_SCORED, 82.5, 4)
    # The other dossier: 91 points, kept. Only the Ministry awards 5★: "tiềm năng" for the producer.
    await staff.tap("Danh sách")
    await staff.say(y.code)
    await staff.tap("Ghi điểm Hội đồng")
    await staff.say("91")
    await staff.tap("Đúng, ghi điểm")
    results = [r for r in await outbox_rows(world) if r.idempotency_key.startswith("result:")]
    assert [r.payload["text"].split(": ", 1)[1].split(".")[0] for r in results] == [
        "82,5 điểm → 4 sao",
        "91 điểm → tiềm năng 5 sao",
    ]
    # Held back until the 24 hours are over: the producer never sees 92,5.
    first = vn_time(2026, 9, 1, 9, 0)
    assert all(r.next_attempt_at > first + timedelta(hours=23) for r in results)
    # After 24 hours the score is final: no more correction.
    clock.advance(timedelta(hours=22))
    await staff.say(f"/tinh {x.code}")
    assert not any("Sửa điểm" in c for c in staff.choices)
