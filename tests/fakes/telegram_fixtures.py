"""pytest fixtures for the fake Telegram server.

Use them from a test module with ``from tests.fakes.telegram_fixtures import fake_telegram``
(pytest picks up imported fixtures), or list this module in a conftest's ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_api import FakeTelegramServer, RateLimits

__all__ = ["fake_telegram", "fake_telegram_unthrottled"]


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegramServer]:
    """An in-process fake on 127.0.0.1, Telegram's flood limits on; stopped after the test."""
    async with FakeTelegramServer() as server:
        yield server


@pytest.fixture
async def fake_telegram_unthrottled() -> AsyncIterator[FakeTelegramServer]:
    """Like ``fake_telegram`` but without flood control, for tests about other things."""
    async with FakeTelegramServer(rate_limits=RateLimits.disabled()) as server:
        yield server
