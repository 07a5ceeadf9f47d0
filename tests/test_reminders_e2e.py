"""The real processes against the fake Bot API (in this test's event loop, enforcing Telegram's
flood limits scaled ×10 so runs stay short): ``ocop-bot remind`` twice at once for 100 people,
and a fan-out through ``ocop-bot run`` killed with SIGKILL part-way and restarted — 200 people
here, 5,000 in ``bench/crash_fanout.py`` (same scenario, ``sigkill_fan_out``)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.cli import main as cli_main
from ocop_core.db import make_engine, session_factory
from ocop_core.lifecycle import Stage
from ocop_core.models import Fire, FireStatus, Outbox, OutboxStatus
from tests.botprocess import BotProcess
from tests.conftest import Core
from tests.fakes.telegram_api import FakeTelegramServer, RateLimits
from tests.reminders_world import seed_producers
from tests.test_cli import ocop_here

# Whole journeys with a bot process: minutes on a busy machine, not the default minute.
pytestmark = pytest.mark.timeout(180)

BIN = Path(sys.executable).parent / "ocop-bot"
SCALE = 10  # 300 messages/s overall and 10/s per chat at the fake server
NOW = "2024-10-23T08:00:00+07:00"  # 7 days before Lai Châu's district deadline of 30/10/2024


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(rate_limits=RateLimits().scaled(SCALE)) as fake:
        yield fake


# The fan-out runs at ×5 (150/s): the fake server's global bucket holds 30 requests, so at ×10 a
# 100 ms pause of this test process (a GC of its big logs, a busy CI neighbour) would already
# bunch arrivals past it. At ×5 that takes 200 ms; Telegram's real bucket tolerates a second.
CRASH_SCALE = 5


@pytest.fixture
async def slower_server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(rate_limits=RateLimits().scaled(CRASH_SCALE)) as fake:
        yield fake


def env_for(
    url: str, server: FakeTelegramServer | None = None, scale: int = SCALE, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
    env.update(OCOP_DATABASE_URL=url, OCOP_LOG_LEVEL="WARNING", **extra)
    if server is not None:
        env.update(
            OCOP_TELEGRAM_TOKEN=server.token,
            OCOP_TELEGRAM_API_URL=server.base_url,
            OCOP_TELEGRAM_FILE_URL=server.base_file_url,
            OCOP_TELEGRAM_GLOBAL_RATE=str(30 * scale),
        )
    return env


async def ocop_bot(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(BIN),
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, out.decode()


async def _count(url: str, *where: object, model: type = Outbox) -> int:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as s:
            return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())
    finally:
        await engine.dispose()


REMINDED = 100  # people reminded by the two runs at once


async def test_two_remind_runs_at_once_send_each_reminder_once(
    core: Core, server: FakeTelegramServer, tmp_path: Path
) -> None:
    """Also the PostgreSQL case of two processes dispatching the same fires (advisory lock for the
    computation, SKIP LOCKED for fires and outbox rows)."""
    url = core.engine.url.render_as_string(hide_password=False)
    people = [server.person(first_name=f"P{i}") for i in range(REMINDED)]
    await seed_producers(url, [p.id for p in people], stage=Stage.DISTRICT_SCORED)
    # A dry run first: it lists and counts, and leaves no trace (in this process: only the two
    # runs at once need to be processes).
    dry = await asyncio.to_thread(
        ocop_here, tmp_path / "var", "remind", "--now", NOW, "--dry-run", OCOP_DATABASE_URL=url
    )
    out = dry.stdout
    assert dry.returncode == 0, dry.stderr
    assert f"dry run: {REMINDED} message(s) to {REMINDED} person(s); none sent" in out
    assert "30/10/2024" in out and "còn 7 ngày" in out and "→ p1 (telegram" in out
    assert await _count(url, model=Fire) == 0 and await _count(url) == 0
    # Now twice at once, each delivering through the fake Telegram server. Pacing is per process,
    # so processes delivering side by side must share the platform's rate: a quarter each here
    # (this test is about sending nothing twice, not about speed).
    env = env_for(url, server)
    env["OCOP_TELEGRAM_GLOBAL_RATE"] = str(30 * SCALE / 4)
    runs = await asyncio.gather(
        ocop_bot("remind", "--now", NOW, env=env, cwd=tmp_path),
        ocop_bot("remind", "--now", NOW, env=env, cwd=tmp_path),
    )
    for code, out in runs:
        assert code == 0, out
    assert sorted(len(p.inbox) for p in people) == [1] * REMINDED, [out for _, out in runs]
    assert "30/10/2024" in people[0].inbox[0].text
    assert await _count(url, Fire.status == FireStatus.SENT, model=Fire) == REMINDED
    assert await _count(url, Outbox.status == OutboxStatus.SENT) == await _count(url) == REMINDED
    server.assert_no_rejections()
    # Stats for the operator.
    stats = await asyncio.to_thread(
        ocop_here, tmp_path / "var", "outbox", "stats", OCOP_DATABASE_URL=url
    )
    assert stats.returncode == 0, stats.stderr
    assert re.search(rf"telegram +0 +{REMINDED}\b", stats.stdout), stats.stdout


FAN_OUT = 200  # people in the default run; bench/crash_fanout.py runs 5,000


async def test_fan_out_survives_sigkill(
    slower_server: FakeTelegramServer, sqlite_url: str, tmp_path: Path
) -> None:
    await sigkill_fan_out(slower_server, sqlite_url, tmp_path, FAN_OUT)


async def sigkill_fan_out(
    server: FakeTelegramServer, sqlite_url: str, tmp_path: Path, size: int
) -> str:
    """Queue ``size`` reminders, kill the delivering process with SIGKILL after 40 % went out,
    restart it: everyone gets their message, duplicates only among the rows in flight."""
    people = [server.person(first_name=f"P{i}") for i in range(size)]
    await seed_producers(sqlite_url, [p.id for p in people], stage=Stage.DISTRICT_SCORED)
    code, out = await ocop_bot("remind", "--now", NOW, env=env_for(sqlite_url), cwd=tmp_path)
    assert code == 0 and f"{size} message(s) queued" in out, out
    kill_at = size * 2 // 5
    # Quiet hours off: this test must not depend on the wall clock's hour in Vietnam; a short
    # lease so the restarted process takes over the rows in flight quickly.
    env = env_for(
        sqlite_url,
        server,
        CRASH_SCALE,
        OCOP_QUIET_HOURS="off",
        OCOP_OUTBOX_LEASE_SECONDS="5",
    )
    bot = BotProcess(tmp_path / "var", env)
    await bot.start()
    try:
        await server.wait_until(lambda: len(server.sent) >= kill_at, timeout=120)
        assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        await bot.stop()
    await server.wait_idle(10)  # requests the fake server had already received complete
    delivered_at_kill = len(server.sent)
    # In flight at the kill: rows claimed (leased) but not recorded as sent.
    in_flight = await _count(sqlite_url, Outbox.status == OutboxStatus.QUEUED, Outbox.attempts > 0)
    assert kill_at <= delivered_at_kill < size
    # Those are the sends Telegram accepted but whose results were not written yet (written in
    # batches every few milliseconds; how many depends on how busy the machine is), and at most
    # the outbox's buffer more: rows claimed to wait behind the pacer, two seconds of its pace
    # (95 % of the global limit).
    buffer = int(2 * 0.95 * 30 * CRASH_SCALE)
    accepted_unrecorded = delivered_at_kill - await _count(
        sqlite_url, Outbox.status == OutboxStatus.SENT
    )
    assert 0 < in_flight and 0 <= in_flight - accepted_unrecorded <= buffer, (
        in_flight,
        accepted_unrecorded,
    )
    restarted = BotProcess(tmp_path / "var", env)
    await restarted.start()
    try:
        # The cheap count first: looking at 5,000 inboxes on every request would slow the fake
        # server down and bunch up its arrivals.
        await server.wait_until(
            lambda: len(server.sent) >= len(people) and all(p.inbox for p in people),
            timeout=120,
            what="a message for everyone",
        )
        # A duplicate would be a send in flight now; the outbox is done once every row is sent.
        await server.wait_until(
            lambda: server.idle() and len(server.sent) >= size, timeout=30, what="the last sends"
        )
        await _wait_all_sent(sqlite_url, size)
    finally:
        await restarted.stop()
    missed = [p.id for p in people if not p.inbox]
    duplicates = sum(len(p.inbox) - 1 for p in people)
    summary = (
        f"fan-out {size}: killed after {delivered_at_kill} delivered, {in_flight} in flight; "
        f"after restart: {len(missed)} missed, {duplicates} duplicate(s)"
    )
    print("\n" + summary)
    assert not missed
    assert duplicates <= in_flight
    assert not [r for r in server.rejections if r.error_code == 429]
    server.assert_no_rejections()
    assert await _count(sqlite_url, Outbox.status == OutboxStatus.SENT) == size
    return summary


async def _wait_all_sent(url: str, size: int, timeout: float = 30) -> None:  # noqa: ASYNC109
    """Every outbox row recorded as sent (results are written in batches)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await _count(url, Outbox.status == OutboxStatus.SENT) < size:
        assert loop.time() < deadline, "outbox rows not all recorded as sent"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["remind", "--now", "2024-10-23T08:00:00"], "has no time zone"),
        (["remind", "--now", "23/10/2024"], "is not a date and time"),
        (["remind", "--now"], "expected one argument"),
        (["outbox"], "required"),
    ],
)
def test_bad_cli_input_gets_one_line(
    args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Argument errors are argparse's alone: in process, no bot process or database needed."""
    with pytest.raises(SystemExit) as exited:
        cli_main(args)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and complaint in err and len(err.strip().splitlines()) == 1, err
