"""HTTP control API of the fake Telegram server (under ``/_fake/``), for tests that run the
server as a separate process and drive its people from another process.

Every route answers JSON. Bytes travel base64-encoded (``data_b64``, ``images_b64``). The client
side is ``tests.fakes.telegram_remote.RemoteFakeTelegram``.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.telegram_api import Chat, FakeTelegramServer, Person

__all__ = ["PERSON_ACTIONS", "add_control_routes"]

# Person methods reachable over HTTP, and which of their keyword arguments carry bytes.
PERSON_ACTIONS: dict[str, tuple[str, ...]] = {
    "send_text": (),
    "tap_keyboard": (),
    "press": (),
    "press_data": (),
    "send_photo": ("data",),
    "send_album": ("images",),
    "send_document": ("data",),
    "share_contact": (),
    "send_sticker": (),
    "send_voice": ("data",),
    "send_location": (),
    "edit_last_text": (),
}


def add_control_routes(app: web.Application, server: FakeTelegramServer) -> None:
    control = _Control(server)
    r = app.router
    r.add_post("/_fake/persons", control.create_person)
    r.add_post("/_fake/groups", control.create_group)
    r.add_post("/_fake/persons/{user_id}/block", control.block)
    r.add_post("/_fake/persons/{user_id}/unblock", control.unblock)
    r.add_get("/_fake/persons/{user_id}/callback_answers", control.callback_answers)
    r.add_post("/_fake/persons/{user_id}/wait_for_callback_answer", control.wait_callback)
    r.add_post("/_fake/persons/{user_id}/{action}", control.person_action)
    r.add_get("/_fake/chats/{chat_id}/inbox", control.inbox)
    r.add_post("/_fake/chats/{chat_id}/wait_for_messages", control.wait_messages)
    r.add_get("/_fake/log", control.log)
    r.add_post("/_fake/inject", control.inject)
    r.add_post("/_fake/clear_faults", control.clear_faults)
    r.add_post("/_fake/fail_all", control.fail_all)
    r.add_post("/_fake/recover", control.recover)
    r.add_post("/_fake/rate_limits", control.rate_limits)
    r.add_get("/_fake/commands", control.commands)
    r.add_post("/_fake/shutdown", control.shutdown)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Control:
    def __init__(self, server: FakeTelegramServer) -> None:
        self.server = server

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        return body if isinstance(body, dict) else {}

    def _person(self, request: web.Request) -> Person:
        user_id = int(request.match_info["user_id"])
        person = self.server.persons.get(user_id)
        if person is None:
            raise web.HTTPNotFound(
                text=f'{{"error": "no person {user_id}"}}', content_type="application/json"
            )
        return person

    def _chat(self, chat_id: int) -> Chat:
        chat = self.server.chats.get(chat_id)
        if chat is None:
            raise web.HTTPNotFound(
                text=f'{{"error": "no chat {chat_id}"}}', content_type="application/json"
            )
        return chat

    async def create_person(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        allowed = {"user_id", "first_name", "last_name", "username", "language_code", "is_premium"}
        person = self.server.person(**{k: v for k, v in body.items() if k in allowed})
        return web.json_response({"user_id": person.user_id, "user": person.to_dict()})

    async def create_group(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        members = [self.server.persons[int(m)] for m in body.get("member_ids", [])]
        chat = self.server.group(
            chat_id=body.get("chat_id"),
            title=body.get("title", "Nhóm OCOP"),
            supergroup=body.get("supergroup", True),
            members=members,
            username=body.get("username"),
        )
        return web.json_response({"chat_id": chat.id, "chat": chat.to_dict()})

    async def person_action(self, request: web.Request) -> web.Response:
        person = self._person(request)
        action = request.match_info["action"]
        if action not in PERSON_ACTIONS:
            return _error(404, f"unknown person action {action!r}")
        kwargs = await self._body(request)
        for name in PERSON_ACTIONS[action]:
            key = f"{name}_b64"
            if key in kwargs:
                value = kwargs.pop(key)
                kwargs[name] = (
                    [base64.b64decode(v) for v in value]
                    if isinstance(value, list)
                    else base64.b64decode(value)
                )
        group = kwargs.get("in_group")
        if isinstance(group, int) and not isinstance(group, bool):
            kwargs["in_group"] = self._chat(group)
        try:
            result = await getattr(person, action)(**kwargs)
        except (LookupError, TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return web.json_response({"result": result})

    async def block(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self._person(request).block_bot(notify=body.get("notify", True))
        return web.json_response({"result": True})

    async def unblock(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self._person(request).unblock_bot(notify=body.get("notify", True))
        return web.json_response({"result": True})

    async def callback_answers(self, request: web.Request) -> web.Response:
        person = self._person(request)
        return web.json_response(
            {"result": [dataclasses.asdict(a) for a in person.callback_answers]}
        )

    async def wait_callback(self, request: web.Request) -> web.Response:
        person = self._person(request)
        body = await self._body(request)
        try:
            answer = await person.wait_for_callback_answer(
                body.get("timeout", 5.0), count=body.get("count")
            )
        except TimeoutError as exc:
            return _error(408, str(exc))
        return web.json_response({"result": dataclasses.asdict(answer)})

    async def inbox(self, request: web.Request) -> web.Response:
        chat = self._chat(int(request.match_info["chat_id"]))
        since = int(request.query.get("since", "0"))
        files = request.query.get("files", "1") != "0"
        return web.json_response(
            {
                "messages": [m.to_json(include_files=files) for m in chat.inbox[since:]],
                "mark": chat.mark,
                "total": len(chat.inbox),
                "reply_keyboard": chat.reply_keyboard,
                "actions": chat.actions,
            }
        )

    async def wait_messages(self, request: web.Request) -> web.Response:
        chat = self._chat(int(request.match_info["chat_id"]))
        body = await self._body(request)
        since = body.get("since")
        start = chat.mark if since is None else since
        try:
            messages = await chat.wait_for_messages(
                body.get("n", 1), body.get("timeout", 5.0), since=start
            )
        except TimeoutError as exc:
            return _error(408, str(exc))
        return web.json_response({"messages": [m.to_json() for m in messages], "since": start})

    async def log(self, request: web.Request) -> web.Response:
        s = self.server
        return web.json_response(
            {
                "requests": [dataclasses.asdict(r) for r in s.requests],
                "rejections": [dataclasses.asdict(r) for r in s.rejections],
                "webhook_deliveries": [dataclasses.asdict(d) for d in s.webhook_deliveries],
                "pending_updates": len(s.pending_updates),
                "sent_count": len(s.sent),
                "webhook_url": s.webhook_url,
            },
            dumps=_dumps,
        )

    async def inject(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        fault = self.server.inject(
            body["method"],
            body["error_code"],
            body.get("description"),
            body.get("retry_after"),
            body.get("times", 1),
            chat_id=body.get("chat_id"),
        )
        return web.json_response({"result": dataclasses.asdict(fault)})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.server.clear_faults()
        return web.json_response({"result": True})

    async def fail_all(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.server.fail_all(body.get("status", 502), body.get("description"))
        return web.json_response({"result": True})

    async def recover(self, request: web.Request) -> web.Response:
        self.server.recover()
        return web.json_response({"result": True})

    async def rate_limits(self, request: web.Request) -> web.Response:
        from tests.fakes.telegram_api import RateLimits

        body = await self._body(request)
        fields = {f.name for f in dataclasses.fields(RateLimits)}
        current = dataclasses.asdict(self.server.rate_limits)
        current.update({k: v for k, v in body.items() if k in fields})
        self.server.rate_limits = RateLimits(**current)
        return web.json_response({"result": current})

    async def commands(self, request: web.Request) -> web.Response:
        import json

        scope = json.loads(request.query["scope"]) if "scope" in request.query else None
        language = request.query.get("language_code", "")
        return web.json_response({"result": self.server.get_commands(scope, language)})

    async def shutdown(self, request: web.Request) -> web.Response:
        if self.server.on_shutdown_request is not None:
            self.server.on_shutdown_request()
            return web.json_response({"result": True})
        return _error(409, "server is not running as a separate process")


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=str)
