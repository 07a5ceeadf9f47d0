"""The baseline for bench/zalo_throughput.py: a bare aiohttp echo bot on Zalo's Bot Platform
(webhook in, sendMessage out), the least any Zalo bot must do per message.

python bench/_zalo_echo_bot.py API_URL TOKEN PORT SECRET
"""

from __future__ import annotations

import asyncio
import hmac
import sys
from typing import Any

import aiohttp
from aiohttp import web


async def main(api: str, token: str, port: int, secret: str) -> None:
    http = aiohttp.ClientSession()
    tasks: set[asyncio.Task[Any]] = set()

    async def reply(chat_id: str, text: str) -> None:
        url = f"{api}/bot{token}/sendMessage"
        async with http.post(url, json={"chat_id": chat_id, "text": text}) as resp:
            await resp.read()

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("X-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=403)
        body = await request.json()
        message = (body.get("result") or body).get("message") or {}
        if message.get("text"):
            task = asyncio.create_task(reply(message["chat"]["id"], message["text"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/zalo/webhook", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook = {"url": f"http://127.0.0.1:{port}/zalo/webhook", "secret_token": secret}
    async with http.post(f"{api}/bot{token}/setWebhook", json=hook) as resp:
        assert resp.status == 200, await resp.text()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await http.close()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
