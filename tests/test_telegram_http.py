"""PTB over aiohttp (bot/handlers/telegram_http.py) says what PTB over httpx says: the same form
on the wire, files as multipart, PTB's errors for a server that does not answer or is not
there, and a Bot API error as the TelegramError PTB makes of it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.handlers.telegram_http import AiohttpRequest
from tests.fakes.base import serving

TOKEN = "123456:test-token-for-the-transport"


class Recorder:
    """A tiny Bot API: records what each call carried; 'hang' never answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        fields: dict[str, Any] = {}
        for name, value in form.items():
            fields[name] = (
                (value.filename, value.content_type, value.file.read())
                if isinstance(value, web.FileField)
                else value
            )
        self.calls.append((method, request.content_type, fields))
        if method == "hang":
            await self.release.wait()
        if method == "sendMessage" and fields.get("chat_id") == "0":
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                status=400,
            )
        result: Any = True
        if method in ("sendMessage", "sendDocument"):
            result = {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}}
        return web.json_response({"ok": True, "result": result})


@pytest.fixture
async def api() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", recorder.handle)
    async with serving(app) as base:
        try:
            yield recorder, f"{base}/bot"
        finally:
            recorder.release.set()  # a hanging call ends before the server stops


def _bot(base_url: str, request: AiohttpRequest) -> Bot:
    return Bot(TOKEN, base_url=base_url, request=request, get_updates_request=AiohttpRequest(1))


async def test_a_form_a_multipart_upload_and_a_refusal(api: tuple[Recorder, str]) -> None:
    recorder, base_url = api
    request = AiohttpRequest(4)
    bot = _bot(base_url, request)
    async with request:  # the transport alone, without getMe
        await bot.send_message(5, "Xin chào <b>bạn</b>", parse_mode="HTML")
        await bot.send_document(5, document=b"%PDF-1.4 ...", filename="giay-phep.pdf")
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(0, "to nobody")
    (m1, type1, text), (m2, type2, doc) = recorder.calls[:2]
    assert (m1, type1) == ("sendMessage", "application/x-www-form-urlencoded")
    assert text == {"chat_id": "5", "text": "Xin chào <b>bạn</b>", "parse_mode": "HTML"}
    assert (m2, type2) == ("sendDocument", "multipart/form-data")
    assert doc["chat_id"] == "5"
    assert doc["document"] == ("giay-phep.pdf", "application/pdf", b"%PDF-1.4 ...")


async def test_no_answer_is_timed_out_and_no_server_a_network_error(
    api: tuple[Recorder, str],
) -> None:
    _, base_url = api
    request = AiohttpRequest(4, read_timeout=0.2)
    bot = _bot(base_url, request)
    async with request:
        with pytest.raises(TimedOut):
            await bot.do_api_request("hang")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    request = AiohttpRequest(4)
    bot = _bot(f"http://127.0.0.1:{closed}/bot", request)
    async with request:
        with pytest.raises(NetworkError) as refused:
            await bot.send_message(5, "hello")
    assert not isinstance(refused.value, TimedOut)
