"""What every fake platform server shares: an aiohttp app on 127.0.0.1 (a free port), start and
stop, a change signal that waiters sleep on, and "idle" — the state a real platform lets you
observe: nothing pending for the bot and no request of the bot in progress."""

# Waiting helpers take timeout= on purpose: tests read better than with asyncio.timeout().
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["FakeServer", "serving"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """A test's own small aiohttp app (a bot's webhook route, a tiny API) on a free loopback
    port: yields its base URL, stopped on the way out."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class FakeServer:
    """Base of the fakes. Subclasses add routes in ``routes`` and say what is ``pending``.

    Requests are counted while they are served; a long poll that is only waiting for news calls
    ``parked()`` so it does not count as work in progress.
    """

    client_max_size = 2 * 1024 * 1024

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:
            raise ValueError("a fake platform server only binds a loopback address")
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._serving = 0  # requests being answered
        self._parked = 0  # of which long polls waiting for an update
        self._busy_elsewhere = 0  # work the fake does towards the bot (webhook POSTs)
        self._last_change = 0.0
        self._stopping = False

    # Lifecycle -------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> Any:
        app = web.Application(client_max_size=self.client_max_size, middlewares=[self._count])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        await self.started()
        return self

    async def started(self) -> None:
        """Hook: after the port is bound."""

    async def stopping(self) -> None:
        """Hook: before the HTTP server goes away (cancel background work here)."""

    async def stop(self) -> None:
        self._stopping = True
        self.notify()  # wake long polls and waiters so they return at once
        await self.stopping()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Any:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # Change signal ---------------------------------------------------------------------------

    def notify(self) -> None:
        """Something changed: wake everything waiting on the fake's state."""
        event, self._changed = self._changed, asyncio.Event()
        with contextlib.suppress(RuntimeError):  # no running loop (a sync caller): no waiter
            self._last_change = asyncio.get_running_loop().time()
        event.set()

    _notify = notify  # the name the fakes used before

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
        *,
        what: str | Callable[[], str] = "condition",
        recheck: float = 0.05,
    ) -> None:
        """Wait until ``predicate()`` is true: re-checked on every change of the fake's state,
        and every ``recheck`` seconds for state the fake cannot see (the bot's own memory)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                detail = what() if callable(what) else what
                raise TimeoutError(f"timed out after {timeout}s waiting for {detail}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, recheck))

    # Idle ------------------------------------------------------------------------------------

    def pending(self) -> int:
        """Updates waiting for the bot to take them (subclasses)."""
        return 0

    @property
    def in_flight(self) -> int:
        """The bot's requests being answered (waiting long polls excluded), plus the fake's own
        deliveries to the bot."""
        return self._serving - self._parked + self._busy_elsewhere

    def idle(self) -> bool:
        return self.pending() == 0 and self.in_flight == 0

    async def wait_idle(self, timeout: float = 20.0, *, settle: float = 0.05) -> None:
        """Wait until nothing is pending and no request is in flight, and it stayed so for
        ``settle`` seconds: the bot took everything and has nothing more to say for now.

        ``settle`` only bridges the gap between two requests of the same piece of work (a
        database write between two messages); a test that expects N messages waits for N.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.wait_until(
                self.idle, max(0.0, deadline - loop.time()), what=self._busy_detail
            )
            quiet_for = loop.time() - self._last_change
            if quiet_for >= settle:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), settle - quiet_for)
            if loop.time() >= deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {self._busy_detail()}")

    def _busy_detail(self) -> str:
        return f"idle ({self.pending()} pending, {self.in_flight} in flight)"

    @contextlib.contextmanager
    def parked(self) -> Any:
        """Around the wait of a long poll: the bot is not doing anything while it waits."""
        self._parked += 1
        try:
            yield
        finally:
            self._parked -= 1

    @contextlib.asynccontextmanager
    async def delivering(self) -> Any:
        """Around a POST the fake makes to the bot (a webhook delivery)."""
        self._busy_elsewhere += 1
        self.notify()
        try:
            yield
        finally:
            self._busy_elsewhere -= 1
            self.notify()

    @web.middleware
    async def _count(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self._serving += 1
        self.notify()
        try:
            return await handler(request)
        finally:
            self._serving -= 1
            self.notify()
