"""Transcripts of a conversation that never traps a person: questions at any step, options
matched by any of their words, one numbered list per screen."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.flows.types import Incoming, Kind
from bot.handlers import zalo as zalo_handler
from bot.handlers.rendering import screen
from ocop_core.db import transaction
from ocop_core.models import Account, ConversationState, Document, Dossier, Outbox, Role
from tests.factories import BINH_LU
from tests.officer_helpers import invite_code, submitted_dossier
from tests.test_flows import onboard, person, register
from tests.test_flows import world as world
from tests.test_officer_flows import officer, run_check
from tests.transcript import Person, document_photo, pdf_file

World = dict[str, object]


def zalo_person(w: World, name: str = "zed") -> Person:
    return person(w, name, caps=zalo_handler.CAPS, channel="zalo")


def shown(p: Person) -> str:
    """The last answer as the person reads it on their channel."""
    return "\n".join(screen(r, "vi", buttons=p.caps.buttons) for r in p.last)


async def test_questions_inside_a_step_are_answered_and_the_step_resumes(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Cơ sở khác")
    await p.tap("Hộ sản xuất")
    question = p.last[-1].text
    for typed, answer in [
        ("ho so cua toi", "Hồ sơ 1226-"),
        ("hồ sơ của tôi đến đâu rồi?", "Hồ sơ 1226-"),
        ("han chot", "09/10/2026"),
        ("còn thiếu giấy tờ gì?", "Giấy tờ còn thiếu"),
        ("gửi pdf", "gửi ảnh hoặc tệp PDF"),
        ("tro giup", "/dangky"),
    ]:
        await p.say(typed)
        assert answer in p.text, (typed, p.text)
        assert "Hãy chọn một trong các lựa chọn" not in p.text
        assert "Tiếp tục bước đang dở" in p.text and p.last[-1].text.endswith(question)
    await p.say("Hộ bà Lò Thị B")  # the step goes on where it was
    assert "Xã/phường nơi sản xuất" in p.text


async def test_two_unusable_answers_say_how_to_leave(world: World) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.say("99")
    assert "«menu»" not in p.text
    await p.say("98")
    assert "«menu»" in p.text and "trợ giúp" in p.text


async def test_dong_y_is_consent_and_words_anywhere_in_a_label_match(world: World) -> None:
    p = zalo_person(world)
    await p.say("/start")
    await p.say("tieng viet")
    await p.say("san xuat")
    assert "Nghị định 13/2023" in p.text
    await p.say("dong y")  # "Tôi đồng ý", not "Tôi không đồng ý"
    assert "số điện thoại" in p.text


async def test_an_ambiguous_word_is_asked_back_with_both_options(world: World) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.say("hop tac")  # "Tổ hợp tác" or "Hợp tác xã"?
    assert "hay" in p.text and "«" in p.text
    assert "Chủ thể đăng ký là loại nào" in p.text  # the same question again


async def test_on_zalo_1_after_a_status_message_opens_its_action(world: World) -> None:
    p = zalo_person(world)
    await onboard_zalo(p)
    await register(p)
    await p.say("ho so cua toi")
    screen_text = shown(p)
    assert screen_text.count("\n1. ") == 1  # one numbered list on the screen
    await p.say("1")
    assert "Giấy tờ bắt buộc" in p.text or "0/" in p.text  # the documents checklist
    assert "Chủ thể đăng ký" not in p.text  # not a new registration


async def onboard_zalo(p: Person) -> None:
    await p.say("/start")
    await p.say("1")
    await p.say("1")
    await p.say("1")
    await p.say("0912 345 678")
    assert "0912345678" in p.text


async def test_a_two_page_pdf_is_two_pages(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    await p.tap("Phiếu đăng ký")
    await p.send_files(pdf_file(2), names=["mau01.pdf"])
    assert "Đã nhận 2 trang" in p.text


async def test_a_file_sent_before_choosing_its_document_is_kept(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.send_files(document_photo(1), document_photo(2))  # from the menu, nothing chosen
    assert "Đã giữ 2 trang" in p.text and "giấy tờ nào" in p.text
    await p.tap("Phiếu đăng ký")
    assert "Đã nhận 2 trang cho «Phiếu đăng ký" in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        docs = (await s.exec(select(Document))).all()
    assert {d.requirement for d in docs} == {"mau01_registration"} and len(docs) == 2


async def test_a_file_in_the_checklist_is_kept_too(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    await p.send_files(pdf_file(2), names=["scan.pdf"])
    assert "Đã giữ 2 trang" in p.text
    await p.say("phieu dang ky")
    assert "Đã nhận 2 trang" in p.text


async def test_files_without_any_dossier_get_one_answer_and_nothing_stored(world: World) -> None:
    """Nothing to keep them for: one clear answer (register first), no orphan pages on disk."""
    p = person(world)
    await onboard(p)
    await p.send_files(document_photo(1), document_photo(2), document_photo(3))
    assert len(p.last) == 1 and "chưa có hồ sơ nào" in p.text and "/dangky" in p.text
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        assert not (await s.exec(select(Document))).all()
    await p.tap("Đăng ký sản phẩm")  # the menu still works
    assert "Chủ thể đăng ký" in p.text


async def test_someone_elses_contact_card_is_not_taken(world: World) -> None:
    p = person(world)
    await p.say("/start")
    await p.tap("Tiếng Việt")
    await p.tap("Chủ thể sản xuất")
    await p.tap("Tôi đồng ý")
    await p.send(Incoming(kind=Kind.CONTACT, phone=None, **p._base()))  # another person's card
    assert "danh thiếp của người khác" in p.text
    await p.share_contact("+84 912 345 678")
    assert "0912345678" in p.text


async def test_a_sticker_gets_a_friendly_word_not_an_upload_link(world: World) -> None:
    p = zalo_person(world)
    await onboard_zalo(p)
    await register(p)
    await p.tap("Gửi giấy tờ")
    await p.tap("Phiếu đăng ký")
    await p.send(Incoming(kind=Kind.UNSUPPORTED, media="sticker", **p._base()))
    assert "chỉ nhận chữ, ảnh hoặc tệp PDF" in p.text
    assert not any(r.upload for r in p.last)
    await p.say("gửi pdf")  # an upload link, on request
    assert any(r.upload for r in p.last)


async def _outbox_texts(w: World) -> dict[int, list[str]]:
    async with transaction(w["sessions"]) as s:  # type: ignore[arg-type]
        rows = (await s.exec(select(Outbox))).all()
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row.account_id, []).append(str(row.payload.get("text")))
    return found


async def _ready_to_submit(w: World) -> Person:
    await submitted_dossier(w["sessions"], w["ctx"], user="pat", product="Chè", submit=False)  # type: ignore[arg-type]
    p = person(w, "pat")
    await p.say("/giayto")
    await p.tap("Nộp hồ sơ cho xã")
    return p


async def test_submit_confirms_and_notifies_the_joined_officer(world: World) -> None:
    olga = await officer(world, "olga")
    p = await _ready_to_submit(world)
    assert "Sẽ gửi:" in p.text and "Người nhận: cán bộ xã olga" in p.text
    await p.tap("📨 Nộp")
    assert "Đã báo cán bộ xã olga" in p.text
    texts = await _outbox_texts(world)
    olga_id = await _account_id(world, olga.user_id)
    assert any("Hồ sơ mới nộp cho xã" in t for t in texts.get(olga_id, []))


async def test_submit_without_an_officer_tells_the_province(world: World) -> None:
    paul = await officer(world, "paul", role=Role.PROVINCE)
    p = await _ready_to_submit(world)
    assert "Cơ quan OCOP tỉnh sẽ được báo" in p.text
    await p.tap("Chưa nộp")  # changes their mind first: back to the checklist
    assert "Nộp hồ sơ cho xã" in " ".join(p.choices)
    await p.tap("Nộp hồ sơ cho xã")
    await p.tap("📨 Nộp")
    assert "đã báo Cơ quan OCOP tỉnh" in p.text
    texts = await _outbox_texts(world)
    paul_id = await _account_id(world, paul.user_id)
    assert any("chưa có cán bộ dùng bot" in t for t in texts.get(paul_id, []))


async def _account_id(w: World, user: str) -> int:
    async with transaction(w["sessions"]) as s:  # type: ignore[arg-type]
        account = (await s.exec(select(Account).where(Account.platform_user_id == user))).one()
    return account.id or 0


async def test_canbo_code_as_the_very_first_message(world: World) -> None:
    code = await invite_code(world["sessions"], world["ctx"], BINH_LU)  # type: ignore[arg-type]
    o = person(world, "lan")
    await o.say(f"/canbo {code}")  # never talked to the bot before
    assert "Chọn ngôn ngữ" in o.text
    await o.tap("Tiếng Việt")
    assert "Nghị định 13/2023" in o.text  # no "producer or officer?" question: the code says it
    await o.tap("Tôi đồng ý")
    await o.share_contact("0912345679")
    assert "Bạn đã là cán bộ OCOP" in o.text  # the code was kept all along
    assert not any("Đăng ký sản phẩm" in c for c in o.choices)  # not asked to be a producer


async def test_officer_opens_by_code_and_reads_the_card(world: World) -> None:
    seeded = await submitted_dossier(world["sessions"], world["ctx"], user="pat", product="Chè")  # type: ignore[arg-type]
    o = await officer(world, "olga")
    await o.say(f"/xa {seeded.code}")
    assert f"Hồ sơ {seeded.code}" in o.text or seeded.code in o.text
    assert "Tại chỗ: nguyên liệu" in o.text  # the producer's local answers on the card
    await run_check(o, met=(True, True, True, True))
    assert any("📤 Chuyển lên Cơ quan OCOP tỉnh" in c for c in o.choices)


async def test_lich_is_sorted_and_grouped_by_milestone(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p, "Mật ong")
    await register(p, "Chè")
    await p.say("/lich")
    lines = p.text.splitlines()
    groups = [line for line in lines if line.startswith("▸")]
    assert len(groups) == 1  # both dossiers wait for the same milestone: one heading
    assert sum("· hồ sơ" in line for line in lines) == 2


async def test_a_second_product_reuses_the_producer(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p, "Mật ong bạc hà")
    before = p.sent
    await p.tap("Đăng ký sản phẩm")
    assert "Vẫn là cơ sở HTX Ong mật Bình Lư (Xã Bình Lư, Lai Châu)?" in p.text
    await p.tap("Đúng vậy")
    assert "Tên sản phẩm" in p.text
    await p.say("Chè shan tuyết")
    await p.tap("Đúng")
    await p.tap("Lần đầu")
    await p.tap("Xác nhận")
    assert "Mã hồ sơ của bạn" in p.text and p.sent - before == 6
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        rows = (await s.exec(select(Dossier))).all()
    assert len(rows) == 2 and rows[0].producer_id == rows[1].producer_id


async def test_a_place_name_matching_many_communes_asks_for_the_province(world: World) -> None:
    p = person(world)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Hộ sản xuất")
    await p.say("Hộ bà Lò Thị B")
    await p.say("xa tan")  # dozens of communes: no list of 50
    assert "Hãy gõ thêm tên tỉnh" in p.text and not p.choices[:-1]
    await p.say("tan phong lai chau")
    assert "Tên sản phẩm" in p.text


BAD_INPUT = [
    # (how far to go first, the bad input, what the answer says)
    ("producer_name", "", "gõ câu trả lời"),
    ("producer_name", "😀🎉🌾", "không chỉ biểu tượng"),
    ("producer_name", "x" * 4000, "dài quá"),
    ("kind", "99", "Hãy chọn một trong các lựa chọn"),  # a number out of range
    ("attempt", "Hợp tác xã", "Hãy chọn một trong các lựa chọn"),  # a label from an older list
    ("place", "xa tan", "Hãy gõ thêm tên tỉnh"),  # matches dozens of communes
]


async def _go_to(p: Person, step: str) -> None:
    await p.tap("Đăng ký sản phẩm")
    if step == "kind":
        return
    await p.tap("Hợp tác xã")
    if step == "producer_name":
        return
    await p.say("HTX Ong mật Bình Lư")
    if step == "place":
        return
    await p.say("binh lu")
    await p.say("Mật ong bạc hà")
    await p.tap("Đúng")


@pytest.mark.parametrize("channel", ["telegram", "zalo"])
@pytest.mark.parametrize(("step", "bad", "answer"), BAD_INPUT)
async def test_bad_input_gets_a_short_answer_and_nothing_is_stored(
    world: World, channel: str, step: str, bad: str, answer: str
) -> None:
    p = person(world) if channel == "telegram" else zalo_person(world)
    await (onboard(p) if channel == "telegram" else onboard_zalo(p))
    await _go_to(p, step)
    question = p.last[-1].text.splitlines()[-1]
    await p.say(bad)
    said = shown(p)
    assert answer in said, said
    assert len(said.split(question)[0]) < 300  # short: what is wrong, then the same question
    assert p.last[-1].text.splitlines()[-1] == question
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        state = (await s.exec(select(ConversationState))).all()
        assert not (await s.exec(select(Dossier))).all()
    assert [(st.flow, st.step) for st in state if st.flow] == [("register", step)]


async def test_the_mau01_sitting_is_missing_until_answered(world: World) -> None:
    p = person(world)
    await onboard(p)
    await register(p)
    await p.say("còn thiếu gì")
    assert "Thông tin Mẫu 01" in p.text
    await p.say("/giayto")
    assert not any("Nộp hồ sơ" in c for c in p.choices)  # not before the sitting


async def test_tinh_code_opens_the_dossier_for_province_staff(world: World) -> None:
    seeded = await submitted_dossier(world["sessions"], world["ctx"], user="pat", product="Chè")  # type: ignore[arg-type]
    staff = await officer(world, "paul", role=Role.PROVINCE)
    await staff.say(f"/tinh {seeded.code.lower()}")
    assert seeded.code in staff.text and "Tại chỗ: nguyên liệu" in staff.text
