"""The inbox on its own, on SQLite and PostgreSQL: redeliveries stored once, one batch per chat at
a time and in order, albums as one batch (at once on stop), stored replies resent after a crash
without those already sent, a failing update given up after three tries, a lost lease rolls the
step back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.inbox import WORKER_ID, Inbox, Item, LostLease, NewItem, SentJournal
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.models import InboxItem, InboxStatus


@dataclass
class Recorder:
    """A handler that records what it was given; ``fail`` chats raise."""

    inbox: Inbox | None = None
    seen: list[list[str]] = field(default_factory=list)
    resent: list[tuple[str, list[int]]] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    running: dict[str, int] = field(default_factory=dict)
    overlap: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    floods: list[tuple[str, int]] = field(default_factory=list)

    async def process(self, batch: list[Item]) -> None:
        chat = batch[0].chat_key
        self.running[chat] = self.running.get(chat, 0) + 1
        self.overlap |= self.running[chat] > 1
        await asyncio.sleep(0)  # let others run meanwhile
        self.running[chat] -= 1
        if chat in self.fail:
            raise RuntimeError("boom")
        assert self.inbox is not None
        async with transaction(self.inbox.sessions) as s:
            await self.inbox.finish(s, batch, [])
        self.seen.append([i.update_key for i in batch])
        self.done.set()

    async def resend(self, batch: list[Item]) -> None:
        assert self.inbox is not None
        todo = [n for n in range(len(batch[0].replies or [])) if not self.inbox.was_sent(batch, n)]
        self.resent.append((batch[0].update_key, todo))
        self.done.set()

    async def give_up(self, batch: list[Item]) -> None:
        self.gave_up.append(batch[0].update_key)
        self.done.set()

    async def flood_notice(self, batch: list[Item], skipped: int) -> None:
        self.floods.append((batch[0].chat_key, skipped))


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[object]:
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: c.exec_driver_sql("DELETE FROM inbox"))
    yield session_factory(engine)
    await engine.dispose()


async def until(predicate: object, timeout: float = 20) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_once_in_order_one_batch_per_chat(sessions: object, tmp_path: Path) -> None:
    inbox = Inbox(sessions, "t", concurrency=8, journal_dir=tmp_path)  # type: ignore[arg-type]
    handler = Recorder(inbox)
    items = [NewItem(f"{chat}-{n}", chat, {"n": n}) for n in range(5) for chat in "abc"]
    assert await inbox.put_many(items) == 15
    assert await inbox.put_many(items[:4]) == 0  # redelivered: nothing new
    await inbox.start(handler)
    try:
        await until(lambda: sum(len(b) for b in handler.seen) == 15)
    finally:
        await inbox.stop()
    for chat in "abc":
        order = [k for batch in handler.seen for k in batch if k.startswith(chat)]
        assert order == [f"{chat}-{n}" for n in range(5)]
    assert not handler.overlap and await inbox.backlog() == 0


async def test_an_album_is_one_batch_and_a_stop_flushes_it(
    sessions: object, tmp_path: Path
) -> None:
    inbox = Inbox(sessions, "t", album_wait=60, journal_dir=tmp_path)  # type: ignore[arg-type]
    handler = Recorder(inbox)
    await inbox.start(handler)
    await inbox.put_many([NewItem(f"p{n}", "a", {}, group_key="album-1") for n in range(3)])
    await inbox.put(NewItem("after", "a", {}))
    # The album waits for more parts (60 s here): a round of the loop takes nothing …
    assert not await inbox._round(flush=False)
    assert handler.seen == []
    await inbox.stop()  # … but a stop handles it at once
    assert handler.seen == [["p0", "p1", "p2"]]
    assert await inbox.backlog() == 1  # what came after waits, stored, for the next start
    again = Inbox(sessions, "t", journal_dir=tmp_path)  # type: ignore[arg-type]
    handler.inbox = again
    await again.start(handler)
    try:
        await until(lambda: len(handler.seen) == 2)
    finally:
        await again.stop()
    assert handler.seen[1] == ["after"]


async def test_stored_replies_are_resent_without_those_already_sent(
    sessions: object, tmp_path: Path
) -> None:
    dead = "vm-gone:999999:abcdef"
    await Inbox(sessions, "t").put(NewItem("u1", "a", {}))  # type: ignore[arg-type]
    async with transaction(sessions) as s:  # type: ignore[arg-type]
        # A crash after the step committed and the first of two replies was sent.
        await s.exec(
            update(InboxItem).values(
                status=InboxStatus.ANSWERING, replies=[{"r": 0}, {"r": 1}], worker=dead
            )
        )
        row = (await s.exec(select(InboxItem))).one()
    journal = SentJournal(tmp_path)
    journal.root = tmp_path
    (tmp_path / f"sent-{dead.replace(':', '-')}.log").write_text(f"{row.id}:0\n")
    inbox = Inbox(sessions, "t", journal_dir=tmp_path)  # type: ignore[arg-type]
    import bot.inbox as module

    real = module._dead_here
    module._dead_here = lambda worker, host: worker == dead  # type: ignore[assignment]
    handler = Recorder(inbox)
    try:
        await inbox.start(handler)
        await until(lambda: handler.resent)
    finally:
        module._dead_here = real
        await inbox.stop()
    assert handler.resent == [("u1", [1])] and handler.seen == []
    assert await inbox.backlog() == 0


async def test_a_failing_update_is_given_up_after_three_tries(
    sessions: object, tmp_path: Path
) -> None:
    inbox = Inbox(sessions, "t", poll_interval=0.05, journal_dir=tmp_path)  # type: ignore[arg-type]
    handler = Recorder(inbox, fail={"bad"})
    await inbox.put_many([NewItem("x1", "bad", {}), NewItem("x2", "bad", {})])
    await inbox.start(handler)
    try:
        await until(lambda: len(handler.gave_up) == 2)  # the chat is not blocked by x1
    finally:
        await inbox.stop()
    assert handler.gave_up == ["x1", "x2"] and handler.seen == []
    async with sessions() as s:  # type: ignore[operator]
        statuses = (await s.exec(select(InboxItem.status))).all()
    assert statuses == [InboxStatus.FAILED, InboxStatus.FAILED]


async def test_a_lost_lease_rolls_the_step_back(sessions: object, tmp_path: Path) -> None:
    inbox = Inbox(sessions, "t", journal_dir=tmp_path)  # type: ignore[arg-type]
    await inbox.put(NewItem("z1", "a", {}))
    async with transaction(sessions) as s:  # type: ignore[arg-type]
        batches = await inbox._claim(s, 5, [], datetime.now(UTC), flush=True)
    assert [i.update_key for b in batches for i in b] == ["z1"]
    async with transaction(sessions) as s:  # type: ignore[arg-type]
        await s.exec(update(InboxItem).values(worker="someone-else"))
    with pytest.raises(LostLease):
        async with transaction(sessions) as s:  # type: ignore[arg-type]
            await inbox.finish(s, batches[0], [])
    async with sessions() as s:  # type: ignore[operator]
        row = (await s.exec(select(InboxItem).where(col(InboxItem.worker) != WORKER_ID))).one()
    assert row.status == InboxStatus.PENDING


async def test_a_flood_is_stored_answered_in_part_and_told_once(
    sessions: object, tmp_path: Path
) -> None:
    inbox = Inbox(sessions, "t", flood_limit=3, journal_dir=tmp_path)  # type: ignore[arg-type]
    handler = Recorder(inbox)
    # Stored while nothing is processed: the first three wait, the other seven are a flood.
    assert await inbox.put_many([NewItem(f"f{n}", "a", {}) for n in range(10)]) == 10
    assert await inbox.put(NewItem("calm", "b", {}))
    await inbox.start(handler)
    try:
        await until(lambda: handler.floods)
        assert await inbox.put(NewItem("f0", "a", {})) is False  # delivered again: once
    finally:
        await inbox.stop()
    assert sorted(handler.seen) == [["calm"], ["f0"], ["f1"], ["f2"]]
    assert handler.floods == [("a", 7)]  # told once, after the last answered message
    assert await inbox.backlog() == 0
