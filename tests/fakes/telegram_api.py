"""A fake Telegram Bot API server (aiohttp) that the real python-telegram-bot can talk to.

It enforces Telegram's limits with Telegram's error shapes, so a test fails the same way production
would: 4,096 characters of text after entity parsing, 1,024 of caption, 1–64 bytes of callback
data, HTML entity parsing, getFile ≤ 20 MB, upload sizes, flood control (429 with ``retry_after``,
modelled in ``telegram_flood`` from Telegram's documentation), unknown chats, users who blocked the
bot, bot command syntax. It serves the methods the bot calls, and no others (404 like Telegram for
an unknown one): getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo, setMyCommands,
sendMessage, sendPhoto, sendDocument, sendChatAction, answerCallbackQuery, getFile.

In-process use (same event loop as the test)::

    async with FakeTelegramServer() as server:
        app = Application.builder().token(server.token).base_url(server.base_url)
              .base_file_url(server.base_file_url).build()
        alice = server.person(first_name="Alice", language_code="vi")
        await alice.send_text("/start")
        [reply] = await alice.wait_for_messages(1)
        server.assert_no_rejections()
        await server.wait_idle()  # the bot took every update and has no request in flight
"""

# Waiting helpers take timeout= on purpose: tests read better than with asyncio.timeout().
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.base import FakeServer
from tests.fakes.telegram_flood import FloodControl, RateLimits
from tests.fakes.telegram_formatting import EntityParseError, parse_formatted
from tests.fakes.telegram_media import PHOTO_SIDES, image_size, thumbnail

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "CallbackAnswer",
    "Chat",
    "FakeTelegramServer",
    "Fault",
    "Person",
    "RateLimits",
    "Rejection",
    "RequestRecord",
    "SentMessage",
    "StoredFile",
    "WebhookDelivery",
]

log = logging.getLogger("tests.fakes.telegram")

DEFAULT_TOKEN = "123456789:AAF4k3-T0k3n_for_OCOP_tests_0123456789"

MB = 1024 * 1024
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER_TEXT = 200
MAX_DOWNLOAD = 20 * MB
MAX_PHOTO_UPLOAD = 10 * MB
MAX_FILE_UPLOAD = 50 * MB
# Bodies above this are refused by the HTTP layer itself (still answered as a JSON 413).
MAX_BODY = MAX_FILE_UPLOAD + 2 * MB

QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
POLL_SUPERSEDED = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)

# Updates that Telegram does not send unless asked for in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
BOT_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
COMMAND_IN_TEXT_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


# --------------------------------------------------------------------------------------------
# Records and small value types
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        kind: str = "validation",
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.kind = kind

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class RequestRecord:
    """One API call the bot made, as the fake understood it."""

    method: str
    params: dict[str, Any]
    files: dict[str, int]  # part name -> size in bytes
    status: int
    ok: bool
    description: str | None
    at: float
    chat_id: int | None = None


@dataclass
class Rejection:
    """An API call the fake answered with an error.

    ``kind`` is "validation" (the bot sent something Telegram would refuse), "rate_limit",
    "conflict", "auth", "not_found", "too_large", or "injected"/"outage" for failures a test asked
    for on purpose.
    """

    method: str
    error_code: int
    description: str
    kind: str
    params: dict[str, Any]
    retry_after: int | None = None
    chat_id: int | None = None
    at: float = 0.0

    @property
    def expected(self) -> bool:
        return self.kind in ("injected", "outage")


@dataclass
class WebhookDelivery:
    """One POST of an update to the bot's webhook and what the bot answered."""

    update_id: int
    url: str
    status: int | None  # None when the connection failed
    error: str | None
    secret_sent: bool
    at: float


