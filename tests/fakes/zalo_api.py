"""A fake Zalo Bot Platform API (aiohttp) for adapter tests over real HTTP.

It behaves like the platform as documented in ``shared/docs/zalo-api.md`` (Bot Platform sections)
and refuses what Zalo would refuse, with Zalo's error shape
``{"ok": false, "error_code": n, "description": ...}`` and the matching HTTP status:

* ``/bot<token>/<method>``, GET or POST, parameters from the query, a JSON, form or multipart
  body; a wrong token is 401, an unknown method 400;
* ``getUpdates`` gives **one** update per call, waits up to ``timeout`` (capped by
  ``poll_wait_cap``) and answers 408 "Request timeout" when nothing came; it is refused while a
  webhook is set;
* ``setWebhook`` needs ``url`` and a ``secret_token`` of 8–256 characters; updates are then POSTed
  to it with the ``X-Bot-Api-Secret-Token`` header, wrapped (``{ok, result}``) or flat
  (``webhook_body``), delivered twice when ``duplicate_delivery`` is on;
* ``sendMessage`` text and ``sendPhoto`` caption are 1–2000 characters; ``sendPhoto`` fetches the
  photo URL like Zalo does and refuses one that does not serve an image;
* ``inject()`` scripts failures such as 429 "Quota exceeded".

A ``Person`` acts as a Zalo user: sends text, a photo (served by this fake at a URL), a sticker, a
voice note or an "unsupported" message (what a file becomes), and reads what the bot sent.
Every refusal is logged; ``assert_no_rejections()`` fails a test if the bot sent anything Zalo
would refuse (injected faults excepted).
"""

# Waiting helpers take timeout= on purpose: tests read better than with asyncio.timeout().
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from tests.fakes.base import FakeServer

log = logging.getLogger("tests.fakes.zalo")

DEFAULT_TOKEN = "1234567890:zalo-fake-secret-for-ocop-tests"
MAX_TEXT = 2000
MIN_SECRET, MAX_SECRET = 8, 256
PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request timeout",
    429: "Quota exceeded",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})


def _new_id() -> str:
    return secrets.token_hex(10)  # Zalo ids are opaque 20-hex-character strings


def _now_ms() -> int:
    return int(time.time() * 1000)


class ApiError(Exception):
    def __init__(self, code: int, description: str | None = None, kind: str = "validation"):
        super().__init__(description or PHRASES.get(code, "Error"))
        self.code = code
        self.description = description or PHRASES.get(code, "Error")
        self.kind = kind

    def payload(self) -> dict[str, Any]:
        return {"ok": False, "error_code": self.code, "description": self.description}


@dataclass
class Rejection:
    """A call the fake refused. ``kind``: validation, auth, not_found, conflict, "idle" (a
    getUpdates that found nothing: normal), or "injected" for failures a test asked for."""

    method: str
    error_code: int
    description: str
    kind: str
    params: dict[str, Any]

    @property
    def expected(self) -> bool:
        return self.kind in ("injected", "idle")  # 408 on an idle poll is how Zalo says "none"


