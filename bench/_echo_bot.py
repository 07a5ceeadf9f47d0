"""The baseline for bench/telegram_throughput.py: a bare python-telegram-bot echo bot.

python bench/_echo_bot.py BASE_URL TOKEN
"""

from __future__ import annotations

import asyncio
import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message and update.message.text:
        await update.message.reply_text(update.message.text)


async def main(base_url: str, token: str) -> None:
    app = Application.builder().token(token).base_url(base_url).concurrent_updates(True).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=20)
        print("ready", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await app.updater.stop()
            await app.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
