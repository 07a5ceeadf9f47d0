"""Producer flows as transcripts against the real engine and a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.flows import build_flows
from bot.flows.router import Conversations
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.models import ConversationState, Document, Dossier
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.transcript import ZALO_LIKE, Person, document_photo, pdf_file


@pytest.fixture
async def world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[dict[str, object]]:
    engine = make_engine(sqlite_url)
    clock = FixedClock(vn_time(2026, 9, 1, 9, 0))
    ctx = CoreContext(clock=clock, plans=PlanRegistry(), data_dir=tmp_path / "data")
    sessions = session_factory(engine)
    conv = Conversations(sessions, ctx, build_flows())
    yield {"conv": conv, "sessions": sessions, "ctx": ctx, "engine": engine, "url": sqlite_url}
    await engine.dispose()


def person(world: dict[str, object], name: str = "alice", **kw: object) -> Person:
    return Person(world["conv"], name, **kw)  # type: ignore[arg-type]


async def onboard(p: Person) -> None:
    await p.say("/start")
    assert "Chọn ngôn ngữ" in p.text
    await p.tap("Tiếng Việt")
    assert "Bạn là ai" in p.text
    await p.tap("Chủ thể sản xuất")
    assert "Nghị định 13/2023" in p.text
    await p.tap("Tôi đồng ý")
    await p.share_contact("+84 912 345 678")
    assert "0912345678" in p.text


async def register(p: Person, product: str = "Mật ong bạc hà") -> None:
    """A registration of the idea: who, where, which product, which criteria set."""
    await p.tap("Đăng ký sản phẩm")
    if "Vẫn là cơ sở" in p.text:  # a second product: the producer is known
        await p.tap("Đúng vậy")
    else:
        assert "Chủ thể đăng ký" in p.text
        await p.tap("Hợp tác xã")
        await p.say("HTX Ong mật Bình Lư")
        assert "Xã/phường nơi sản xuất" in p.text
        await p.say("binh lu")  # the province is guessed from the commune
    assert "Tên sản phẩm" in p.text
    await p.say(product)
    if "đúng không" in p.text:  # the criteria set guessed from the product's name
        await p.tap("Đúng")
    else:
        await p.tap("Thực phẩm")
        await p.tap("Mật ong")
    await p.tap("Lần đầu")
    assert "Kiểm tra lại thông tin" in p.text
    await p.tap("Xác nhận")


async def fill_details(p: Person) -> None:
    """The rest of Mẫu 01, in one sitting from the checklist."""
    await p.tap("Thông tin Mẫu 01")
    await p.say("Lò Văn A")
    await p.tap("Bỏ qua")
    await p.say("Mật ong hoa bạc hà lấy từ đàn ong nuôi trên núi đá.")
    await p.tap("Trên 75%")
    await p.say("12")
    await p.tap("truyền thống")
    await p.say("Nghề nuôi ong của người Giáy")
    await p.tap("Trong tỉnh")
    await p.tap("Bao bì")
    assert "Đã lưu thông tin Mẫu 01" in p.text


async def test_full_registration_in_at_most_10_messages(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    before = p.sent
    await register(p)
    assert p.sent - before <= 10
    assert "Mã hồ sơ của bạn: 1226-" in p.text
    assert "Hạn tiếp theo: 09/10/2026" in p.text  # national calendar: file before round 2
    assert "Hồ sơ được xét trong đợt 2 năm 2026, theo Quyết định 26/2026/QĐ-TTg" in p.text
    assert any("Gửi giấy tờ" in c for c in p.choices)
    assert len(p.last) == 1  # one message: the result and what to do next
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        dossier = (await s.exec(select(Dossier))).one()
    assert dossier.criteria_set == 4 and dossier.commune_code == "03390"
    await p.tap("Gửi giấy tờ")
    await fill_details(p)
    assert "✅ Thông tin Mẫu 01" in " ".join(p.choices)  # back at the checklist
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        dossier = (await s.exec(select(Dossier))).one()
    assert dossier.details["workers"] == 12 and dossier.details["local_share"] == "over_75"


async def test_restart_in_the_middle_continues(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Hộ sản xuất")
    await p.say("Hộ bà Lò Thị B")
    # The process restarts: a new engine and router on the same database file.
    engine = make_engine(world["url"])  # type: ignore[arg-type]
    fresh = Conversations(session_factory(engine), world["ctx"], build_flows())  # type: ignore[arg-type]
    again = Person(fresh, "alice")
    await again.say("binh lu")
    assert "Tên sản phẩm" in again.text  # the next question, not the first one
    await engine.dispose()


async def test_edit_from_summary_and_cancel(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await register_until_summary(p)
    await p.tap("Sửa")
    await p.tap("Tên sản phẩm")
    await p.say("Mật ong rừng")
    assert "Kiểm tra lại thông tin" in p.text and "Mật ong rừng" in p.text
    await p.say("/huy")
    assert "Đã hủy" in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        assert (await s.exec(select(func.count()).select_from(Dossier))).one() == 0


async def register_until_summary(p: Person) -> None:
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Hợp tác xã")
    await p.say("HTX Chè Tân Phong")
    await p.say("lai chau")  # the province first
    await p.say("tan phong")
    await p.say("Chè shan tuyết")
    await p.say("chon nhom khac")  # not the guessed group: by sector
    await p.say("thuc pham")  # a label without accents counts as a tap
    assert "Xem thêm" in " ".join(p.choices)  # 13 sets: paged on a phone
    await p.say("che tuoi")  # typed words search the whole list, not only the page shown
    await p.tap("Lần đầu")


@pytest.mark.parametrize(
    ("step_answers", "bad", "complaint"),
    [
        ([], "", "gõ câu trả lời"),
        ([], "x" * 10_000, "dài quá"),
        ([], "😀😀😀", "không chỉ biểu tượng"),
        (["HTX A"], "zzzz", "Không tìm thấy xã"),
        (["HTX A"], "xa tan", "Hãy gõ thêm tên tỉnh"),
    ],
)
async def test_wrong_answers_are_reasked(
    world: dict[str, object], step_answers: list[str], bad: str, complaint: str
) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Hợp tác xã")
    for answer in step_answers:
        if answer == "/skip":
            await p.tap("Bỏ qua")
        else:
            await p.say(answer)
    question = p.last[-1].text
    await p.say(bad)
    assert complaint in p.text
    assert p.last[-1].text.endswith(question.splitlines()[-1])  # the same question again


@pytest.mark.parametrize(
    "product",
    [
        "Rượu <b>ngô</b> & mật'); DROP TABLE dossier;--",
        "*Chè* _shan_ [tuyết](http://x) `code`",
    ],
)
async def test_html_markdown_and_sql_looking_text_is_kept_as_text(
    world: dict[str, object], product: str
) -> None:
    p = person(world)
    await onboard(p)
    await register(p, product=product)
    assert product in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        d = (await s.exec(select(Dossier))).one()
    assert d.product_name == product


async def test_every_step_reasks_a_wrong_choice(world: dict[str, object]) -> None:
    """At each choice step, typing something that is not an option re-asks that step."""
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    for _ in range(2):
        await p.say("99")
        assert "Hãy chọn một trong các lựa chọn" in p.text
    await p.tap("Hộ sản xuất")
    assert "Tên chủ thể" in p.text


async def test_album_of_five_photos_is_one_answer(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    assert "0/" in p.text and "⛔" in p.text  # the knock-out document is flagged
    await p.tap("Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm")
    replies = await p.send_files(*[document_photo(i) for i in range(5)])
    assert len(replies) == 1
    assert "Đã nhận 5 trang" in p.text and "Giấy tờ bắt buộc: 1/" in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        docs = (await s.exec(select(Document))).all()
    assert len(docs) == 5 and {d.page for d in docs} == {1, 2, 3, 4, 5}
    for d in docs:
        assert (world["ctx"].data_dir / d.path).exists()  # type: ignore[attr-defined]


async def test_blurry_photo_refused_with_hint(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    await p.tap("Phiếu đăng ký")
    await p.send_files(document_photo(1, blur=8))
    assert "Ảnh bị mờ" in p.text and "giữ chắc tay" in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        assert (await s.exec(select(func.count()).select_from(Document))).one() == 0


@pytest.mark.parametrize(
    ("blob", "name", "complaint"),
    [
        (b"", "empty.jpg", "trống"),
        (b"hello, this is text pretending to be a photo\n" * 20, "photo.jpg", "văn bản"),
        (b"\xff\xd8\xff" + b"\0" * (30 * 1024 * 1024), "huge.jpg", "MB"),
    ],
)
async def test_bad_files_get_a_reason(
    world: dict[str, object], blob: bytes, name: str, complaint: str
) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    await p.tap("Phiếu đăng ký")
    await p.send_files(blob, names=[name])
    assert "chưa nhận được" in p.text and complaint.lower() in p.text.lower()


async def test_pdf_view_and_replace(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    await p.tap("Phiếu đăng ký")
    await p.send_files(pdf_file(2), names=["mau01.pdf"])
    assert "Đã nhận 2 trang" in p.text  # pages, not files
    await p.tap("Xem")
    files = [f for r in p.last for f in r.files]
    assert files and files[0].path.read_bytes().startswith(b"%PDF")
    await p.tap("Thay thế")
    await p.send_files(document_photo(3))
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        current = (await s.exec(select(Document).where(Document.replaced == False))).all()  # noqa: E712
    assert len(current) == 1 and current[0].mime == "image/jpeg"


async def test_status_by_code_free_text_and_deadlines(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    code = p.text.split("Mã hồ sơ của bạn: ")[1].split(" ")[0]
    await p.say(f"/trangthai {code.lower().replace('-', '')}")
    assert f"Hồ sơ {code}" in p.text and "Còn thiếu" in p.text and "Người xử lý tiếp" in p.text
    await p.say("hồ sơ của tôi đến đâu rồi")
    assert f"Hồ sơ {code}" in p.text
    await p.say("ho so cua toi")
    assert f"Hồ sơ {code}" in p.text
    await p.say("/lich")
    assert "09/10/2026" in p.text
    stranger = person(world, "mallory")
    await onboard(stranger)
    await stranger.say(f"/trangthai {code}")
    assert "Không tìm thấy hồ sơ" in stranger.text


async def test_old_buttons_and_unknown_commands(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    old = p.last[-1]
    await p.tap("Hộ sản xuất")
    await p.press(old.choices[1].id, old.token)  # a button from the earlier message
    assert "tin nhắn cũ" in p.text and "Tên chủ thể" in p.text
    await p.say("/frobnicate")
    assert "Không có lệnh đó" in p.text
    await p.sticker()
    assert "nhãn dán" in p.text


async def test_language_is_per_person(world: dict[str, object]) -> None:
    vi = person(world, "an")
    en = person(world, "bob")
    await vi.say("/start")
    await en.say("/start")
    await en.tap("English")
    await vi.tap("Tiếng Việt")
    assert "Who are you" in en.text and "Bạn là ai" in vi.text
    await en.say("/language")
    await en.tap("Tiếng Việt")
    # The same step again, now in Vietnamese, with nothing of the English left.
    assert "Bạn là ai" in en.text and "Who are you" not in en.text


async def test_back_goes_to_previous_question(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Hộ sản xuất")
    await p.tap("Quay lại")
    assert "Chủ thể đăng ký là loại nào" in p.text


async def test_zalo_like_channel_numbers_and_photos_only(world: dict[str, object]) -> None:
    p = person(world, "zed", caps=ZALO_LIKE, channel="zalo")
    await p.say("/start")
    await p.say("1")  # Tiếng Việt
    await p.say("chu the san xuat")
    await p.say("1")
    assert "Gõ số điện thoại" in p.text
    await p.say("09123")
    assert "không phải số di động" in p.text
    await p.say("0912 345 678")
    assert "0912345678" in p.text


async def test_state_versions_advance(world: dict[str, object]) -> None:
    p = person(world)
    await onboard(p)
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        state = (await s.exec(select(ConversationState))).one()
    assert state.version == p.sent


async def test_a_wrong_answer_at_every_registration_step(world: dict[str, object]) -> None:
    """Before each right answer, a wrong one: the step says what is wrong and asks again,
    and nothing moves on — in the registration and in the Mẫu 01 sitting."""
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    script: list[tuple[str, str, str]] = [
        # (wrong answer, expected complaint, right answer as "tap:label" or text)
        ("99", "Hãy chọn một trong các lựa chọn", "tap:Hợp tác xã"),
        ("   ", "gõ câu trả lời", "HTX Ong mật Bình Lư"),
        ("qqqqq", "Không tìm thấy xã", "tan"),  # too many: narrowed by the province
        ("77", "Không tìm thấy xã", "binh lu lai chau"),
        ("x" * 300, "dài quá", "Mật ong bạc hà"),
        ("42", "Hãy chọn một trong các lựa chọn", "tap:Đúng"),
        ("9", "Hãy chọn một trong các lựa chọn", "tap:Nâng hạng"),
        ("", "gõ câu trả lời", "12/2021/QĐ-UBND"),
        ("31/02/2022", "Ngày chưa đúng", "15/03/2022"),
        ("9", "Hãy chọn một trong các lựa chọn", "tap:Xác nhận"),
        ("", "", "tap:Gửi giấy tờ"),  # the menu, not a step
        ("", "", "tap:Thông tin Mẫu 01"),
        ("🐝🐝", "không chỉ biểu tượng", "Lò Văn A"),
        ("ab@cd!", "Số đăng ký kinh doanh chỉ gồm", "tap:Bỏ qua"),
        ("***", "không chỉ biểu tượng", "Mật ong hoa bạc hà."),
        ("hmm", "Hãy chọn một trong các lựa chọn", "tap:Trên 75%"),
        ("mười hai", "gõ số người bằng chữ số", "12"),
        ("0", "Hãy chọn một trong các lựa chọn", "tap:truyền thống"),
        ("!!!", "không chỉ biểu tượng", "tap:Bỏ qua"),
        ("9", "Hãy chọn một trong các lựa chọn", "tap:Trong tỉnh"),
        ("9", "Hãy chọn một trong các lựa chọn", "tap:Bao bì"),
    ]
    for wrong, complaint, right in script:
        if wrong or complaint:
            question = p.last[-1].text.splitlines()[-1]
            await p.say(wrong)
            assert complaint in p.text, (wrong, p.text)
            if wrong != "qqqqq" and right != "binh lu lai chau":
                assert p.last[-1].text.splitlines()[-1] == question  # the same question again
        if right.startswith("tap:"):
            await p.tap(right[4:])
        else:
            await p.say(right)
        if right == "tan":
            assert "Hãy gõ thêm tên tỉnh" in p.text
    assert "Đã lưu thông tin Mẫu 01" in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        d = (await s.exec(select(Dossier))).one()
    assert (d.attempt, d.previous_certificate_number) == ("upgrade", "12/2021/QĐ-UBND")
    assert d.details["workers"] == 12 and d.details["representative"] == "Lò Văn A"
