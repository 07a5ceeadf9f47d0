"""Guessing is not free: wrong invite codes (/canbo) and receipt codes are counted per account
and overall; past the limit the person is told how long to wait, each failure is logged without
the code, and a burst makes one alert line. Admin invites are longer and short-lived."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot.flows import build_flows
from bot.flows.router import Conversations
from ocop_core.authz import Actor
from ocop_core.clock import FixedClock
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.errors import ValidationError
from ocop_core.models import FailedAttempt, Role
from ocop_core.plans import PlanRegistry
from ocop_core.services import invites
from ocop_core.services.attempts import AttemptLimits, Limit
from ocop_core.services.context import CoreContext
from tests.conftest import vn_time
from tests.factories import BINH_LU
from tests.transcript import Person

LIMITS = AttemptLimits(
    invite=Limit(3, 5, timedelta(minutes=30), 4),
    receipt=Limit(3, 100, timedelta(minutes=15), 50),
)


@pytest.fixture
async def world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[Conversations, FixedClock]]:
    engine = make_engine(sqlite_url)
    clock = FixedClock(vn_time(2026, 9, 1, 9, 0))
    ctx = CoreContext(clock=clock, plans=PlanRegistry(), data_dir=tmp_path / "d", limits=LIMITS)
    yield Conversations(session_factory(engine), ctx, build_flows()), clock
    await engine.dispose()


async def onboarded(conv: Conversations, name: str) -> Person:
    p = Person(conv, name)
    await p.say("/start")
    await p.tap("Tiếng Việt")
    await p.tap("Chủ thể sản xuất")
    await p.tap("Tôi đồng ý")
    await p.share_contact("0912345678")
    return p


async def failures(conv: Conversations) -> int:
    async with conv.sessions() as s:
        return int((await s.exec(select(func.count()).select_from(FailedAttempt))).one())


async def test_invite_guesses_are_limited_per_account_and_overall(
    world: tuple[Conversations, FixedClock], caplog: pytest.LogCaptureFixture
) -> None:
    conv, clock = world
    caplog.set_level(logging.INFO, "ocop.attempts")
    mallory = await onboarded(conv, "mallory")
    for guess in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"):
        await mallory.say(f"/canbo {guess}")
        assert "không đúng" in mallory.text.lower() or "không tìm thấy" in mallory.text.lower()
    await mallory.say("/canbo DDDD-DDDD")
    assert "quá nhiều lần" in mallory.text and "30 phút" in mallory.text
    assert await failures(conv) == 3  # the refused attempt is not even looked up
    # A real code is refused too while the wait lasts, then works.
    async with transaction(conv.sessions) as s:
        code = (
            await invites.create_invite(s, conv.core, Actor.system(), commune_code=BINH_LU)
        ).code
    await mallory.say(f"/canbo {code}")
    assert "quá nhiều lần" in mallory.text
    clock.advance(timedelta(minutes=31))
    await mallory.say(f"/canbo {code}")
    assert "Bạn đã là cán bộ OCOP" in mallory.text
    # Another account: counted overall — past the global limit everyone waits.
    clock.advance(timedelta(minutes=31))
    eve = await onboarded(conv, "eve")
    trudy = await onboarded(conv, "trudy")
    for guess in ("EEEE-EEEE", "FFFF-FFFF", "GGGG-GGGG"):
        await eve.say(f"/canbo {guess}")
    for guess in ("HHHH-HHHH", "JJJJ-JJJJ"):
        await trudy.say(f"/canbo {guess}")
    await trudy.say("/canbo KKKK-KKKK")
    assert "quá nhiều lần" in trudy.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed invite attempt by account" in logged and "ALERT" in logged
    for guess in ("AAAA", "EEEE", "HHHH", code[:4]):
        assert guess not in logged  # never the code


async def test_receipt_code_lookups_are_limited(world: tuple[Conversations, FixedClock]) -> None:
    conv, clock = world
    p = await onboarded(conv, "curious")
    for n in range(3):
        await p.say(f"/trangthai LC-2026-00{n}1")
        assert "Không tìm thấy hồ sơ" in p.text, p.text
    await p.say("/trangthai LC-2026-0099")
    assert "quá nhiều lần" in p.text and "15 phút" in p.text
    clock.advance(timedelta(minutes=16))
    await p.say("/trangthai LC-2026-0099")
    assert "Không tìm thấy hồ sơ" in p.text


async def test_admin_invites_are_longer_and_short_lived(
    world: tuple[Conversations, FixedClock],
) -> None:
    conv, _clock = world
    async with transaction(conv.sessions) as s:
        issued = await invites.create_invite(
            s, conv.core, Actor.system(), commune_code=BINH_LU, role=Role.ADMIN, days=2
        )
        assert len(issued.code.replace("-", "")) == 12
        assert invites.normalise(issued.code.lower()) == issued.code
        with pytest.raises(ValidationError):
            await invites.create_invite(
                s, conv.core, Actor.system(), commune_code=BINH_LU, role=Role.ADMIN, days=7
            )