@dataclass
class Fault:
    """A scripted failure for the next ``times`` calls of ``method`` ("*" for any)."""

    method: str
    error_code: int
    description: str
    retry_after: int | None = None
    times: int | None = 1  # None: until cleared
    chat_id: int | None = None
    hits: int = 0

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method != "*" and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class StoredFile:
    """A file the fake knows: uploaded by the bot or sent by a person."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    source_url: str | None = None  # for "send by URL" uploads, whose bytes the fake cannot fetch

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class CallbackAnswer:
    """What the bot answered to one callback query (answerCallbackQuery)."""

    query_id: str
    data: str | None
    message_id: int | None
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass
class _CallbackQuery:
    query_id: str
    person: Person
    data: str | None
    message_id: int | None
    created: float
    answered: bool = False


@dataclass
class SentMessage:
    """A message the bot sent to a chat, as a test reads it.

    ``text`` is the visible text after entity parsing (the caption for media); ``source`` is what
    the bot sent. ``raw`` is the Bot API Message object.
    """

    message_id: int
    chat_id: int
    kind: str  # "text", "photo", "document"
    text: str | None
    source: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    raw: dict[str, Any]
    file: StoredFile | None = None
    reply_to_message_id: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> bytes | None:
        """The file bytes the bot uploaded (photo/document), if any."""
        return self.file.data if self.file else None

    @property
    def caption(self) -> str | None:
        return self.text if self.kind != "text" else None

    @property
    def file_name(self) -> str | None:
        return self.file.file_name if self.file else None

    @property
    def mime_type(self) -> str | None:
        return self.file.mime_type if self.file else None

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return self.reply_markup["inline_keyboard"]
        return []

    @property
    def buttons(self) -> list[list[str]]:
        """Labels of the inline keyboard, row by row."""
        return [[b.get("text", "") for b in row] for row in self.inline_keyboard]

    @property
    def button_labels(self) -> list[str]:
        return [label for row in self.buttons for label in row]

    def button(self, label: str) -> dict[str, Any]:
        for row in self.inline_keyboard:
            for button in row:
                if button.get("text") == label:
                    return button
        raise LookupError(f"no button {label!r} in message {self.message_id}: {self.buttons}")


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """Request parameters from the query string, a JSON body or a form (urlencoded/multipart).

    PTB sends form fields whose non-string values are JSON-encoded, so every getter accepts both
    native JSON values and their string forms, as the real Bot API does.
    """

    def __init__(self, values: dict[str, Any], files: dict[str, UploadedFile]) -> None:
        self.values = values
        self.files = files

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "") or name in self.files

    def get_str(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def get_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def get_float(self, name: str) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def get_bool(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def get_json(self, name: str, error: str | None = None) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(
                    400, error or f"Bad Request: can't parse {name} JSON object"
                ) from None
        return value

    def summary(self) -> dict[str, Any]:
        """Parameters for the request log (file parts reduced to their size)."""
        out = dict(self.values)
        for name, upload in self.files.items():
            out[name] = f"<file {upload.filename!r} {len(upload.data)} bytes>"
        return out


# --------------------------------------------------------------------------------------------
# Chats and people
# --------------------------------------------------------------------------------------------


class Chat:
    """A private chat or a group, with what the bot sent to it (``inbox``)."""

    def __init__(
        self,
        server: FakeTelegramServer,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        username: str | None = None,
        person: Person | None = None,
    ) -> None:
        self.server = server
        self.id = chat_id
        self.type = chat_type
        self.title = title
        self.username = username
        self.person = person  # the other side of a private chat
        self.members: dict[int, Person] = {}
        self.messages: dict[int, dict[str, Any]] = {}  # every message in the chat, both sides
        self.inbox: list[SentMessage] = []
        self.actions: list[str] = []  # sendChatAction calls
        self.reply_keyboard: dict[str, Any] | None = None  # the current ReplyKeyboardMarkup
        self.mark = 0  # inbox length at the last action of a person in this chat
        self._ids = itertools.count(1)

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def next_message_id(self) -> int:
        return next(self._ids)

    def to_dict(self) -> dict[str, Any]:
        if self.is_private and self.person is not None:
            p = self.person
            d: dict[str, Any] = {"id": self.id, "type": "private", "first_name": p.first_name}
            if p.last_name:
                d["last_name"] = p.last_name
            if p.username:
                d["username"] = p.username
            return d
        d = {"id": self.id, "type": self.type, "title": self.title or "Group"}
        if self.username:
            d["username"] = self.username
        return d

    # Reading what the bot sent -------------------------------------------------------------

    def visible(self) -> list[SentMessage]:
        return list(self.inbox)

    def last_message(self) -> SentMessage | None:
        visible = self.visible()
        return visible[-1] if visible else None

    def last_text(self) -> str | None:
        for message in reversed(self.inbox):
            if message.text is not None:
                return message.text
        return None

    def last_keyboard_message(self) -> SentMessage | None:
        for message in reversed(self.inbox):
            if message.inline_keyboard:
                return message
        return None

    async def wait_for_messages(
        self,
        n: int = 1,
        timeout: float = 5.0,
        *,
        since: int | None = None,
    ) -> list[SentMessage]:
        """Wait until ``n`` bot messages arrived after index ``since`` and return all of them.

        ``since`` defaults to the inbox length at the last action of a person in this chat, so
        ``await alice.send_text("hi"); await alice.wait_for_messages(1)`` waits for the reply.
        """
        start = self.mark if since is None else since
        await self.server.wait_until(
            lambda: len(self.inbox) - start >= n,
            timeout,
            what=lambda: (
                f"{n} bot message(s) in chat {self.id} after #{start}; "
                f"got {len(self.inbox) - start}: {[m.text for m in self.inbox[start:]]}"
            ),
        )
        return self.inbox[start:]


class Person:
    """A Telegram user who talks to the bot; every ``send_*`` queues an update."""

    def __init__(
        self,
        server: FakeTelegramServer,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
        is_premium: bool,
    ) -> None:
        self.server = server
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.is_premium = is_premium
        self.blocked = False
        self.chat = Chat(server, user_id, "private", person=self)
        self.callback_answers: list[CallbackAnswer] = []

    @property
    def id(self) -> int:
        return self.user_id

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        if self.is_premium:
            d["is_premium"] = True
        return d

    def __repr__(self) -> str:
        return f"<Person {self.user_id} {self.first_name!r}>"

    # Where a message goes -----------------------------------------------------------------

    def _target(self, in_group: bool | Chat) -> Chat:
        if isinstance(in_group, Chat):
            chat = in_group
        elif in_group:
            chat = self.server.default_group()
        else:
            return self.chat
        chat.members.setdefault(self.user_id, self)
        return chat

    def _message(self, chat: Chat, content: dict[str, Any]) -> dict[str, Any]:
        chat.mark = len(chat.inbox)
        message = {
            "message_id": chat.next_message_id(),
            "from": self.to_dict(),
            "chat": chat.to_dict(),
            "date": int(time.time()),
            **content,
        }
        chat.messages[message["message_id"]] = message
        return message

    def _reply_content(self, chat: Chat, reply_to: int | None) -> dict[str, Any]:
        if reply_to is None:
            return {}
        original = chat.messages.get(reply_to)
        if original is None:
            raise LookupError(f"no message {reply_to} in chat {chat.id}")
        return {"reply_to_message": _without_reply(original)}

    # Sending -------------------------------------------------------------------------------

    async def send_text(
        self, text: str, *, in_group: bool | Chat = False, reply_to: int | None = None
    ) -> dict[str, Any]:
        """Send a text; a leading /command gets its ``bot_command`` entity like in Telegram."""
        chat = self._target(in_group)
        content: dict[str, Any] = {"text": text, **self._reply_content(chat, reply_to)}
        entities = _auto_entities(text)
        if entities:
            content["entities"] = entities
        message = self._message(chat, content)
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def tap_keyboard(self, label: str) -> dict[str, Any]:
        """Tap a button of the current reply keyboard (sends its text, or the contact)."""
        keyboard = self.chat.reply_keyboard
        if not keyboard:
            raise LookupError(f"{self} has no reply keyboard")
        for row in keyboard.get("keyboard", []):
            for button in row:
                text = button if isinstance(button, str) else button.get("text", "")
                if text != label:
                    continue
                if isinstance(button, dict) and button.get("request_contact"):
                    return await self.share_contact()
                if isinstance(button, dict) and button.get("request_location"):
                    return await self.send_location()
                return await self.send_text(text)
        raise LookupError(f"no reply keyboard button {label!r}: {keyboard.get('keyboard')}")

    async def press(
        self, label: str, *, message_id: int | None = None, in_group: bool | Chat = False
    ) -> str:
        """Press the inline button ``label`` of the latest bot message with a keyboard.

        Returns the callback query id; see ``callback_answers`` for the bot's answer.
        """
        chat = self._target(in_group)
        if message_id is not None:
            found = [m for m in chat.inbox if m.message_id == message_id]
            if not found:
                raise LookupError(f"no bot message {message_id} in chat {chat.id}")
            target = found[0]
        else:
            target = chat.last_keyboard_message()
            if target is None:
                raise LookupError(f"no bot message with an inline keyboard in chat {chat.id}")
        button = target.button(label)
        if "callback_data" not in button:
            raise LookupError(f"button {label!r} has no callback_data: {button}")
        return await self.press_data(
            button["callback_data"], message_id=target.message_id, in_group=chat
        )

    async def press_data(
        self,
        data: str,
        *,
        message_id: int | None = None,
        in_group: bool | Chat = False,
    ) -> str:
        """Send a callback query with arbitrary (forged or stale) ``data``."""
        chat = self._target(in_group)
        if message_id is None:
            last = chat.last_keyboard_message() or chat.last_message()
            message_id = last.message_id if last else None
        message: dict[str, Any]
        if message_id is not None and message_id in chat.messages:
            message = copy.deepcopy(chat.messages[message_id])
        else:
            # Bot API "InaccessibleMessage": date 0 tells PTB the message is gone.
            message = {"chat": chat.to_dict(), "message_id": message_id or 0, "date": 0}
        chat.mark = len(chat.inbox)
        query_id = self.server._new_callback_query(self, data, message_id)
        query = {
            "id": query_id,
            "from": self.to_dict(),
            "message": message,
            "chat_instance": str(abs(hash((self.server.bot_id, chat.id))) % 10**18),
            "data": data,
        }
        self.server.enqueue_update("callback_query", query, chat=chat)
        return query_id

    async def send_photo(
        self,
        data: bytes,
        caption: str | None = None,
        *,
        media_group_id: str | None = None,
        in_group: bool | Chat = False,
    ) -> dict[str, Any]:
        """Send a photo; the update carries Telegram-like sizes, the largest being ``data``."""
        chat = self._target(in_group)
        sizes, _ = self.server._photo_sizes(data)
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
            entities = _auto_entities(caption)
            if entities:
                content["caption_entities"] = entities
        if media_group_id:
            content["media_group_id"] = media_group_id
        message = self._message(chat, content)
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def send_album(
        self,
        images: Sequence[bytes],
        caption: str | None = None,
        *,
        in_group: bool | Chat = False,
    ) -> list[dict[str, Any]]:
        """Several photos sharing a media_group_id, queued back to back like Telegram does."""
        group_id = str(13_000_000_000_000_000 + next(self.server._media_group_ids))
        messages = []
        for index, image in enumerate(images):
            messages.append(
                await self.send_photo(
                    image,
                    caption if index == 0 else None,
                    media_group_id=group_id,
                    in_group=in_group,
                )
            )
        return messages

    async def send_document(
        self,
        data: bytes,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        *,
        in_group: bool | Chat = False,
    ) -> dict[str, Any]:
        chat = self._target(in_group)
        stored = self.server.store_file(
            data, "documents", file_name=file_name, mime_type=mime_type, prefix="BQAC"
        )
        content: dict[str, Any] = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": stored.size,
            }
        }
        if caption:
            content["caption"] = caption
        message = self._message(chat, content)
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def share_contact(
        self,
        phone: str = "+84912345678",
        first_name: str | None = None,
        *,
        own: bool = True,
        in_group: bool | Chat = False,
    ) -> dict[str, Any]:
        """Share a contact; ``own=True`` is the "share my phone number" button (user_id set)."""
        chat = self._target(in_group)
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or self.first_name,
        }
        if own:
            contact["user_id"] = self.user_id
            if self.last_name:
                contact["last_name"] = self.last_name
        message = self._message(chat, {"contact": contact})
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def send_sticker(
        self, emoji: str = "👍", *, in_group: bool | Chat = False
    ) -> dict[str, Any]:
        chat = self._target(in_group)
        stored = self.server.store_file(
            b"RIFF\x00\x00\x00\x00WEBPVP8 fake-sticker", "stickers", prefix="CAAC", ext="webp"
        )
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": stored.size,
        }
        message = self._message(chat, {"sticker": sticker})
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def send_voice(
        self, duration: int = 3, data: bytes | None = None, *, in_group: bool | Chat = False
    ) -> dict[str, Any]:
        chat = self._target(in_group)
        stored = self.server.store_file(
            data or b"OggS\x00fake-voice" * 20,
            "voice",
            mime_type="audio/ogg",
            prefix="AwAC",
            ext="oga",
        )
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": stored.size,
        }
        message = self._message(chat, {"voice": voice})
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def send_location(
        self,
        latitude: float = 21.0278,
        longitude: float = 105.8342,
        *,
        in_group: bool | Chat = False,
    ) -> dict[str, Any]:
        chat = self._target(in_group)
        message = self._message(chat, {"location": {"latitude": latitude, "longitude": longitude}})
        self.server.enqueue_update("message", message, chat=chat)
        return message

    async def edit_last_text(self, text: str, *, in_group: bool | Chat = False) -> dict[str, Any]:
        """Edit this person's latest text message (an ``edited_message`` update)."""
        chat = self._target(in_group)
        for message in reversed(list(chat.messages.values())):
            if message.get("from", {}).get("id") == self.user_id and "text" in message:
                message["text"] = text
                message["edit_date"] = int(time.time())
                entities = _auto_entities(text)
                if entities:
                    message["entities"] = entities
                else:
                    message.pop("entities", None)
                chat.mark = len(chat.inbox)
                self.server.enqueue_update("edited_message", copy.deepcopy(message), chat=chat)
                return message
        raise LookupError(f"{self} has sent no text to chat {chat.id}")

    def block_bot(self, *, notify: bool = True) -> None:
        """From now on the bot gets 403 "bot was blocked by the user" for this chat.

        Like Telegram, a ``my_chat_member`` update (status "kicked") is queued unless
        ``notify=False``.
        """
        self.blocked = True
        if notify:
            self._member_update("member", "kicked")

    def unblock_bot(self, *, notify: bool = True) -> None:
        self.blocked = False
        if notify:
            self._member_update("kicked", "member")

    def _member_update(self, old: str, new: str) -> None:
        bot = self.server.bot_user

        def member(status: str) -> dict[str, Any]:
            d: dict[str, Any] = {"user": bot, "status": status}
            if status == "kicked":
                d["until_date"] = 0
            return d

        update = {
            "chat": self.chat.to_dict(),
            "from": self.to_dict(),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        self.server.enqueue_update("my_chat_member", update, chat=self.chat)

    # Reading -------------------------------------------------------------------------------

    @property
    def inbox(self) -> list[SentMessage]:
        """Every message the bot sent to this person's private chat."""
        return self.chat.inbox

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        return self.chat.reply_keyboard

    def last_message(self) -> SentMessage | None:
        return self.chat.last_message()

    def last_text(self) -> str | None:
        return self.chat.last_text()

    async def wait_for_messages(
        self,
        n: int = 1,
        timeout: float = 5.0,
        *,
        since: int | None = None,
    ) -> list[SentMessage]:
        """See ``Chat.wait_for_messages``: ``n`` new messages since this person's last action."""
        return await self.chat.wait_for_messages(n, timeout, since=since)

    async def wait_for_callback_answer(
        self,
        timeout: float = 5.0,
        *,
        count: int | None = None,
    ) -> CallbackAnswer:
        """Wait until the bot answered ``count`` callback queries (default: one more than now)."""
        want = len(self.callback_answers) + 1 if count is None else count
        await self.server.wait_until(
            lambda: len(self.callback_answers) >= want,
            timeout,
            what=lambda: f"callback answer #{want} for {self}",
        )
        return self.callback_answers[want - 1]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await self.server.wait_until(predicate, timeout, what=lambda: f"condition for {self}")


def _without_reply(message: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(message)
    out.pop("reply_to_message", None)
    return out


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram adds to user text: a leading bot command (enough for bot routing)."""
    m = COMMAND_IN_TEXT_RE.match(text)
    if not m:
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(m.group(0))}]


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

Handler = Callable[["Params", web.Request], Awaitable[Any]]


class _PollWaiter:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.superseded = False


class FakeTelegramServer(FakeServer):
    """The fake Bot API. Start with ``async with FakeTelegramServer() as server`` (or
    ``await server.start()`` / ``await server.stop()``); it binds 127.0.0.1 on a free port.

    Knobs:
      * ``rate_limits`` (RateLimits) – flood control (``telegram_flood``); assign a new one at
        any time.
      * ``strict_html`` – reject a bare "&" in HTML text (Telegram tolerates it; see
        telegram_formatting).
      * ``group_privacy`` – like a bot with privacy mode on, group messages reach the bot only
        when they are commands, mention it, or reply to it.
      * ``callback_query_ttl`` – seconds after which answerCallbackQuery says "query is too old"
        (None: never).
      * ``webhook_retry_delay`` – pause before re-POSTing an update the webhook refused.
      * ``clock`` – monotonic clock used for flood control (inject one to test it without sleeping).
    """

    client_max_size = MAX_BODY

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_first_name: str = "OCOP Test Bot",
        bot_username: str = "ocop_test_bot",
        rate_limits: RateLimits | None = None,
        strict_html: bool = True,
        group_privacy: bool = True,
        callback_query_ttl: float | None = 15.0,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 10.0,
        first_update_id: int = 100_000_001,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.strict_html = strict_html
        self.group_privacy = group_privacy
        self.callback_query_ttl = callback_query_ttl
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.clock = clock
        self._flood = FloodControl(rate_limits or RateLimits(), lambda: self.clock())

        # Logs a test asserts on.
        self.requests: list[RequestRecord] = []
        self.rejections: list[Rejection] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.sent: list[SentMessage] = []  # every bot message, all chats, in order
        self.filtered_by_privacy: list[dict[str, Any]] = []
        self.downloads: list[tuple[str, int]] = []  # (file_path, HTTP status) of file GETs

        self.persons: dict[int, Person] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.faults: list[Fault] = []
        self._outage: tuple[int, str] | None = None

        self._updates: list[dict[str, Any]] = []
        self._next_update_id = first_update_id
        self._allowed_updates: list[str] | None = None
        self._poll: _PollWaiter | None = None
        self._callback_queries: dict[str, _CallbackQuery] = {}

        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None

        self._user_ids = itertools.count(1_000_001)
        self._group_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._media_group_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._default_group: Chat | None = None

        self._methods: dict[str, Handler] = {
            name.lower(): getattr(self, "_m_" + name)
            for name in (
                "getMe",
                "getUpdates",
                "setWebhook",
                "deleteWebhook",
                "getWebhookInfo",
                "setMyCommands",
                "sendMessage",
                "sendPhoto",
                "sendDocument",
                "sendChatAction",
                "answerCallbackQuery",
                "getFile",
            )
        }

    # Lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)

    async def started(self) -> None:
        log.info("fake Telegram listening on %s", self.url)

    async def stopping(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._webhook_task
            self._webhook_task = None

    def pending(self) -> int:
        return len(self._updates)

    @property
    def base_url(self) -> str:
        """For ``Application.builder().base_url(...)`` (the token is appended by PTB)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def application_builder(self) -> Any:
        """A python-telegram-bot ApplicationBuilder already pointed at this server."""
        from telegram.ext import Application

        return (
            Application.builder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    # People and chats --------------------------------------------------------------------

    def person(
        self,
        user_id: int | None = None,
        first_name: str = "Alice",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
        *,
        is_premium: bool = False,
    ) -> Person:
        """Create (or return the existing) person; their private chat exists from now on."""
        if user_id is None:
            user_id = next(self._user_ids)
            while user_id in self.persons:
                user_id = next(self._user_ids)
        if user_id in self.persons:
            return self.persons[user_id]
        p = Person(self, user_id, first_name, last_name, username, language_code, is_premium)
        self.persons[user_id] = p
        self.chats[user_id] = p.chat
        return p

    def group(
        self,
        chat_id: int | None = None,
        title: str = "Nhóm OCOP",
        *,
        supergroup: bool = True,
        members: Sequence[Person] = (),
        username: str | None = None,
    ) -> Chat:
        if chat_id is None:
            base = -1_001_000_000_000 if supergroup else -4_000_000_000
            chat_id = base - next(self._group_ids)
        chat = Chat(
            self, chat_id, "supergroup" if supergroup else "group", title=title, username=username
        )
        for member in members:
            chat.members[member.user_id] = member
        self.chats[chat_id] = chat
        return chat

    def default_group(self) -> Chat:
        if self._default_group is None:
            self._default_group = self.group()
        return self._default_group

    # Fault injection ---------------------------------------------------------------------

    def inject(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        *,
        chat_id: int | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` ("*": any) fail with this error."""
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after or 1}"
                retry_after = retry_after or 1
            else:
                description = _phrase(error_code)
        fault = Fault(method, error_code, description, retry_after, times, chat_id)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def fail_all(self, status: int = 502, description: str | None = None) -> None:
        """Start an outage: every request (files too) fails until ``recover()``."""
        self._outage = (status, description or _phrase(status))

    def recover(self) -> None:
        self._outage = None

    @contextlib.contextmanager
    def outage(self, status: int = 502, description: str | None = None) -> Iterator[None]:
        self.fail_all(status, description)
        try:
            yield
        finally:
            self.recover()

    # Assertions and inspection -----------------------------------------------------------

    def unexpected_rejections(self) -> list[Rejection]:
        """Rejections the test did not ask for (everything except injected faults/outages)."""
        return [r for r in self.rejections if not r.expected]

    def assert_no_rejections(self) -> None:
        bad = self.unexpected_rejections()
        if bad:
            lines = "\n".join(
                f"  {r.method}: {r.error_code} {r.description} ({r.kind}) params={r.params}"
                for r in bad
            )
            raise AssertionError(
                f"the fake Telegram server rejected {len(bad)} request(s):\n{lines}"
            )

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    async def wait_for_request(self, method: str, timeout: float = 5.0, *, count: int = 1) -> None:
        await self.wait_until(
            lambda: len(self.calls(method)) >= count,
            timeout,
            what=lambda: f"{count} {method} call(s)",
        )

    async def drain_updates(self, timeout: float = 5.0) -> None:
        """Wait until the bot has consumed every queued update (confirmed or accepted)."""
        await self.wait_until(
            lambda: not self._updates,
            timeout,
            what=lambda: f"the bot to consume {len(self._updates)} pending update(s)",
        )

    @property
    def rate_limits(self) -> RateLimits:
        return self._flood.limits

    @rate_limits.setter
    def rate_limits(self, value: RateLimits) -> None:
        self._flood = FloodControl(value, lambda: self.clock())

    # Files -------------------------------------------------------------------------------

    def store_file(
        self,
        data: bytes,
        folder: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        prefix: str = "BQAC",
        ext: str | None = None,
        width: int | None = None,
        height: int | None = None,
        source_url: str | None = None,
    ) -> StoredFile:
        n = next(self._file_ids)
        if ext is None:
            ext = file_name.rsplit(".", 1)[1] if file_name and "." in file_name else "bin"
        stored = StoredFile(
            file_id=f"{prefix}AgADfake{n:06d}{secrets.token_hex(6)}",
            file_unique_id=f"AQADfake{n:06d}",
            data=data,
            file_path=f"{folder}/file_{n}.{ext}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            source_url=source_url,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _photo_sizes(self, data: bytes) -> tuple[list[dict[str, Any]], StoredFile]:
        """Telegram-like PhotoSize list; the largest entry is the original bytes."""
        dims = image_size(data) or (1280, 960)
        width, height = dims
        sizes: list[dict[str, Any]] = []
        for side in PHOTO_SIDES:
            if max(width, height) <= side:
                break
            thumb = thumbnail(data, side)
            if thumb is not None:
                t_data, t_w, t_h = thumb
            else:
                scale = side / max(width, height)
                t_data, t_w, t_h = data, max(1, round(width * scale)), max(1, round(height * scale))
            stored = self.store_file(
                t_data, "photos", prefix="AgAC", ext="jpg", width=t_w, height=t_h
            )
            sizes.append(_photo_size(stored))
        original = self.store_file(
            data, "photos", prefix="AgAC", ext="jpg", width=width, height=height
        )
        sizes.append(_photo_size(original))
        return sizes, original

    # Updates -----------------------------------------------------------------------------

    def enqueue_update(
        self, kind: str, payload: dict[str, Any], *, chat: Chat | None = None
    ) -> int:
        """Queue an update for getUpdates or the webhook; returns its update_id (or -1 if a
        privacy-mode group filtered it)."""
        if (
            chat is not None
            and not chat.is_private
            and kind == "message"
            and self.group_privacy
            and not self._bot_sees_group_message(payload)
        ):
            self.filtered_by_privacy.append(payload)
            self._notify()
            return -1
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._notify()
        return update_id

    def _bot_sees_group_message(self, message: dict[str, Any]) -> bool:
        text = message.get("text") or message.get("caption") or ""
        if text.startswith("/"):
            return True
        if f"@{self.bot_user['username']}".lower() in text.lower():
            return True
        reply = message.get("reply_to_message") or {}
        return reply.get("from", {}).get("id") == self.bot_id

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in OPT_IN_UPDATES

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            keep = -offset
            self._updates = self._updates[-keep:] if keep else []
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._notify()

    def _select_updates(self, limit: int) -> list[dict[str, Any]]:
        # Updates of types the bot did not ask for are dropped, as Telegram does.
        self._updates = [u for u in self._updates if self._allowed(u)]
        return copy.deepcopy(self._updates[:limit])

    def _new_callback_query(self, person: Person, data: str | None, message_id: int | None) -> str:
        query_id = f"{self.bot_id % 10**6}{next(self._query_ids):010d}"
        self._callback_queries[query_id] = _CallbackQuery(
            query_id, person, data, message_id, self.clock()
        )
        return query_id

    # HTTP handlers -----------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.match_info["token"]
        params = Params({}, {})
        chat_id: int | None = None
        try:
            if self._outage is not None:
                status, description = self._outage
                raise ApiError(status, description, kind="outage")
            if token != self.token:
                if re.fullmatch(r"\d+:[\w-]{20,}", token):
                    raise ApiError(401, "Unauthorized", kind="auth")
                raise ApiError(404, "Not Found", kind="auth")
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found", kind="not_found")
            params = await self._read_params(request)
            chat_id = _maybe_int(params.raw("chat_id"))
            for fault in self.faults:
                if fault.matches(method, chat_id):
                    fault.hits += 1
                    raise ApiError(
                        fault.error_code,
                        fault.description,
                        retry_after=fault.retry_after,
                        kind="injected",
                    )
            result = await handler(params, request)
        except ApiError as exc:
            return self._error_response(method, params, exc, chat_id)
        self._record(method, params, 200, True, None, chat_id)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    def _error_response(
        self, method: str, params: Params, exc: ApiError, chat_id: int | None
    ) -> web.Response:
        self._record(method, params, exc.code, False, exc.description, chat_id)
        if exc.kind != "silent":
            self.rejections.append(
                Rejection(
                    method=method,
                    error_code=exc.code,
                    description=exc.description,
                    kind=exc.kind,
                    params=params.summary(),
                    retry_after=exc.retry_after,
                    chat_id=chat_id,
                    at=time.time(),
                )
            )
            log.info("rejected %s: %s %s", method, exc.code, exc.description)
        status = exc.code if 400 <= exc.code <= 599 else 400
        self._notify()
        return web.json_response(exc.payload(), status=status, dumps=_dumps)

    def _record(
        self,
        method: str,
        params: Params,
        status: int,
        ok: bool,
        description: str | None,
        chat_id: int | None,
    ) -> None:
        self.requests.append(
            RequestRecord(
                method=method,
                params=params.summary(),
                files={k: len(v.data) for k, v in params.files.items()},
                status=status,
                ok=ok,
                description=description,
                at=time.time(),
                chat_id=chat_id,
            )
        )
        self._notify()

    async def _read_params(self, request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if not request.can_read_body:
            return Params(values, files)
        try:
            if request.content_type == "application/json":
                raw = await request.read()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise ApiError(400, "Bad Request: can't parse JSON request body") from None
                    if isinstance(body, dict):
                        values.update(body)
            elif request.content_type in (
                "multipart/form-data",
                "application/x-www-form-urlencoded",
            ):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            value.filename, value.content_type, value.file.read()
                        )
                    else:
                        values[key] = value
            else:
                await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "Request Entity Too Large", kind="too_large") from None
        return Params(values, files)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self._outage is not None:
            status, description = self._outage
            return web.json_response(
                {"ok": False, "error_code": status, "description": description}, status=status
            )
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        path = request.match_info["path"]
        stored = self._files_by_path.get(path)
        if stored is None or stored.size > MAX_DOWNLOAD:
            self.downloads.append((path, 404))
            self._notify()
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.downloads.append((path, 200))
        self._notify()
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # Shared validation -------------------------------------------------------------------

    def _chat(self, p: Params) -> Chat:
        raw = p.raw("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == raw[1:].lower():
                    if not chat.is_private:
                        return chat
            raise ApiError(400, "Bad Request: chat not found")
        chat_id = _maybe_int(raw)
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _check_reachable(self, chat: Chat) -> None:
        if chat.is_private and chat.person is not None and chat.person.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _admit(self, chat: Chat) -> None:
        """Flood control: one more message to ``chat`` now, or 429 with ``retry_after``."""
        retry_after = self._flood.admit(chat.id, private=chat.is_private)
        if retry_after is not None:
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                retry_after=retry_after,
                kind="rate_limit",
            )

    def _format(
        self, p: Params, text_key: str, mode_key: str, entities_key: str
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """Visible text and entities for a text or caption parameter."""
        source = p.get_str(text_key)
        if source is None:
            return None, []
        given = p.get_json(entities_key, f"Bad Request: can't parse {entities_key} JSON object")
        if given is not None:
            if not isinstance(given, list):
                raise ApiError(400, f"Bad Request: can't parse {entities_key} JSON object")
            return source, given
        try:
            return parse_formatted(source, p.get_str(mode_key), strict_ampersand=self.strict_html)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        except ValueError as exc:
            raise ApiError(400, f"Bad Request: unsupported parse_mode: {exc}") from None

    def _message_text(self, p: Params) -> tuple[str, list[dict[str, Any]]]:
        text, entities = self._format(p, "text", "parse_mode", "entities")
        if text is None or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        # Telegram counts characters (code points) of the parsed text, not UTF-16 units.
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _caption(
        self, p: Params, key: str = "caption", mode: str = "parse_mode"
    ) -> tuple[str | None, list[dict[str, Any]]]:
        caption, entities = self._format(p, key, mode, "caption_entities")
        if caption is not None and len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        return (caption or None), entities

    def _markup(self, p: Params) -> dict[str, Any] | None:
        markup = p.get_json(
            "reply_markup", "Bad Request: can't parse reply keyboard markup JSON object"
        )
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            self._check_inline_keyboard(markup["inline_keyboard"])
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            for row in rows:
                for button in row:
                    label = button if isinstance(button, str) else button.get("text")
                    if not isinstance(label, str) or not label:
                        raise ApiError(400, "Bad Request: keyboard button text must be non-empty")
        elif not ("remove_keyboard" in markup or "force_reply" in markup):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _check_inline_keyboard(rows: Any) -> None:
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(
                400,
                "Bad Request: can't parse inline keyboard button: field "
                '"inline_keyboard" must be an Array of Arrays',
            )
        count = sum(len(r) for r in rows)
        if count > 100:
            raise ApiError(400, "Bad Request: reply markup is too long")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: Text must be a String",
                    )
                actions = [k for k in INLINE_BUTTON_ACTIONS if k in button]
                if not actions:
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    size = len(data.encode("utf-8")) if isinstance(data, str) else 0
                    if not 1 <= size <= MAX_CALLBACK_DATA:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not re.match(
                        r"^(https?|tg)://[^\s]+$", url, re.IGNORECASE
                    ):
                        raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")

    def _reply_to(self, p: Params, chat: Chat) -> int | None:
        reply = p.get_json(
            "reply_parameters", "Bad Request: can't parse reply parameters JSON object"
        )
        message_id: int | None = None
        allow = p.get_bool("allow_sending_without_reply")
        if isinstance(reply, dict):
            message_id = _maybe_int(reply.get("message_id"))
            allow = allow or bool(reply.get("allow_sending_without_reply"))
        elif p.has("reply_to_message_id"):
            message_id = p.get_int("reply_to_message_id")
        if message_id is None:
            return None
        if message_id not in chat.messages:
            if allow:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return message_id

    def _options(self, p: Params) -> dict[str, Any]:
        keys = (
            "disable_notification",
            "protect_content",
            "link_preview_options",
            "disable_web_page_preview",
            "message_thread_id",
            "message_effect_id",
        )
        return {k: p.raw(k) for k in keys if p.raw(k) is not None}

    def _bot_message(
        self,
        chat: Chat,
        *,
        kind: str,
        content: dict[str, Any],
        text: str | None,
        source: str | None,
        parse_mode: str | None,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
        reply_to: int | None,
        options: dict[str, Any],
        file: StoredFile | None = None,
    ) -> SentMessage:
        raw: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": self.bot_user,
            "chat": chat.to_dict(),
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            raw["reply_to_message"] = _without_reply(chat.messages[reply_to])
        if markup and "inline_keyboard" in markup:
            raw["reply_markup"] = markup  # only inline keyboards come back in Message
        if markup and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        chat.messages[raw["message_id"]] = raw
        sent = SentMessage(
            message_id=raw["message_id"],
            chat_id=chat.id,
            kind=kind,
            text=text,
            source=source,
            parse_mode=parse_mode,
            entities=entities,
            reply_markup=markup,
            raw=raw,
            file=file,
            reply_to_message_id=reply_to,
            options=options,
        )
        chat.inbox.append(sent)
        self.sent.append(sent)
        self._notify()
        return sent

    # Bot API methods ---------------------------------------------------------------------

    async def _m_getMe(self, p: Params, request: web.Request) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.group_privacy,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getUpdates(self, p: Params, request: web.Request) -> Any:
        if self.webhook_url:
            raise ApiError(409, WEBHOOK_ACTIVE, kind="conflict")
        offset = p.get_int("offset")
        limit = max(1, min(100, p.get_int("limit") or 100))
        timeout = max(0.0, p.get_float("timeout") or 0.0)
        allowed = p.get_json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        self._confirm(offset)
        # Telegram ends an older long poll with 409 when a newer one arrives.
        if self._poll is not None:
            self._poll.superseded = True
            self._notify()
        me = _PollWaiter(request)
        self._poll = me
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if me.superseded:
                    transport = request.transport
                    if transport is not None and not transport.is_closing():
                        # A client that cancels its poll closes the socket just before it
                        # polls again; give that close a moment to arrive before judging.
                        await asyncio.sleep(0.05)
                        transport = request.transport
                    if transport is None or transport.is_closing():
                        # The client already gave up on this poll (e.g. PTB shutting down):
                        # nobody will read the answer, so it is not a rejection.
                        raise ApiError(409, POLL_SUPERSEDED, kind="silent")
                    raise ApiError(409, POLL_SUPERSEDED, kind="conflict")
                if self.webhook_url:
                    raise ApiError(409, WEBHOOK_ACTIVE, kind="conflict")
                updates = self._select_updates(limit)
                remaining = deadline - loop.time()
                if updates or remaining <= 0 or self._stopping:
                    return updates
                event = self._changed
                with self.parked(), contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            if self._poll is me:
                self._poll = None

    async def _m_setWebhook(self, p: Params, request: web.Request) -> Any:
        url = p.get_str("url") or ""
        secret = p.get_str("secret_token")
        if (
            secret is not None
            and secret != ""
            and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
        ):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not re.match(r"^https?://", url):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        max_connections = p.get_int("max_connections")
        if max_connections is not None and not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be in 1..100")
        allowed = p.get_json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        if p.get_bool("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = url
        self.webhook_secret = secret or None
        self.webhook_max_connections = max_connections or 40
        self._webhook_last_error = None
        if url:
            self._ensure_webhook_worker()
        self._notify()
        return True

    async def _m_deleteWebhook(self, p: Params, request: web.Request) -> Any:
        if p.get_bool("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = ""
        self.webhook_secret = None
        self._notify()
        return True

    async def _m_getWebhookInfo(self, p: Params, request: web.Request) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates:
                info["allowed_updates"] = self._allowed_updates
        if self._webhook_last_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    async def _m_setMyCommands(self, p: Params, request: web.Request) -> Any:
        commands = p.get_json("commands", "Bad Request: can't parse commands JSON object")
        if commands is None:
            commands = []
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        clean = []
        for item in commands:
            if not isinstance(item, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand: expected an Object")
            name = item.get("command")
            description = item.get("description")
            if not isinstance(name, str) or not BOT_COMMAND_RE.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not description.strip():
                raise ApiError(400, "Bad Request: command description must be non-empty")
            if len(description) > 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        self.commands[self._command_key(p)] = clean
        return True

    def _command_key(self, p: Params) -> tuple[str, str]:
        scope = p.get_json("scope", "Bad Request: can't parse BotCommandScope JSON object")
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        language = p.get_str("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(400, "Bad Request: invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    def get_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The commands the bot set for ``scope`` (default scope) and language."""
        key = json.dumps(scope or {"type": "default"}, sort_keys=True)
        return self.commands.get((key, language_code), [])

    async def _m_sendMessage(self, p: Params, request: web.Request) -> Any:
        chat = self._chat(p)
        self._check_reachable(chat)
        text, entities = self._message_text(p)
        markup = self._markup(p)
        reply_to = self._reply_to(p, chat)
        self._admit(chat)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        sent = self._bot_message(
            chat,
            kind="text",
            content=content,
            text=text,
            source=p.get_str("text"),
            parse_mode=p.get_str("parse_mode"),
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            options=self._options(p),
        )
        return sent.raw

    def _upload(
        self, p: Params, key: str, *, folder: str, prefix: str, max_size: int, photo: bool
    ) -> StoredFile:
        """The file for ``key``: an uploaded part, an existing file_id or a URL."""
        upload = p.files.get(key)
        value = p.get_str(key)
        if upload is None and value and value.startswith("attach://"):
            upload = p.files.get(value[len("attach://") :])
        if upload is not None:
            if len(upload.data) > max_size:
                if photo:
                    raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
                raise ApiError(413, "Request Entity Too Large", kind="too_large")
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            width = height = None
            if photo:
                dims = image_size(upload.data)
                if dims is None and thumbnail(upload.data, 90) is None:
                    raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
                if dims is not None:
                    width, height = dims
                    if width + height > 10000 or max(width, height) > 20 * max(
                        1, min(width, height)
                    ):
                        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
            return self.store_file(
                upload.data,
                folder,
                file_name=upload.filename,
                mime_type=upload.content_type,
                prefix=prefix,
                ext="jpg" if photo else None,
                width=width,
                height=height,
            )
        if not value:
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        if value in self.files:
            return self.files[value]
        if re.match(r"^https?://", value):
            return self.store_file(b"", folder, prefix=prefix, source_url=value)
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    async def _m_sendPhoto(self, p: Params, request: web.Request) -> Any:
        chat = self._chat(p)
        self._check_reachable(chat)
        stored = self._upload(
            p, "photo", folder="photos", prefix="AgAC", max_size=MAX_PHOTO_UPLOAD, photo=True
        )
        caption, entities = self._caption(p)
        markup = self._markup(p)
        reply_to = self._reply_to(p, chat)
        self._admit(chat)
        content = self._media_content("photo", stored, caption, entities)
        sent = self._bot_message(
            chat,
            kind="photo",
            content=content,
            text=caption,
            source=p.get_str("caption"),
            parse_mode=p.get_str("parse_mode"),
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            options=self._options(p),
            file=stored,
        )
        return sent.raw

    async def _m_sendDocument(self, p: Params, request: web.Request) -> Any:
        chat = self._chat(p)
        self._check_reachable(chat)
        stored = self._upload(
            p, "document", folder="documents", prefix="BQAC", max_size=MAX_FILE_UPLOAD, photo=False
        )
        caption, entities = self._caption(p)
        markup = self._markup(p)
        reply_to = self._reply_to(p, chat)
        self._admit(chat)
        content = self._media_content("document", stored, caption, entities)
        sent = self._bot_message(
            chat,
            kind="document",
            content=content,
            text=caption,
            source=p.get_str("caption"),
            parse_mode=p.get_str("parse_mode"),
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            options=self._options(p),
            file=stored,
        )
        return sent.raw

    def _media_content(
        self,
        kind: str,
        stored: StoredFile,
        caption: str | None,
        entities: list[dict[str, Any]],
    ) -> dict[str, Any]:
        content: dict[str, Any]
        if kind == "photo":
            sizes = (
                [_photo_size(stored)]
                if stored.width
                else [{**_photo_size(stored), "width": 1280, "height": 960}]
            )
            content = {"photo": sizes}
        else:
            document: dict[str, Any] = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": stored.size,
            }
            if stored.file_name:
                document["file_name"] = stored.file_name
            if stored.mime_type:
                document["mime_type"] = stored.mime_type
            content = {kind: document}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return content

    async def _m_sendChatAction(self, p: Params, request: web.Request) -> Any:
        chat = self._chat(p)
        self._check_reachable(chat)
        action = p.get_str("action")
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        chat.actions.append(action)
        self._notify()
        return True

    async def _m_answerCallbackQuery(self, p: Params, request: web.Request) -> Any:
        query_id = p.get_str("callback_query_id")
        query = self._callback_queries.get(query_id or "")
        if query is None or query.answered:
            raise ApiError(400, QUERY_TOO_OLD)
        if (
            self.callback_query_ttl is not None
            and self.clock() - query.created > self.callback_query_ttl
        ):
            raise ApiError(400, QUERY_TOO_OLD)
        text = p.get_str("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_TEXT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered = True
        query.person.callback_answers.append(
            CallbackAnswer(
                query_id=query.query_id,
                data=query.data,
                message_id=query.message_id,
                text=text,
                show_alert=p.get_bool("show_alert"),
                url=p.get_str("url"),
                cache_time=p.get_int("cache_time"),
            )
        )
        self._notify()
        return True

    async def _m_getFile(self, p: Params, request: web.Request) -> Any:
        file_id = p.get_str("file_id")
        if not file_id:
            raise ApiError(400, "Bad Request: file_id is empty")
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    # Webhook delivery --------------------------------------------------------------------

    def _ensure_webhook_worker(self) -> None:
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())

    async def _webhook_loop(self) -> None:
        """Delivery as Telegram does it: up to ``max_connections`` POSTs at once, but one update
        per chat at a time — the next update of a chat waits until the bot answered the one
        before (or the retry of a refused one succeeded) — so each chat's order holds."""
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        posting: dict[int, asyncio.Task[None]] = {}  # update_id → its POST
        chats: set[Any] = set()  # chats with an update being posted

        async def post(session: aiohttp.ClientSession, update: dict[str, Any], chat: Any) -> None:
            try:
                async with self.delivering():
                    await self._deliver(session, update)
            finally:
                posting.pop(update["update_id"], None)
                chats.discard(chat)
                self.notify()

        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            try:
                while self.webhook_url and not self._stopping:
                    event = self._changed
                    self._updates = [u for u in self._updates if self._allowed(u)]
                    for update in self._updates:
                        if len(posting) >= self.webhook_max_connections:
                            break
                        chat = _chat_of(update)
                        if update["update_id"] in posting or chat in chats:
                            continue
                        chats.add(chat)
                        task = asyncio.create_task(post(session, copy.deepcopy(update), chat))
                        posting[update["update_id"]] = task
                    await event.wait()
            finally:
                for task in list(posting.values()):
                    task.cancel()
                await asyncio.gather(*posting.values(), return_exceptions=True)

    async def _deliver(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        url = self.webhook_url
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        status: int | None = None
        error: str | None = None
        reply: Any = None
        try:
            async with session.post(url, data=_dumps(update), headers=headers) as response:
                status = response.status
                if 200 <= status < 300 and response.content_type == "application/json":
                    with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                        reply = await response.json()
                else:
                    await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {exc!r}"
        self.webhook_deliveries.append(
            WebhookDelivery(
                update_id=update["update_id"],
                url=url,
                status=status,
                error=error,
                secret_sent=bool(self.webhook_secret),
                at=time.time(),
            )
        )
        if status is not None and 200 <= status < 300:
            self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
            self._notify()
            if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                await self._webhook_reply(reply)
            return
        message = error or f"Wrong response from the webhook: {status} {_phrase(status or 500)}"
        self._webhook_last_error = (int(time.time()), message)
        self._notify()
        await asyncio.sleep(self.webhook_retry_delay)

    async def _webhook_reply(self, reply: dict[str, Any]) -> None:
        """A method call returned in the webhook response body, executed like Telegram does."""
        method = reply["method"]
        params = Params({k: v for k, v in reply.items() if k != "method"}, {})
        # getUpdates needs an HTTP request of its own; Telegram refuses it here anyway.
        handler = self._methods.get(method.lower()) if method.lower() != "getupdates" else None
        chat_id = _maybe_int(params.raw("chat_id"))
        try:
            if handler is None:
                raise ApiError(404, "Not Found", kind="not_found")
            await handler(params, None)  # type: ignore[arg-type]
        except ApiError as exc:
            self._error_response(method, params, exc, chat_id)
            return
        self._record(method, params, 200, True, None, chat_id)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _chat_of(update: dict[str, Any]) -> Any:
    """The chat an update belongs to (its sender for updates without a chat); an update of
    neither kind is a chat of its own."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return chat["id"]
        sender = value.get("from") or value.get("user")
        if isinstance(sender, dict) and "id" in sender:
            return ("user", sender["id"])
    return ("update", update["update_id"])


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _maybe_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _photo_size(stored: StoredFile) -> dict[str, Any]:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": stored.width or 0,
        "height": stored.height or 0,
        "file_size": stored.size,
    }
