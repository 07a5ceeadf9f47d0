"""Benchmark: CPU per Bot API request, httpx (python-telegram-bot's default) against aiohttp
(``bot/handlers/telegram_http.py``), one at a time and 16 in flight.

A small aiohttp server in a child process answers each form POST with a sendMessage result;
this process sends 3,000 requests per case and prints its own CPU time per request.

    python bench/http_clients.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

SERVER = """
import sys
from aiohttp import web
BODY = b'{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":1,"type":"private"}}}'
async def answer(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_post("/bot{token}/{method}", answer)
ready = lambda *_: print("ready", flush=True)  # noqa: E731
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=ready)
"""

FORM = {
    "chat_id": "1",
    "text": "Xin chào! Chọn ngôn ngữ / Choose a language:" * 3,
    "parse_mode": "HTML",
    "reply_markup": json.dumps(
        {"inline_keyboard": [[{"text": "Tiếng Việt", "callback_data": "a"}]]}
    ),
}


async def cpu_per_request(
    send: Callable[[], Awaitable[None]], requests: int, in_flight: int
) -> float:
    async def worker() -> None:
        for _ in range(requests // in_flight):
            await send()

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return (time.process_time() - started) / requests * 1e6


async def measure(port: int, requests: int) -> None:
    url = f"http://127.0.0.1:{port}/bot123:abc/sendMessage"
    limits = httpx.Limits(max_connections=256)
    async with (
        httpx.AsyncClient(limits=limits) as hx,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as ah,
    ):

        async def by_httpx() -> None:
            (await hx.post(url, data=FORM)).raise_for_status()

        async def by_aiohttp() -> None:
            async with ah.post(url, data=FORM) as response:
                response.raise_for_status()
                await response.read()

        print(f"{requests} form POSTs per case, CPU of this process per request")
        for in_flight in (1, 16):
            for name, send in (("httpx", by_httpx), ("aiohttp", by_aiohttp)):
                await send()  # connection open, imports done
                us = await cpu_per_request(send, requests, in_flight)
                print(f"  {name:8} {in_flight:2} in flight: {us:6.0f} µs")


def main(requests: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        asyncio.run(measure(port, requests))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    main(parser.parse_args().requests)
