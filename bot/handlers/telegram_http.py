"""python-telegram-bot's HTTP over aiohttp instead of httpx.

PTB sends through a replaceable ``BaseRequest`` (its documented extension point; PTB's own
ptbcontrib has an aiohttp one, not published on PyPI). Measured by ``bench/http_clients.py``,
an httpx request cost about 2 ms of CPU with 16 in flight, aiohttp's 0.25 ms: with one reply
per update, httpx was a third of the bot's whole budget (bench/README.md, Throughput).
aiohttp is already the bot's web server and its Zalo client.

The wire format stays PTB's: a form (urlencoded, or multipart with files), PTB's timeouts and
its errors (``TimedOut``, ``NetworkError``) for the same failures.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT = BaseRequest.DEFAULT_NONE


class AiohttpRequest(BaseRequest):
    """One aiohttp session with up to ``connection_pool_size`` connections."""

    __slots__ = ("_connect", "_media_write", "_pool", "_read", "_session", "_size", "_write")

    def __init__(
        self,
        connection_pool_size: int = 256,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._size = connection_pool_size
        self._read, self._write = read_timeout, write_timeout
        self._connect, self._pool = connect_timeout, pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = _DEFAULT,
        write_timeout: Any = _DEFAULT,
        connect_timeout: Any = _DEFAULT,
        pool_timeout: Any = _DEFAULT,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        files = request_data is not None and request_data.contains_files
        read = self._read if read_timeout is _DEFAULT else read_timeout
        write = (
            (self._media_write if files else self._write)
            if write_timeout is _DEFAULT
            else write_timeout
        )
        connect = self._connect if connect_timeout is _DEFAULT else connect_timeout
        pool = self._pool if pool_timeout is _DEFAULT else pool_timeout
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no write timeout: sending may take at most this long overall.
            total=None if None in (read, write, connect, pool) else read + write + connect + pool,
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _body(request_data: RequestData | None) -> Any:
    """PTB's parameters as a form, with its files as multipart parts."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not request_data.contains_files:
        return fields
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form
