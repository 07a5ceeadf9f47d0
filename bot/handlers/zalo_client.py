"""A small Zalo Bot Platform client on aiohttp (no SDK fits an aiohttp service).

Calls are ``POST {base}/bot{token}/{method}`` with a JSON body; answers are
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": n, "description": ...}``.
The token is part of every URL, so no URL is ever put in an exception or a log line.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

log = logging.getLogger("ocop.zalo")

MAX_TEXT = 2000  # sendMessage text and sendPhoto caption, 1–2000 characters
POLL_TIMEOUT = 30  # seconds getUpdates may hold the request


class ZaloError(Exception):
    """An error answer of the Bot API (``code`` mirrors the HTTP status), or a transport failure
    (``code`` 0). Never carries the URL, which holds the token."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"{method}: {code} {description}")
        self.method = method
        self.code = code
        self.description = description

    @property
    def transient(self) -> bool:
        """Worth trying again: quota (429), server trouble (5xx) or the network (0)."""
        return self.code in (0, 429) or self.code >= 500


class ZaloClient:
    def __init__(
        self,
        token: str,
        base_url: str = "https://bot-api.zaloplatforms.com",
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the token
        return f"<ZaloClient {self.base_url}>"

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (a per-call HTTP timeout)
    ) -> Any:
        """One API call; the ``result`` on success, ``ZaloError`` otherwise."""
        url = f"{self.base_url}/bot{self._token}/{method}"
        http = await self._http()
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with http.post(url, json=params or {}, timeout=limit) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # str(exc) of some aiohttp errors contains the URL, hence only the type.
            raise ZaloError(method, 0, type(exc).__name__) from None
        if not isinstance(body, dict):
            raise ZaloError(method, status if status >= 400 else 502, "answer is not JSON")
        if body.get("ok") is True and status < 400:
            return body.get("result")
        code = body.get("error_code")
        code = code if isinstance(code, int) else (status if status >= 400 else 500)
        raise ZaloError(method, code, str(body.get("description") or "error"))

    # -- methods ----------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return await self.call("getMe")  # type: ignore[no-any-return]

    async def get_update(self, timeout: int = POLL_TIMEOUT) -> dict[str, Any] | None:  # noqa: ASYNC109
        """One update, or None when the long poll ended empty (HTTP 408)."""
        try:
            result = await self.call("getUpdates", {"timeout": str(timeout)}, timeout=timeout + 15)
        except ZaloError as exc:
            if exc.code == 408:
                return None
            raise
        return result if isinstance(result, dict) and result else None

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})  # type: ignore[no-any-return]

    async def send_photo(self, chat_id: str, photo_url: str, caption: str = "") -> dict[str, Any]:
        params = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            params["caption"] = caption
        # Zalo downloads the photo before it answers: allow it time.
        return await self.call("sendPhoto", params, timeout=60)  # type: ignore[no-any-return]

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})
