"""The terminal channel: the same flows on stdin/stdout, numbered choices, /file PATH uploads."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path
from typing import TextIO

from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.flows.types import Capabilities, FileIn, Incoming, Kind, Reply
from bot.handlers.rendering import channel_text
from ocop_core.i18n import N_, translate
from ocop_core.services.context import CoreContext

CAPS = Capabilities(buttons=False, max_text=100_000, receive_pdf=True, send_files=True)
MAX_FILE = 30 * 1024 * 1024  # read at most this much; the pipeline refuses what is larger


def parse_line(line: str, user: str) -> Incoming:
    text = line.rstrip("\n")
    base = {"channel": "terminal", "user_id": user, "chat_id": user, "display_name": user}
    if text.startswith("/file"):
        files = []
        try:
            parts = shlex.split(text[5:])
        except ValueError:
            parts = text[5:].split()
        for part in parts:
            path = Path(part).expanduser()
            try:
                with path.open("rb") as fh:
                    data = fh.read(MAX_FILE + 1)
            except OSError:
                return Incoming(
                    kind=Kind.TEXT, text="", file_error=N_("terminal.file_unreadable"), **base
                )
            files.append(FileIn(data=data, filename=path.name))
        if not files:
            return Incoming(kind=Kind.TEXT, text="", file_error=N_("terminal.file_usage"), **base)
        return Incoming(kind=Kind.FILES, files=tuple(files), **base)
    if text.startswith("/") and len(text) > 1:
        command, _, args = text[1:].partition(" ")
        return Incoming(kind=Kind.COMMAND, command=command.lower(), args=args.strip(), **base)
    return Incoming(kind=Kind.TEXT, text=text, **base)


def render(reply: Reply, locale: str = "vi") -> str:
    lines = [channel_text(reply.text, locale, buttons=False)]
    for number, choice in enumerate(reply.choices, start=1):
        lines.append(f"  {number}. {choice.label}")
    for f in reply.files:
        lines.append(f"  [{f.filename}] {f.path}")
    return "\n".join(lines)


async def chat(
    sessions: object,
    core: CoreContext,
    user: str,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    locale: str = "vi",
) -> None:
    conversations = Conversations(sessions, core, build_flows())  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    print(translate(N_("terminal.intro"), locale, user=user), file=stdout, flush=True)
    while True:
        print("> ", end="", file=stdout, flush=True)
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        if not line.strip():
            continue
        result = await conversations.handle(parse_line(line, user), CAPS)
        for reply in result.replies:
            print(render(reply, result.locale), file=stdout, flush=True)
        print(file=stdout, flush=True)
