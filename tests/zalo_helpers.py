"""Helpers for Zalo end-to-end tests: a person types numbers, labels or words and reads replies."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import re
from collections.abc import Awaitable

from ocop_core.admin_units import fold
from tests.botprocess import pacing_env
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.zalo_api import FakeZaloServer, Person

LINK = re.compile(r"https?://\S+/link/[uf]/\S+")


def both_env(zalo: FakeZaloServer, telegram: FakeTelegramServer, **extra: str) -> dict[str, str]:
    """Telegram and Zalo configured together, each pointed at its fake."""
    return {
        "OCOP_TELEGRAM_TOKEN": telegram.token,
        "OCOP_TELEGRAM_API_URL": telegram.base_url,
        "OCOP_TELEGRAM_FILE_URL": telegram.base_file_url,
        **pacing_env(telegram),
        "OCOP_ZALO_BOT_TOKEN": zalo.token,
        "OCOP_ZALO_API_URL": zalo.api_url,
        **extra,
    }


async def turn(
    zalo: FakeZaloServer,
    person: Person,
    action: Awaitable[object],
    timeout: float = 20,
    *,
    n: int = 1,
) -> str:
    """Do something, wait for the bot's ``n`` answer(s) and until it is idle (nothing pending,
    no request in flight), return all it said. A turn that sends several messages says how many:
    the bot may pace them, and a pause inside the bot is not something a platform can see."""
    since = len(person.inbox)
    await action
    await person.wait_for_messages(n, timeout=timeout, since=since)
    await zalo.wait_idle(timeout)
    return "\n".join(m.text or "" for m in person.inbox[since:])


async def say(zalo: FakeZaloServer, person: Person, text: str, *, n: int = 1) -> str:
    return await turn(zalo, person, person.send_text(text), n=n)


def number_of(text: str, label: str) -> str:
    """The number of the numbered line whose label contains ``label`` (accents ignored)."""
    wanted = fold(label)
    found = [
        m.group(1)
        for m in re.finditer(r"^(\d+)\. (.+)$", text, re.MULTILINE)
        if wanted in fold(m.group(2))
    ]
    assert found, f"no option {label!r} in:\n{text}"
    return found[-1]


async def pick(zalo: FakeZaloServer, person: Person, label: str, *, n: int = 1) -> str:
    """Answer a numbered list by typing the number of the option containing ``label``."""
    last = person.inbox[-1].text or ""
    return await say(zalo, person, number_of(last, label), n=n)


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, f"no link in:\n{text}"
    return found.group(0)
