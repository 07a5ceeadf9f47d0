"""``ocop-bot remind`` delivers through every configured channel (Zalo included) and says which
channel's messages it left queued."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from ocop_core.db import make_engine
from ocop_core.lifecycle import Stage
from tests.fakes.zalo_api import FakeZaloServer
from tests.reminders_world import seed_producers
from tests.test_reminders_e2e import NOW, env_for, ocop_bot


async def test_remind_delivers_zalo_and_names_what_it_left(sqlite_url: str, tmp_path: Path) -> None:
    async with FakeZaloServer() as zalo:
        people = [zalo.person(f"Z{i}") for i in range(2)]
        await seed_producers(
            sqlite_url, [p.id for p in people] + [999_001], stage=Stage.DISTRICT_SCORED
        )
        engine = make_engine(sqlite_url)
        async with engine.begin() as conn:  # the first two write on Zalo
            for p in people:
                await conn.execute(
                    text("UPDATE account SET channel = 'zalo' WHERE chat_id = :c"), {"c": p.id}
                )
        await engine.dispose()
        env = env_for(sqlite_url, OCOP_ZALO_BOT_TOKEN=zalo.token, OCOP_ZALO_API_URL=zalo.api_url)
        code, out = await ocop_bot("remind", "--now", NOW, env=env, cwd=tmp_path)
        assert code == 0, out
        assert [len(p.inbox) for p in people] == [1, 1]
        assert "30/10/2024" in (people[0].inbox[0].text or "")
        assert "1 telegram message(s) left queued" in out, out
        zalo.assert_no_rejections()
