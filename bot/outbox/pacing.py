"""Sending pace for one platform account, shared by interactive replies and the outbox.

Two token buckets mirror the platform's flood control, set a little stricter than the platform so
network jitter never tips a request over its limit:

* a global bucket (e.g. Telegram's ~30 messages/s): ``share`` of the platform's rate, a capacity of
  a few tokens. Bulk (outbox) sends may only take a token while ``reserve`` more are left, so an
  interactive reply always finds one at once: replies go first, bulk gets whatever they leave.
* one bucket per chat (e.g. ~1 message/s with a burst of 3), refilled slightly slower than the
  platform does.

A 429 ``retry_after`` blocks that chat alone (``backoff``); other chats go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["ChatPacer", "TokenBucket"]


class TokenBucket:
    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float, need: float = 1.0) -> float:
        """Seconds until ``need`` tokens are there (0 when they are now)."""
        self._refill(now)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def take(self, now: float, n: float = 1.0) -> None:
        self._refill(now)
        self.tokens -= n

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class ChatPacer:
    """Per-chat and global pacing with priority for interactive replies (see module docstring).

    ``global_rate``, ``per_chat`` and ``burst`` are the *platform's* limits; the pacer keeps
    below them by ``share`` (global) and ``chat_share`` (per chat).
    """

    def __init__(
        self,
        per_chat: float = 1.0,
        burst: int = 3,
        global_rate: float = 30.0,
        *,
        share: float = 0.95,
        chat_share: float = 0.9,
        reserve: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = global_rate * share
        self.reserve = reserve
        self.clock = clock
        # A small capacity: a burst of replies is absorbed, while the platform's own (larger)
        # bucket keeps room for requests that arrive bunched up after network jitter.
        capacity = max(reserve + 2.0, min(10.0, self.rate / 2))
        self._global = TokenBucket(capacity, self.rate, clock())
        self._chat_capacity = float(max(1, burst))
        self._chat_rate = per_chat * chat_share
        self._chats: dict[str, TokenBucket] = {}
        self._blocked_until: dict[str, float] = {}
        self._bulk_gate = asyncio.Lock()  # one bulk sender waits for the global bucket at a time

    def backoff(self, chat_id: int | str, seconds: float) -> None:
        """The platform said "retry after": nothing more to this chat until then."""
        key = str(chat_id)
        until = self.clock() + max(0.0, seconds)
        self._blocked_until[key] = max(until, self._blocked_until.get(key, 0.0))

    def _chat(self, key: str, now: float) -> TokenBucket:
        bucket = self._chats.get(key)
        if bucket is None:
            if len(self._chats) > 50_000:
                self._forget_idle(now)
            bucket = self._chats[key] = TokenBucket(self._chat_capacity, self._chat_rate, now)
        return bucket

    def _forget_idle(self, now: float) -> None:
        # A full bucket of a chat that is not blocked carries no information: drop it.
        for key in [k for k, b in self._chats.items() if b.full(now)]:
            if self._blocked_until.get(key, 0.0) <= now:
                del self._chats[key]
                self._blocked_until.pop(key, None)

    def chat_wait(self, chat_id: int | str) -> float:
        """Seconds until this chat may receive a message (0 = now)."""
        key = str(chat_id)
        now = self.clock()
        blocked = self._blocked_until.get(key, 0.0) - now
        return max(blocked, self._chat(key, now).wait_time(now), 0.0)

    async def wait(self, chat_id: int | str) -> None:
        """Interactive reply: wait for this chat and for one global token (never the reserve)."""
        key = str(chat_id)
        while True:
            now = self.clock()
            chat = self._chat(key, now)
            delay = max(
                self._blocked_until.get(key, 0.0) - now,
                chat.wait_time(now),
                self._global.wait_time(now),
            )
            if delay <= 0:
                chat.take(now)
                self._global.take(now)
                return
            await asyncio.sleep(delay)

    async def acquire_bulk(
        self, chat_id: int | str, give_up: Callable[[], bool] | None = None
    ) -> float | None:
        """Outbox send: 0 when a slot was taken; otherwise the seconds this chat must wait.

        It waits for the global bucket (leaving ``reserve`` tokens to replies) but never for a
        chat: a busy chat is reported back so the outbox reschedules that row and moves on.
        ``None`` when ``give_up()`` turned true while it waited its turn (no slot was taken).
        """
        key = str(chat_id)
        async with self._bulk_gate:
            while True:
                if give_up is not None and give_up():
                    return None
                now = self.clock()
                chat = self._chat(key, now)
                chat_delay = max(self._blocked_until.get(key, 0.0) - now, chat.wait_time(now))
                if chat_delay > 0:
                    return chat_delay
                delay = self._global.wait_time(now, 1.0 + self.reserve)
                if delay <= 0:
                    chat.take(now)
                    self._global.take(now)
                    return 0.0
                await asyncio.sleep(delay)
