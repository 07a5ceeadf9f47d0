"""Count: messages a first-time producer sends from /start to a receipt code, per channel.

A simple first-timer answers whatever the bot asks (taps on Telegram, typed numbers or words on
Zalo), through the real router, flows and core on a real SQLite file. Nothing is timed.

    python bench/messages_to_receipt.py
    OCOP_ROOT=/path/to/an/older/checkout python bench/messages_to_receipt.py   # "before"
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path

sys.path.insert(0, os.environ.get("OCOP_ROOT") or str(Path(__file__).resolve().parent.parent))

from bot.app import prepare_database
from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.flows.types import Incoming, Kind, Reply
from bot.handlers.telegram import CAPS as TELEGRAM
from bot.handlers.zalo import CAPS as ZALO
from ocop_core.clock import VN_TZ, FixedClock
from ocop_core.db import make_engine, session_factory
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext

TRACE = "--trace" in sys.argv
LIMIT = 60  # a first-timer who needs this many messages has given up
# Options a first-timer picks, by a word of their label (first that is offered wins).
PICK = [
    "tieng viet",
    "chu the san xuat",
    "toi dong y",
    "dang ky san pham",
    "hop tac xa",
    "xa binh lu",
    "dung",
    "thuc pham",
    "mat ong",
    "tren 75%",
    "truyen thong",
    "trong tinh",
    "bao bi",
    "lan dau",
    "xac nhan",
    "bo qua",
]
# What they type when asked, by a word of the question.
TYPE = [
    ("so dien thoai", "0912345678"),
    ("ten chu the", "HTX Ong mật Bình Lư"),
    ("dai dien", "Lò Văn A"),
    ("tinh", "lai chau"),
    ("xa/phuong", "binh lu"),
    ("ten xa", "binh lu"),
    ("ten san pham", "Mật ong bạc hà"),
    ("mo ta", "Mật ong hoa bạc hà."),
    ("nguoi", "12"),
    ("lao dong", "12"),
    ("ban sac", "Nghề nuôi ong"),
]


def fold(text: str) -> str:
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return " ".join(
        "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower().split()
    )


def answer(replies: list[Reply], buttons: bool) -> Incoming | str:
    """The first-timer's next message: a tap (Incoming), or text to type."""
    last = replies[-1]
    labels = [fold(c.label) for c in last.choices]
    question = fold(last.text.split("\n\n")[-1])
    if last.request_contact and buttons:
        return Incoming("", "", "", Kind.CONTACT, phone="+84912345678")
    for word in PICK:
        for n, label in enumerate(labels):
            if word in label and not ("khong" in label and word == "toi dong y"):
                if buttons:
                    return Incoming(
                        "", "", "", Kind.CHOICE, choice=last.choices[n].id, token=last.token
                    )
                return str(n + 1)
    for word, typed in TYPE:
        if word in question:
            return typed
    if labels and not all(("quay lai" in la or "bo qua" in la) for la in labels):
        return (
            Incoming("", "", "", Kind.CHOICE, choice=last.choices[0].id, token=last.token)
            if buttons
            else "1"
        )
    return "Mật ong bạc hà"


async def count(conv: Conversations, channel: str, buttons: bool) -> int:
    caps = TELEGRAM if buttons else ZALO
    base = {"channel": channel, "user_id": f"first-{channel}", "chat_id": f"first-{channel}"}
    message: Incoming | str = Incoming(kind=Kind.COMMAND, command="start", **base)
    for sent in range(1, LIMIT + 1):
        if isinstance(message, str):
            message = Incoming(kind=Kind.TEXT, text=message, **base)
        else:
            message = Incoming(**{**message.__dict__, **base})
        result = await conv.handle(message, caps)
        if TRACE:
            shown = message.text or message.choice or message.command or message.kind
            print(f"{channel} {sent:2}> {shown!s:30.30} | {result.replies[-1].text[-70:]!r}")
        if any("Mã hồ sơ" in r.text for r in result.replies):
            return sent
        message = answer(result.replies, buttons)
    return LIMIT


async def run() -> None:
    path = Path(tempfile.mkdtemp(prefix="ocop-count-")) / "count.sqlite3"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await prepare_database(engine)
    ctx = CoreContext(
        clock=FixedClock(datetime(2026, 9, 1, 9, tzinfo=VN_TZ)),
        plans=PlanRegistry(),
        data_dir=path.parent,
    )
    conv = Conversations(session_factory(engine), ctx, build_flows())
    telegram = await count(conv, "telegram", buttons=True)
    zalo = await count(conv, "zalo", buttons=False)
    await engine.dispose()
    print(
        f"messages from /start to a receipt code: telegram {telegram} (goal <= 15), "
        f"zalo {zalo} (goal <= 18)"
    )


if __name__ == "__main__":
    asyncio.run(run())
