"""Start the real ``ocop-bot run`` as a child process for end-to-end tests, and stop it by pid."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.telegram_api import FakeTelegramServer, RateLimits

BIN = Path(sys.executable).parent / "ocop-bot"

# A migrated SQLite database (conftest's ``sqlite_template``, set for the whole run): a bot on the
# default database starts from a copy of it, as after ``ocop-bot db upgrade``, instead of making
# every table and loading the communes itself. A first start on an empty data dir: test_cli.
SQLITE_TEMPLATE: Path | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pacing_env(server: FakeTelegramServer) -> dict[str, str]:
    """The bot's pacing for the flood model this fake enforces: Telegram's own limits (nothing
    to set), or all of them ×N (then the bot's per-chat and global rates ×N too)."""
    limits = server.rate_limits
    scale = limits.overall[-1].count / RateLimits().overall[-1].count
    assert limits == RateLimits().scaled(scale), f"not Telegram's limits scaled: {limits}"
    if scale == 1:
        return {}
    return {
        "OCOP_TELEGRAM_CHAT_RATE": f"{scale:g}",
        "OCOP_TELEGRAM_GLOBAL_RATE": f"{30 * scale:g}",
    }


@dataclass
class BotProcess:
    data_dir: Path
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    output: list[str] = field(default_factory=list)
    web_port: int | None = None
    _reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 90) -> None:  # noqa: ASYNC109
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
        env.update(OCOP_DATA_DIR=str(self.data_dir), **self.env)
        env.setdefault("OCOP_WEB_PORT", "0")
        database = self.data_dir / "ocop.sqlite3"
        if SQLITE_TEMPLATE and "OCOP_DATABASE_URL" not in self.env and not database.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SQLITE_TEMPLATE, database)
        self.proc = await asyncio.create_subprocess_exec(
            str(BIN),
            "run",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.data_dir.parent,
        )
        ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read(ready))
        try:
            await asyncio.wait_for(ready.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise AssertionError("bot did not start:\n" + "\n".join(self.output)) from None

    async def _read(self, ready: asyncio.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                ready.set()
                return
            text = line.decode(errors="replace").rstrip()
            self.output.append(text)
            found = re.search(r"Web server on http://127\.0\.0\.1:(\d+)", text)
            if found:
                self.web_port = int(found.group(1))
            if "Ready." in text:
                ready.set()

    async def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)
        code = self.proc.returncode
        self.proc = None
        return code

    @property
    def log(self) -> str:
        return "\n".join(self.output)
