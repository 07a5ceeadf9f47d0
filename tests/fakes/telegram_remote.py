"""Run the fake Telegram server as a separate process and drive it over its control API.

    with start_fake_telegram_process(max_seconds=120) as fake:   # a FakeTelegramProcess
        bot = subprocess.Popen([... bot ...], env={"OCOP_TELEGRAM_API_URL": fake.base_url, ...})
        async with fake.client() as tg:                            # a RemoteFakeTelegram
            alice = await tg.person(first_name="Alice")
            await alice.send_text("/start")
            [reply] = await alice.wait_for_messages(1, timeout=10)
            await tg.assert_no_rejections()

The process prints its port, exits after ``max_seconds`` or when its parent dies, and is
stopped by pid (SIGTERM, then SIGKILL) when the context manager exits.
"""

# Waiting helpers take timeout= on purpose: tests read better than with asyncio.timeout().
# ruff: noqa: ASYNC109

from __future__ import annotations

import base64
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.telegram_api import DEFAULT_TOKEN, CallbackAnswer, Rejection, SentMessage

__all__ = [
    "FakeTelegramProcess",
    "RemoteFakeTelegram",
    "RemotePerson",
    "start_fake_telegram_process",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


class RemoteError(RuntimeError):
    """The control API refused a call (bad arguments, unknown person, ...)."""


class RemoteFakeTelegram:
    """Client of a fake server's ``/_fake/`` control API (same vocabulary as the in-process
    server, but every call is awaited)."""

    def __init__(self, url: str, token: str = DEFAULT_TOKEN) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def __aenter__(self) -> RemoteFakeTelegram:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        verb: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(
            verb,
            f"{self.url}/_fake/{path}",
            json=body,
            timeout=aiohttp.ClientTimeout(total=timeout + 5),
        ) as response:
            data = await response.json(content_type=None)
            if response.status == 408:
                raise TimeoutError(data.get("error"))
            if response.status >= 400:
                raise RemoteError(data.get("error") or f"HTTP {response.status}")
            return data

    # People and chats --------------------------------------------------------------------

    async def person(
        self,
        user_id: int | None = None,
        first_name: str = "Alice",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "vi",
    ) -> RemotePerson:
        body = {
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        if user_id is not None:
            body["user_id"] = user_id
        data = await self._call("POST", "persons", body)
        return RemotePerson(self, data["user_id"])

    async def group(
        self, title: str = "Nhóm OCOP", members: Sequence[RemotePerson] = (), **kwargs: Any
    ) -> int:
        body = {"title": title, "member_ids": [m.user_id for m in members], **kwargs}
        return (await self._call("POST", "groups", body))["chat_id"]

    async def inbox(self, chat_id: int, since: int = 0) -> list[SentMessage]:
        data = await self._call("GET", f"chats/{chat_id}/inbox?since={since}")
        return [SentMessage.from_json(m) for m in data["messages"]]

    async def wait_for_messages(
        self,
        chat_id: int,
        n: int = 1,
        timeout: float = 5.0,
        since: int | None = None,
    ) -> list[SentMessage]:
        data = await self._call(
            "POST",
            f"chats/{chat_id}/wait_for_messages",
            {"n": n, "timeout": timeout, "since": since},
            timeout=timeout,
        )
        return [SentMessage.from_json(m) for m in data["messages"]]

    # Logs and knobs ----------------------------------------------------------------------

    async def log(self) -> dict[str, Any]:
        return await self._call("GET", "log")

    async def rejections(self) -> list[Rejection]:
        return [Rejection(**r) for r in (await self.log())["rejections"]]

    async def assert_no_rejections(self) -> None:
        bad = [r for r in await self.rejections() if not r.expected]
        if bad:
            lines = "\n".join(f"  {r.method}: {r.error_code} {r.description}" for r in bad)
            raise AssertionError(
                f"the fake Telegram server rejected {len(bad)} request(s):\n{lines}"
            )

    async def inject(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        *,
        chat_id: int | None = None,
    ) -> None:
        await self._call(
            "POST",
            "inject",
            {
                "method": method,
                "error_code": error_code,
                "description": description,
                "retry_after": retry_after,
                "times": times,
                "chat_id": chat_id,
            },
        )

    async def clear_faults(self) -> None:
        await self._call("POST", "clear_faults")

    async def fail_all(self, status: int = 502, description: str | None = None) -> None:
        await self._call("POST", "fail_all", {"status": status, "description": description})

    async def recover(self) -> None:
        await self._call("POST", "recover")

    async def set_rate_limits(self, **fields: Any) -> dict[str, Any]:
        """Change RateLimits fields (per_chat_rate, global_rate, enabled, ...)."""
        return (await self._call("POST", "rate_limits", fields))["result"]

    async def commands(self, language_code: str = "") -> list[dict[str, str]]:
        return (await self._call("GET", f"commands?language_code={language_code}"))["result"]

    async def shutdown(self) -> None:
        await self._call("POST", "shutdown")


class RemotePerson:
    """A person on a separate-process fake; mirrors ``Person`` (reads are awaited)."""

    def __init__(self, client: RemoteFakeTelegram, user_id: int) -> None:
        self.client = client
        self.user_id = user_id

    @property
    def chat_id(self) -> int:
        return self.user_id

    async def _act(self, action: str, **kwargs: Any) -> Any:
        group = kwargs.get("in_group")
        if group is False or group is None:
            kwargs.pop("in_group", None)
        return (await self.client._call("POST", f"persons/{self.user_id}/{action}", kwargs))[
            "result"
        ]

    async def send_text(self, text: str, *, in_group: bool | int = False) -> dict[str, Any]:
        return await self._act("send_text", text=text, in_group=in_group)

    async def press(self, label: str, *, message_id: int | None = None) -> str:
        return await self._act("press", label=label, message_id=message_id)

    async def press_data(self, data: str, *, message_id: int | None = None) -> str:
        return await self._act("press_data", data=data, message_id=message_id)

    async def tap_keyboard(self, label: str) -> dict[str, Any]:
        return await self._act("tap_keyboard", label=label)

    async def send_photo(
        self, data: bytes, caption: str | None = None, *, media_group_id: str | None = None
    ) -> dict[str, Any]:
        return await self._act(
            "send_photo",
            data_b64=base64.b64encode(data).decode(),
            caption=caption,
            media_group_id=media_group_id,
        )

    async def send_album(
        self, images: Sequence[bytes], caption: str | None = None
    ) -> list[dict[str, Any]]:
        return await self._act(
            "send_album",
            images_b64=[base64.b64encode(i).decode() for i in images],
            caption=caption,
        )

    async def send_document(
        self,
        data: bytes,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> dict[str, Any]:
        return await self._act(
            "send_document",
            data_b64=base64.b64encode(data).decode(),
            file_name=file_name,
            mime_type=mime_type,
            caption=caption,
        )

    async def share_contact(self, phone: str = "+84912345678", *, own: bool = True) -> Any:
        return await self._act("share_contact", phone=phone, own=own)

    async def send_sticker(self, emoji: str = "👍") -> dict[str, Any]:
        return await self._act("send_sticker", emoji=emoji)

    async def send_voice(self, duration: int = 3) -> dict[str, Any]:
        return await self._act("send_voice", duration=duration)

    async def send_location(
        self, latitude: float = 21.0278, longitude: float = 105.8342
    ) -> dict[str, Any]:
        return await self._act("send_location", latitude=latitude, longitude=longitude)

    async def edit_last_text(self, text: str) -> dict[str, Any]:
        return await self._act("edit_last_text", text=text)

    async def block_bot(self, *, notify: bool = True) -> None:
        await self.client._call("POST", f"persons/{self.user_id}/block", {"notify": notify})

    async def unblock_bot(self, *, notify: bool = True) -> None:
        await self.client._call("POST", f"persons/{self.user_id}/unblock", {"notify": notify})

    async def inbox(self) -> list[SentMessage]:
        return await self.client.inbox(self.user_id)

    async def last_text(self) -> str | None:
        for message in reversed(await self.inbox()):
            if not message.deleted and message.text is not None:
                return message.text
        return None

    async def wait_for_messages(
        self,
        n: int = 1,
        timeout: float = 5.0,
        *,
        since: int | None = None,
    ) -> list[SentMessage]:
        return await self.client.wait_for_messages(self.user_id, n, timeout, since)

    async def callback_answers(self) -> list[CallbackAnswer]:
        data = await self.client._call("GET", f"persons/{self.user_id}/callback_answers")
        return [CallbackAnswer(**a) for a in data["result"]]

    async def wait_for_callback_answer(
        self,
        timeout: float = 5.0,
        *,
        count: int | None = None,
    ) -> CallbackAnswer:
        data = await self.client._call(
            "POST",
            f"persons/{self.user_id}/wait_for_callback_answer",
            {"timeout": timeout, "count": count},
            timeout=timeout,
        )
        return CallbackAnswer(**data["result"])


@dataclass
class FakeTelegramProcess:
    """A fake server running in a child process."""

    process: subprocess.Popen[str]
    port: int
    token: str

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def client(self) -> RemoteFakeTelegram:
        return RemoteFakeTelegram(self.url, self.token)

    def stop(self, timeout: float = 5.0) -> int:
        """Stop the process by its pid: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def launch_fake_telegram_process(
    *extra_args: str,
    max_seconds: float = 300.0,
    token: str = DEFAULT_TOKEN,
    startup_timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> FakeTelegramProcess:
    """Start ``python -m tests.fakes.telegram_api`` and wait for it to print its port."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH", "")) if p
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.telegram_api",
            "--port",
            "0",
            "--token",
            token,
            "--max-seconds",
            str(max_seconds),
            "--parent-pid",
            str(os.getpid()),
            *extra_args,
        ],
        cwd=REPO_ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + startup_timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            fake = FakeTelegramProcess(process, 0, token)
            code = fake.stop()
            raise RuntimeError(f"fake Telegram process did not start (exit code {code})")
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            line = process.stdout.readline().strip()
            if line.isdigit():
                return FakeTelegramProcess(process, int(line), token)


@contextmanager
def start_fake_telegram_process(
    *extra_args: str, max_seconds: float = 300.0, token: str = DEFAULT_TOKEN
) -> Iterator[FakeTelegramProcess]:
    fake = launch_fake_telegram_process(*extra_args, max_seconds=max_seconds, token=token)
    try:
        yield fake
    finally:
        fake.stop()