@dataclass
class Fault:
    method: str  # "*" for any
    error_code: int
    description: str
    times: int | None = 1
    hits: int = 0

    def take(self, method: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method not in ("*", method):
            return False
        self.hits += 1
        return True


@dataclass
class SentMessage:
    """Something the bot sent to a chat."""

    kind: str  # text | photo | sticker
    chat_id: str
    message_id: str
    date: int
    text: str | None = None  # text, or a photo's caption
    photo_url: str | None = None
    photo: bytes | None = None  # what the fake fetched from photo_url
    sticker: str | None = None


@dataclass
class WebhookDelivery:
    message_id: str
    status: int | None  # None: the connection failed
    body: str
    secret_sent: bool
    at: float = field(default_factory=time.time)


@dataclass
class RequestRecord:
    method: str
    params: dict[str, Any]
    status: int
    at: float


class Person:
    """A Zalo user in a private chat with the bot (``chat.id == from.id``)."""

    def __init__(self, server: FakeZaloServer, user_id: str, display_name: str) -> None:
        self.server = server
        self.id = user_id
        self.display_name = display_name
        self.inbox: list[SentMessage] = []
        self.mark = 0  # inbox length when this person last sent something
        self.sent_ids: list[str] = []

    def __repr__(self) -> str:
        return f"<ZaloPerson {self.display_name}>"

    def _update(self, event: str, content: dict[str, Any], chat_type: str) -> dict[str, Any]:
        self.mark = len(self.inbox)
        message = {
            "message_id": _new_id(),
            "date": _now_ms(),
            "from": {"id": self.id, "display_name": self.display_name, "is_bot": False},
            "chat": {"id": self.id, "chat_type": chat_type},
            **content,
        }
        self.sent_ids.append(message["message_id"])
        return {"event_name": event, "message": message}

    async def send_text(self, text: str, *, chat_type: str = "PRIVATE") -> dict[str, Any]:
        update = self._update("message.text.received", {"text": text}, chat_type)
        await self.server.deliver(update)
        return update

    async def send_photo(
        self,
        data: bytes,
        caption: str = "",
        *,
        content_type: str = "image/jpeg",
        key: str = "photo_url",
    ) -> dict[str, Any]:
        """A photo the fake serves at a URL, as Zalo does; ``key="photo"`` for the older name."""
        url = self.server.host_media(data, content_type)
        return await self.send_photo_url(url, caption, key=key)

    async def send_photo_url(
        self, url: str, caption: str = "", *, key: str = "photo_url"
    ) -> dict[str, Any]:
        content: dict[str, Any] = {key: url, "message_type": "CHAT_PHOTO"}
        if caption:
            content["caption"] = caption
        update = self._update("message.image.received", content, "PRIVATE")
        await self.server.deliver(update)
        return update

    async def send_sticker(self) -> dict[str, Any]:
        content = {"sticker": "bfe458bf64fa8da4d4eb", "url": self.server.url + "/media/sticker"}
        update = self._update("message.sticker.received", content, "PRIVATE")
        await self.server.deliver(update)
        return update

    async def send_voice(self) -> dict[str, Any]:
        content = {"voice_url": self.server.url + "/media/voice.aac", "message_type": "CHAT_VOICE"}
        update = self._update("message.voice.received", content, "PRIVATE")
        await self.server.deliver(update)
        return update

    async def send_unsupported(self) -> dict[str, Any]:
        """What a file (PDF, video, link…) becomes: an event without any content."""
        update = self._update("message.unsupported.received", {}, "PRIVATE")
        await self.server.deliver(update)
        return update

    # Reading what the bot sent -----------------------------------------------------------

    def texts(self, since: int | None = None) -> list[str]:
        start = self.mark if since is None else since
        return [m.text or "" for m in self.inbox[start:] if m.kind == "text"]

    def last_text(self) -> str | None:
        for message in reversed(self.inbox):
            if message.kind == "text":
                return message.text
        return None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        await self.server.wait_until(predicate, timeout, what=lambda: f"a condition for {self}")

    async def wait_for_messages(
        self, n: int = 1, timeout: float = 10.0, *, since: int | None = None
    ) -> list[SentMessage]:
        start = self.mark if since is None else since
        await self.server.wait_until(
            lambda: len(self.inbox) - start >= n,
            timeout,
            what=lambda: (
                f"{n} message(s) to {self} after #{start}; got "
                f"{[m.text for m in self.inbox[start:]]}"
            ),
        )
        return self.inbox[start:]


class FakeZaloServer(FakeServer):
    """Start with ``async with FakeZaloServer() as zalo``; it binds 127.0.0.1 on a free port.

    Switches: ``webhook_body`` ("wrapped" or "flat"), ``duplicate_delivery`` (every update is
    POSTed twice), ``poll_wait_cap`` (longest getUpdates wait, to keep tests fast),
    ``require_https`` (refuse a non-HTTPS webhook URL as Zalo does; off for local tests).
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        webhook_body: str = "wrapped",
        duplicate_delivery: bool = False,
        poll_wait_cap: float = 2.0,
        require_https: bool = False,
        webhook_retries: int = 2,
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_id = token.split(":", 1)[0]
        self.webhook_body = webhook_body
        self.duplicate_delivery = duplicate_delivery
        self.poll_wait_cap = poll_wait_cap
        self.require_https = require_https
        self.webhook_retries = webhook_retries

        self.requests: list[RequestRecord] = []
        self.rejections: list[Rejection] = []
        self.deliveries: list[WebhookDelivery] = []
        self.sent: list[SentMessage] = []
        self.actions: list[tuple[str, str]] = []  # (chat_id, action)
        self.faults: list[Fault] = []
        self.persons: dict[str, Person] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_hits: dict[str, int] = {}

        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_updated_at = 0
        self._queue: list[dict[str, Any]] = []  # updates for getUpdates
        self._http: aiohttp.ClientSession | None = None
        self._deliver_lock = asyncio.Lock()  # Zalo posts one update at a time
        self._tasks: set[asyncio.Task[None]] = set()
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendSticker": self._send_sticker,
            "sendChatAction": self._send_chat_action,
        }

    # Lifecycle -----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/media/{name}", self._handle_media)

    async def started(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stopping(self) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def api_url(self) -> str:
        """For OCOP_ZALO_API_URL (the adapter appends /bot<token>/<method>)."""
        return self.url

    # Waiting ---------------------------------------------------------------------------------

    def pending(self) -> int:
        return len(self._queue)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,
        *,
        what: str | Callable[[], str] = "condition",
        recheck: float = 0.1,
    ) -> None:
        await super().wait_until(predicate, timeout, what=what, recheck=recheck)

    async def quiet(self, seconds: float = 0.5, timeout: float = 20.0) -> None:
        """Kept for older tests: now the same as ``wait_idle`` (``seconds`` is not waited)."""
        await self.wait_idle(timeout)

    # People, media, faults ---------------------------------------------------------------

    def person(self, display_name: str = "Lan") -> Person:
        p = Person(self, _new_id(), display_name)
        self.persons[p.id] = p
        return p

    def host_media(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve bytes at a URL of this fake, like Zalo's media CDN."""
        name = _new_id() + (".jpg" if content_type == "image/jpeg" else ".bin")
        self.media[name] = (data, content_type)
        return f"{self.url}/media/{name}"

    def inject(
        self, method: str, error_code: int, description: str | None = None, times: int | None = 1
    ) -> Fault:
        fault = Fault(method, error_code, description or PHRASES.get(error_code, "Error"), times)
        self.faults.append(fault)
        return fault

    def unexpected_rejections(self) -> list[Rejection]:
        return [r for r in self.rejections if not r.expected]

    def assert_no_rejections(self) -> None:
        bad = self.unexpected_rejections()
        if bad:
            lines = "\n".join(
                f"  {r.method}: {r.error_code} {r.description} ({r.kind}) {r.params}" for r in bad
            )
            raise AssertionError(f"the fake Zalo server rejected {len(bad)} request(s):\n{lines}")

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method == method]

    async def wait_for_request(self, method: str, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: bool(self.calls(method)), timeout, what=f"a {method} call")

    # Inbound updates ---------------------------------------------------------------------

    def webhook_payload(self, update: dict[str, Any]) -> dict[str, Any]:
        if self.webhook_body == "flat":
            return update
        return {"ok": True, "result": update}

    async def deliver(self, update: dict[str, Any]) -> None:
        """To the webhook when one is set (awaiting the bot's answer), else to the poll queue."""
        times = 2 if self.duplicate_delivery else 1
        if not self.webhook_url:
            self._queue.extend([update] * times)
            self._notify()
            return
        for _ in range(times):
            async with self.delivering():
                await self._post(update)

    async def _post(self, update: dict[str, Any]) -> None:
        assert self._http is not None
        body = json.dumps(self.webhook_payload(update), ensure_ascii=False)
        headers = {
            "Content-Type": "application/json",
            "X-Bot-Api-Secret-Token": self.webhook_secret,
        }
        async with self._deliver_lock:
            for _ in range(1 + self.webhook_retries):
                status: int | None = None
                try:
                    async with self._http.post(self.webhook_url, data=body, headers=headers) as r:
                        status = r.status
                        await r.read()
                except (aiohttp.ClientError, TimeoutError, OSError):
                    status = None
                self.deliveries.append(
                    WebhookDelivery(update["message"]["message_id"], status, body, True)
                )
                self._notify()
                if status == 200:
                    return
                await asyncio.sleep(0.2)

    # The API -----------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, kind="auth")
            handler = self._methods.get(method)
            if handler is None:
                raise ApiError(400, "Invalid method name", kind="not_found")
            params = await self._params(request)
            for fault in self.faults:
                if fault.take(method):
                    raise ApiError(fault.error_code, fault.description, kind="injected")
            result = await handler(params)
        except ApiError as exc:
            self.requests.append(RequestRecord(method, _summary(params), exc.code, time.time()))
            self.rejections.append(
                Rejection(method, exc.code, exc.description, exc.kind, _summary(params))
            )
            self._notify()
            return web.json_response(exc.payload(), status=exc.code)
        self.requests.append(RequestRecord(method, _summary(params), 200, time.time()))
        self._notify()
        if method == "sendChatAction":
            return web.json_response({"ok": True})  # bare, as documented
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        values: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                raw = await request.read()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise ApiError(400, "Bad Request: invalid JSON body") from None
                    if not isinstance(body, dict):
                        raise ApiError(400, "Bad Request: body must be an object")
                    values.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                values.update({k: v for k, v in form.items() if isinstance(v, str)})
            else:
                await request.read()
        return values

    @staticmethod
    def _required(params: dict[str, Any], name: str) -> str:
        value = params.get(name)
        if value is None or (isinstance(value, str) and not value):
            raise ApiError(400, f"Bad Request: {name} is required")
        return str(value)

    def _chat(self, params: dict[str, Any]) -> Person:
        chat_id = self._required(params, "chat_id")
        person = self.persons.get(chat_id)
        if person is None:
            raise ApiError(400, "Bad Request: chat not found")
        return person

    @staticmethod
    def _check_text(text: Any, name: str) -> str:
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            length = len(text) if isinstance(text, str) else 0
            raise ApiError(
                400, f"Bad Request: {name} must be 1-{MAX_TEXT} characters (got {length})"
            )
        return text

    def _record(self, person: Person, message: SentMessage) -> dict[str, Any]:
        person.inbox.append(message)
        self.sent.append(message)
        return {"message_id": message.message_id, "date": message.date}

    async def _get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "account_name": "bot.ocop.test",
            "account_type": "BASIC",
            "can_join_groups": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.webhook_url:
            raise ApiError(400, "Bad Request: webhook is set; call deleteWebhook first", "conflict")
        try:
            wait = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: timeout must be a number") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, self.poll_wait_cap)
        while not self._queue:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopping:
                raise ApiError(408, "Request timeout", kind="idle")
            with self.parked(), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self._queue.pop(0)  # one update per call

    async def _set_webhook(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self._required(params, "url")
        secret = self._required(params, "secret_token")
        if not url.startswith(("https://", "http://")) or (
            self.require_https and not url.startswith("https://")
        ):
            raise ApiError(400, "Bad Request: url must be a public HTTPS URL")
        if not MIN_SECRET <= len(secret) <= MAX_SECRET:
            raise ApiError(400, "Bad Request: secret_token must be 8-256 characters")
        self.webhook_url, self.webhook_secret = url, secret
        self.webhook_updated_at = _now_ms()
        pending, self._queue = self._queue, []
        for update in pending:  # what waited for a poll now goes to the webhook
            task = asyncio.get_running_loop().create_task(self._post(update))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return {"url": url, "updated_at": self.webhook_updated_at}

    async def _delete_webhook(self, _params: dict[str, Any]) -> dict[str, Any]:
        self.webhook_url, self.webhook_secret = "", ""
        self.webhook_updated_at = _now_ms()
        return {"url": "", "updated_at": self.webhook_updated_at}

    async def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "updated_at": self.webhook_updated_at}

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        person = self._chat(params)
        text = self._check_text(params.get("text"), "text")
        if params.get("parse_mode") not in (None, "markdown", "html"):
            raise ApiError(400, "Bad Request: parse_mode must be markdown or html")
        return self._record(person, SentMessage("text", person.id, _new_id(), _now_ms(), text=text))

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        person = self._chat(params)
        url = self._required(params, "photo")
        caption = params.get("caption")
        if caption is not None:
            self._check_text(caption, "caption")
        if not url.startswith(("https://", "http://")):
            raise ApiError(400, "Bad Request: photo must be an http(s) URL")
        data = await self._fetch_image(url)  # Zalo downloads the photo before answering
        return self._record(
            person,
            SentMessage(
                "photo", person.id, _new_id(), _now_ms(), text=caption, photo_url=url, photo=data
            ),
        )

    async def _fetch_image(self, url: str) -> bytes:
        assert self._http is not None
        try:
            async with self._http.get(url) as resp:
                data = await resp.read()
                ok = resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            ok, data = False, b""
        if not ok:
            raise ApiError(400, "Bad Request: photo could not be downloaded")
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception:
            raise ApiError(400, "Bad Request: photo is not an image") from None
        return data

    async def _send_sticker(self, params: dict[str, Any]) -> dict[str, Any]:
        person = self._chat(params)
        sticker = self._required(params, "sticker")
        return self._record(
            person, SentMessage("sticker", person.id, _new_id(), _now_ms(), sticker=sticker)
        )

    async def _send_chat_action(self, params: dict[str, Any]) -> None:
        person = self._chat(params)
        action = self._required(params, "action")
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: unsupported action")
        self.actions.append((person.id, action))

    async def _handle_media(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.media_hits[name] = self.media_hits.get(name, 0) + 1
        if name not in self.media:
            return web.Response(status=404, text="Not Found")
        data, content_type = self.media[name]
        return web.Response(body=data, content_type=content_type)


def _summary(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters for the logs, long texts shortened."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and len(value) > 80:
            out[key] = f"{value[:60]}… ({len(value)} chars)"
        else:
            out[key] = value
    return out
