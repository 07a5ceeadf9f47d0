"""Full-size crash scenario: a fan-out of 5,000 reminders through the real ``ocop-bot run``,
killed with SIGKILL after 40 % went out and restarted, against the fake Bot API's flood model
scaled ×5. The test suite runs the same scenario (``tests/test_reminders_e2e.py``,
``sigkill_fan_out``) with 600 people; this is the size that shows the bounds hold at volume.

    python bench/crash_fanout.py [--people 5000]

Prints how many were delivered at the kill, how many rows were in flight, and after the restart
how many were missed (must be 0) and duplicated (at most the rows in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scenario and the fake Telegram server live in tests/

from bot.app import prepare_database  # noqa: E402
from ocop_core.db import make_engine  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramServer, RateLimits  # noqa: E402
from tests.test_reminders_e2e import CRASH_SCALE, sigkill_fan_out  # noqa: E402


async def main(people: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ocop-crash-"))
    url = f"sqlite+aiosqlite:///{work / 'ocop.sqlite3'}"
    engine = make_engine(url)
    await prepare_database(engine)
    await engine.dispose()
    started = time.perf_counter()
    async with FakeTelegramServer(rate_limits=RateLimits().scaled(CRASH_SCALE)) as server:
        await sigkill_fan_out(server, url, work, people)  # prints its summary
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=5000)
    asyncio.run(main(ap.parse_args().people))
