"""The Zalo adapter's parts: update parsing, message splitting, signed links, single-use markers,
the flows' upload offer on a photos-only channel, and rendering against the fake Zalo server."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from bot.flows import build_flows
from bot.flows.router import Conversations, Result
from bot.flows.types import Choice, FileOut, Reply, UploadSlot
from bot.handlers.links import LinkError, LinkSigner, link_secret
from bot.handlers.upload_page import LinkRoutes
from bot.handlers.zalo import CAPS, BadUpdate, ZaloChannel, parse_update
from bot.handlers.zalo_send import split_message
from bot.outbox.delivery import DeliveryChannel, OutboxDelivery, Outcome
from bot.outbox.scheduler import delivery_channels
from bot.settings import Settings
from ocop_core.clock import VN_TZ, FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.plans import PlanRegistry
from ocop_core.services import accounts, outbox
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.fakes.zalo_api import FakeZaloServer
from tests.transcript import ZALO_LIKE, Person

UPDATE = {
    "event_name": "message.text.received",
    "message": {
        "message_id": "9f1c0a7b3e2d4c5b6a70",
        "date": 1790000000123,
        "from": {"id": "a1b2c3d4e5f60718293a", "display_name": "Lan", "is_bot": False},
        "chat": {"id": "a1b2c3d4e5f60718293a", "chat_type": "PRIVATE"},
        "text": "Xin chào",
    },
}


# -- parsing ------------------------------------------------------------------------------------


def test_wrapped_and_flat_bodies_are_the_same_update() -> None:
    flat = parse_update(UPDATE)
    wrapped = parse_update({"ok": True, "result": UPDATE})
    assert flat == wrapped and flat is not None
    assert (flat.chat_id, flat.user_id, flat.text) == (
        "a1b2c3d4e5f60718293a",
        "a1b2c3d4e5f60718293a",
        "Xin chào",
    )


def test_decomposed_vietnamese_is_normalised() -> None:
    body = {**UPDATE, "message": {**UPDATE["message"], "text": "Xin chào".replace("à", "a\u0300")}}
    parsed = parse_update(body)
    assert parsed is not None and parsed.text == "Xin chào"


def test_photo_under_either_name() -> None:
    for key in ("photo_url", "photo"):
        message = {**UPDATE["message"], key: "https://x/p.jpg", "caption": "trang 1"}
        message.pop("text")
        parsed = parse_update({"event_name": "message.image.received", "message": message})
        assert parsed is not None and parsed.photo_url == "https://x/p.jpg"
        assert parsed.text == "trang 1"


def test_unknown_events_are_ignored_and_bad_shapes_refused() -> None:
    assert parse_update({"event_name": "message.reaction.received"}) is None
    bad: list[Any] = [
        [],
        "x",
        {"ok": True, "result": []},
        {"message": {}},
        {"event_name": 5},
        {"event_name": "message.text.received"},
        {"event_name": "message.text.received", "message": {"chat": {"id": "a"}}},
        {"event_name": "message.text.received", "message": {**UPDATE["message"], "from": "x"}},
        {"event_name": "message.text.received", "message": {**UPDATE["message"], "message_id": ""}},
    ]
    for body in bad:
        with pytest.raises(BadUpdate):
            parse_update(body)


# -- splitting ----------------------------------------------------------------------------------


def test_a_long_answer_splits_at_line_breaks_under_2000() -> None:
    lines = [(f"• Dòng {n}: " + "chữ tiếng Việt có dấu " * 4).strip() for n in range(25)]
    text = "\n".join(lines)
    assert 2400 < len(text) < 2700
    pieces = split_message(text)
    assert len(pieces) == 2 and all(len(p) <= 2000 for p in pieces)
    assert "\n".join(pieces) == text  # cut only at line breaks, nothing lost


def test_emoji_outside_the_bmp_count_twice() -> None:
    text = "📎" * 1500  # 1,500 characters, 3,000 UTF-16 units
    pieces = split_message(text)
    assert all(len(p.encode("utf-16-le")) // 2 <= 2000 for p in pieces)
    assert "".join(pieces) == text


def test_empty_text_is_not_sent() -> None:
    assert split_message("  \n ") == []


# -- links and markers --------------------------------------------------------------------------


def test_signed_links_round_trip_and_refuse_edits() -> None:
    now = [1_000_000.0]
    signer = LinkSigner(b"k", "https://bot.example", clock=lambda: now[0])
    token = signer.upload_token(7, 42, "mau02_self_assessment", "vi", ttl=60)
    grant = signer.upload_grant(token)
    assert (grant.account_id, grant.dossier_id, grant.requirement) == (
        7,
        42,
        "mau02_self_assessment",
    )
    body, stamp, mac = token.split(".")
    forged = (
        f"{body}x.{stamp}.{mac}",
        f"{body}.{stamp}.{mac[:-1]}",
        "nodot",
        f"{body}.",
        "x" * 3000,
    )
    for bad in (*forged, token + "a"):
        with pytest.raises(LinkError) as err:
            signer.upload_grant(bad)
        assert err.value.reason == "invalid"
    with pytest.raises(LinkError):  # an upload link is not a download link
        signer.download_grant(token)
    with pytest.raises(LinkError):  # another server's key
        LinkSigner(b"other", clock=lambda: now[0]).upload_grant(token)
    now[0] += 61
    with pytest.raises(LinkError) as err:
        signer.upload_grant(token)
    assert err.value.reason == "expired"
    assert signer.upload_token(7, 42, "x", "vi") != signer.upload_token(7, 42, "x", "vi")


def test_link_secret_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    a = Settings(zalo_bot_token=SecretStr("1:abc"), data_dir=tmp_path / "x")
    b = Settings(zalo_bot_token=SecretStr("1:abc"), data_dir=tmp_path / "y")
    d = Settings(zalo_bot_token=SecretStr("1:abc"), link_secret=SecretStr("chosen-long-secret"))
    first = link_secret(a)
    assert len(first) >= 32 and link_secret(a) == first  # kept across restarts
    assert link_secret(b) != first  # not derived from the bot token
    assert (tmp_path / "x" / "link-secret").stat().st_mode & 0o777 == 0o600
    assert link_secret(d) == b"chosen-long-secret"


# -- flows on a photos-only channel -------------------------------------------------------------


@pytest.fixture
async def conv(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Conversations]:
    engine = make_engine(sqlite_url)
    ctx = CoreContext(
        clock=FixedClock(vn_time(2026, 9, 1, 9, 0)), plans=PlanRegistry(), data_dir=tmp_path
    )
    yield Conversations(session_factory(engine), ctx, build_flows())
    await engine.dispose()


async def _to_upload_step(p: Person) -> None:
    from tests.test_flows import onboard, register

    await onboard(p)
    await register(p)
    replies = await p.sticker()  # not at a document: no link, the usual answer
    assert all(r.upload is None for r in replies) and "nhãn dán" in p.text
    await p.tap("Gửi giấy tờ")
    await p.tap("Phiếu đăng ký")


async def test_a_file_at_the_upload_step_gets_an_upload_slot(conv: Conversations) -> None:
    p = Person(conv, "lan", caps=CAPS, channel="zalo")
    await _to_upload_step(p)
    assert "liên kết" in p.text  # the prompt says a PDF may be sent for a link
    replies = await p.sticker()  # what a file becomes on Zalo
    [offer] = [r for r in replies if r.upload is not None]
    assert offer.upload is not None and offer.upload.requirement == "mau01_registration"
    assert offer.upload.label.startswith("Phiếu đăng ký")
    assert "Gửi ảnh chụp" in replies[-1].text  # and the same question again


async def test_without_upload_links_the_old_answer(conv: Conversations) -> None:
    p = Person(conv, "minh", caps=ZALO_LIKE, channel="zalo")
    await _to_upload_step(p)
    replies = await p.sticker()
    assert all(r.upload is None for r in replies) and "nhãn dán" in p.text


# -- rendering against the fake server ----------------------------------------------------------


class _NoConversations:
    """Only the database: files shown through links are registered there."""

    def __init__(self, sessions: Any, account_id: int) -> None:
        self.sessions = sessions
        self.account_id = account_id

    async def handle(self, *_args: object) -> Result:
        raise AssertionError("not used")


@pytest.fixture
async def channel(
    tmp_path: Path, sqlite_url: str
) -> AsyncIterator[tuple[ZaloChannel, FakeZaloServer]]:
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    async with FakeZaloServer() as fake:
        data_dir = tmp_path / "data"
        signer = LinkSigner(b"k")
        # Our web server, for the links (Zalo fetches photos from it).
        web_app = web.Application()
        ctx = CoreContext(data_dir=data_dir)
        async with transaction(sessions) as s:
            account = await accounts.get_or_create_account(
                s, ctx, channel="zalo", platform_user_id="lan", chat_id="lan"
            )
        LinkRoutes(sessions, ctx, signer, tz=VN_TZ).add_routes(web_app)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        signer.set_base(base)
        settings = Settings(
            zalo_bot_token=SecretStr(fake.token),
            zalo_api_url=fake.url,
            public_url=base,
            data_dir=data_dir,
        )
        conversations = _NoConversations(sessions, account.id or 0)
        zalo = ZaloChannel(settings, cast(Any, conversations), data_dir=data_dir, signer=signer)
        try:
            yield zalo, fake
        finally:
            await zalo.client.close()
            await runner.cleanup()
            await engine.dispose()
        fake.assert_no_rejections()


async def test_rendering_choices_links_files_and_photos(
    channel: tuple[ZaloChannel, FakeZaloServer], tmp_path: Path
) -> None:
    zalo, fake = channel
    lan = fake.person("Lan")
    result = Result([], account_id=zalo.conversations.account_id, locale="vi")  # type: ignore[attr-defined]
    await zalo.send_reply(
        lan.id, Reply("Chọn một:", (Choice("a", "Có"), Choice("b", "Không"))), result
    )
    assert lan.last_text() == "Chọn một:\n\n1. Có\n2. Không"
    await zalo.send_reply(
        lan.id, Reply("Tôi chưa đọc được.", upload=UploadSlot(42, "mau02", "Mẫu 02")), result
    )
    text = lan.last_text() or ""
    assert "Zalo chỉ chuyển được ảnh" in text and "«Mẫu 02»" in text
    token = text.split("/link/u/")[1].split()[0]
    assert zalo.signer.upload_grant(token).dossier_id == 42
    # Files: a PDF as a download link, an image as a photo fetched from our server.
    exports = zalo.data_dir / "exports"
    exports.mkdir(parents=True)
    (exports / "a.pdf").write_bytes(b"%PDF-1.4\n")
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    (exports / "p.jpg").write_bytes(out.getvalue())
    outside = tmp_path / "elsewhere.pdf"
    outside.write_bytes(b"%PDF-1.4\n")
    files = (
        FileOut(exports / "a.pdf", "a.pdf", "application/pdf"),
        FileOut(outside, "b.pdf", "application/pdf"),
        FileOut(exports / "p.jpg", "p.jpg", "image/jpeg", caption="Ảnh"),
    )
    await zalo.send_reply(lan.id, Reply("Giấy tờ:", files=files), result)
    texts = [m.text or "" for m in lan.inbox if m.kind == "text"]
    assert texts[-1].count("/link/f/") == 2 and "a.pdf" in texts[-1] and "b.pdf" in texts[-1]
    # The database or the link key are never offered, whatever a flow hands over.
    (zalo.data_dir / "ocop.sqlite3").write_bytes(b"SQLite format 3\x00")
    secret = [FileOut(zalo.data_dir / "ocop.sqlite3", "db", "application/octet-stream")]
    await zalo.send_reply(lan.id, Reply("Tệp:", files=tuple(secret)), result)
    assert "/link/f/" not in (lan.last_text() or "")
    [photo] = [m for m in lan.inbox if m.kind == "photo"]
    assert photo.photo == out.getvalue() and photo.text == "Ảnh"
    # A long text: two messages within the limit.
    await zalo.send_reply(lan.id, Reply("\n".join(["x" * 99] * 25)), result)
    assert [len(m.text or "") for m in lan.inbox[-2:]] == [1999, 499]


# -- outbox delivery ----------------------------------------------------------------------------


async def test_deliver_reports_outcomes(channel: tuple[ZaloChannel, FakeZaloServer]) -> None:
    receiving, fake = channel
    zalo = receiving.sender  # the channel receives; its sender delivers
    lan = fake.person("Lan")
    assert isinstance(zalo, DeliveryChannel) and delivery_channels([zalo]) == {"zalo": zalo}
    assert (await zalo.deliver(lan.id, {"text": "Nhắc hạn nộp hồ sơ"})).outcome == Outcome.SENT
    assert lan.last_text() == "Nhắc hạn nộp hồ sơ"
    long = "\n".join(["Giấy tờ còn thiếu: " + "x" * 80] * 25)
    assert (await zalo.deliver(lan.id, {"text": long})).outcome == Outcome.SENT
    assert [m.text for m in lan.inbox[-2:]] == split_message(long)
    assert (await zalo.deliver(lan.id, {"text": " "})).outcome == Outcome.REJECTED
    fake.inject("sendMessage", 429)
    result = await zalo.deliver(lan.id, {"text": "x"})
    assert result.outcome == Outcome.RETRY_AFTER and result.retry_after
    fake.inject("sendMessage", 502)
    assert (await zalo.deliver(lan.id, {"text": "x"})).outcome == Outcome.TRANSIENT
    fake.inject("sendMessage", 400, "Bad Request: chat not found")
    assert (await zalo.deliver("0" * 20, {"text": "x"})).outcome == Outcome.GONE


async def test_outbox_rows_reach_a_zalo_person(
    channel: tuple[ZaloChannel, FakeZaloServer], sqlite_url: str, tmp_path: Path
) -> None:
    zalo, fake = channel
    lan = fake.person("Lan")
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    clock = FixedClock(vn_time(2026, 9, 1, 9, 0))
    ctx = CoreContext(clock=clock, data_dir=tmp_path)
    try:
        async with transaction(sessions) as s:
            account = await accounts.get_or_create_account(
                s, ctx, channel="zalo", platform_user_id=lan.id, chat_id=lan.id
            )
            await outbox.enqueue(
                s, account, {"text": "Hồ sơ cần bổ sung"}, key="n:1", now=clock.now()
            )
        stats = await OutboxDelivery(sessions, clock, {"zalo": zalo.sender}).drain(timeout=30)
        assert stats.sent == 1 and lan.last_text() == "Hồ sơ cần bổ sung"
    finally:
        await engine.dispose()
