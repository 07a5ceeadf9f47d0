"""Hypothesis over every parser of user text: receipt and invite codes, phone numbers, scores,
dates, commune search, choices, Zalo update bodies, terminal lines. Whatever a person (or a
platform) sends, no exception escapes except the refusal the parser documents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows.engine import Reask
from bot.flows.matching import match_choice
from bot.flows.officer.council import parse_date
from bot.handlers.terminal import parse_line
from bot.handlers.zalo import BadUpdate, parse_update
from ocop_core import receipts
from ocop_core.admin_units import fold, search_communes
from ocop_core.db import make_engine, session_factory
from ocop_core.errors import DomainError
from ocop_core.lifecycle import parse_points
from ocop_core.phones import normalise_vn_mobile
from ocop_core.services import invites

FAST = settings(max_examples=300, deadline=None)
# Vietnamese letters, digits, separators people type, emoji and control characters.
TYPED = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("0123456789 -./,+()ăâđêôơưáàảãạĐƯ\u0301\u0300\u200b\n\t"),
    ),
    max_size=80,
)


@FAST
@given(TYPED)
def test_receipt_codes(text: str) -> None:
    code = receipts.normalise(text)
    assert code is None or receipts.normalise(code) == code


@FAST
@given(TYPED)
def test_invite_codes(text: str) -> None:
    code = invites.normalise(text)
    assert code is None or invites.normalise(code.lower()) == code


@FAST
@given(TYPED)
def test_phone_numbers(text: str) -> None:
    phone = normalise_vn_mobile(text)
    assert phone is None or (phone.isdigit() and len(phone) == 10 and phone[0] == "0")


@FAST
@given(st.one_of(TYPED, st.floats(allow_nan=True, allow_infinity=True)))
def test_scores(value: str | float) -> None:
    try:
        points = parse_points(value)
    except DomainError:
        return
    assert 0 <= points <= 100


@FAST
@given(TYPED)
def test_dates(text: str) -> None:
    try:
        assert isinstance(parse_date(text), date)
    except Reask:
        pass


@FAST
@given(TYPED, st.lists(st.tuples(st.text(max_size=6), TYPED), max_size=8))
def test_choices(text: str, options: list[tuple[str, str]]) -> None:
    offered = [[cid, label] for cid, label in options]
    found = match_choice(text, offered)
    assert found.choice is None or found.choice in {cid for cid, _ in options}
    assert set(found.ambiguous) <= {label for _, label in options}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TYPED,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TYPED, inner, max_size=4),
    max_leaves=12,
)
UPDATE_KEYS = st.fixed_dictionaries(
    {
        "event_name": st.sampled_from(["message.text.received", "message.image.received", "x"]),
        "message": st.dictionaries(
            st.sampled_from(["message_id", "chat", "from", "text", "photo_url", "caption"]),
            JSON,
        ),
    }
)


@FAST
@given(st.one_of(JSON, UPDATE_KEYS, st.builds(lambda u: {"ok": True, "result": u}, UPDATE_KEYS)))
def test_zalo_update_bodies(body: object) -> None:
    try:
        parse_update(body)
    except BadUpdate:
        pass


@FAST
@given(TYPED)
def test_terminal_lines(line: str) -> None:
    assert parse_line(line, "local").user_id == "local"


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=TYPED)
def test_commune_search(query: str, loop: asyncio.AbstractEventLoop, sqlite_template: Path) -> None:
    async def search() -> list[str]:
        engine = make_engine(f"sqlite+aiosqlite:///{sqlite_template}")
        try:
            async with session_factory(engine)() as s:
                return [c.name for c in await search_communes(s, "12", query)]
        finally:
            await engine.dispose()

    names = loop.run_until_complete(search())
    assert len(names) <= 8
    words = [w for w in fold(query).split() if w not in {"xa", "phuong", "dac", "khu"}]
    if names and words and all(w.isprintable() for w in words):  # SQLite stops at a NUL
        assert all(all(w in fold(n) for w in words) for n in names)
