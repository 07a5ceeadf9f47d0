"""Messages a first-time producer sends from /start to a receipt code, on each channel (the
figure the bench script prints; here it is kept from growing back)."""

from __future__ import annotations

from bench.messages_to_receipt import count
from tests.test_flows import world as world


async def test_a_first_timer_reaches_a_receipt_code_quickly(world: dict[str, object]) -> None:
    telegram = await count(world["conv"], "telegram", buttons=True)  # type: ignore[arg-type]
    zalo = await count(world["conv"], "zalo", buttons=False)  # type: ignore[arg-type]
    print(f"\nmessages from /start to a receipt code: telegram {telegram}, zalo {zalo}")
    assert telegram <= 15 and zalo <= 18  # before this work: 25 and 25
