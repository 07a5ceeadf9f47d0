"""The fake Zalo Bot API refuses what Zalo refuses, with Zalo's error shape (so adapter tests that
pass against it mean something)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.zalo_api import FakeZaloServer
from tests.transcript import document_photo


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloServer]:
    async with FakeZaloServer(poll_wait_cap=0.3) as server:
        yield server


async def call(
    fake: FakeZaloServer, method: str, token: str | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.url}/bot{token or fake.token}/{method}"
    async with aiohttp.ClientSession() as http, http.post(url, json=params) as resp:
        return resp.status, await resp.json()


async def test_errors_have_zalos_shape(fake: FakeZaloServer) -> None:
    assert await call(fake, "getMe", "1:wrong") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    status, body = await call(fake, "sendDocument", chat_id="x")
    assert status == 400 and body["error_code"] == 400 and body["ok"] is False
    lan = fake.person()
    status, body = await call(fake, "sendMessage", chat_id=lan.id, text="x" * 2001)
    assert status == 400 and "1-2000" in body["description"]
    status, body = await call(fake, "sendMessage", chat_id=lan.id, text="")
    assert status == 400
    status, body = await call(fake, "sendMessage", chat_id=lan.id, text="x" * 2000)
    assert status == 200 and set(body["result"]) == {"message_id", "date"}
    status, body = await call(fake, "sendPhoto", chat_id=lan.id, photo=fake.url + "/media/none")
    assert status == 400 and "photo" in body["description"]
    status, body = await call(fake, "sendChatAction", chat_id=lan.id, action="typing")
    assert (status, body) == (200, {"ok": True})
    assert len(fake.unexpected_rejections()) == 5
    with pytest.raises(AssertionError, match="rejected 5"):
        fake.assert_no_rejections()


async def test_polling_gives_one_update_then_408(fake: FakeZaloServer) -> None:
    lan = fake.person()
    await lan.send_text("một")
    await lan.send_photo(document_photo(1))
    status, first = await call(fake, "getUpdates", timeout="1")
    assert status == 200 and first["result"]["message"]["text"] == "một"
    status, second = await call(fake, "getUpdates", timeout="1")
    photo_url = second["result"]["message"]["photo_url"]
    async with aiohttp.ClientSession() as http, http.get(photo_url) as resp:
        assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"
    assert await call(fake, "getUpdates", timeout="1") == (
        408,
        {"ok": False, "error_code": 408, "description": "Request timeout"},
    )
    assert fake.unexpected_rejections() == []  # an idle poll is normal


async def test_webhook_rules(fake: FakeZaloServer) -> None:
    status, _ = await call(fake, "setWebhook", url="https://bot.example/zalo", secret_token="short")
    assert status == 400
    status, body = await call(
        fake, "setWebhook", url="https://bot.example/zalo", secret_token="long-enough"
    )
    assert status == 200 and body["result"]["url"] == "https://bot.example/zalo"
    status, _ = await call(fake, "getUpdates")
    assert status == 400  # polling is refused while a webhook is set
    status, body = await call(fake, "deleteWebhook")
    assert status == 200 and body["result"]["url"] == ""


async def test_form_encoded_parameters_and_injected_quota(fake: FakeZaloServer) -> None:
    lan = fake.person()
    fake.inject("sendMessage", 429)
    url = f"{fake.url}/bot{fake.token}/sendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"chat_id": lan.id, "text": "xin chào"}) as resp:
            assert resp.status == 429 and (await resp.json())["description"] == "Quota exceeded"
        async with http.post(url, data={"chat_id": lan.id, "text": "xin chào"}) as resp:
            assert resp.status == 200
    assert lan.last_text() == "xin chào"
    fake.assert_no_rejections()  # injected faults are expected
