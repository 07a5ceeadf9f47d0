"""Telegram's flood control, modelled from what Telegram documents (Bot FAQ, "My bot is hitting
limits, how do I avoid this?"), independently of how the bot paces itself:

* in one chat, avoid more than **one message per second**; short bursts may pass, "but
  eventually you'll begin receiving 429 errors";
* bulk notifications: not more than **about 30 messages per second**;
* in a group, no more than **20 messages per minute**;
* over a limit the API answers 429 "Too Many Requests: retry after N" with
  ``parameters.retry_after`` = N seconds.

Telegram does not publish its algorithm. The FAQ states every limit as "N messages per T", so
this model keeps a log of send times per chat and for the bot as a whole and counts them in
sliding windows; "about" and "short bursts" become explicit tolerances (see ``RateLimits``).
``retry_after`` is the wait until the window has room again, rounded up to whole seconds.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FloodControl", "RateLimits", "Window"]


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``count`` messages in any ``seconds``-long stretch of time."""

    count: int
    seconds: float


@dataclass(frozen=True)
class RateLimits:
    """The limits as windows; the defaults read the FAQ as follows.

    * private chat: 1/s over half a minute (33 in 30 s: 30 plus a burst's worth), and a burst of
      at most 3 within one second;
    * group: 20 in any minute;
    * overall: about 30/s, i.e. 300 in any 10 s, with single seconds up to 45.
    """

    private: tuple[Window, ...] = (Window(3, 1.0), Window(33, 30.0))
    group: tuple[Window, ...] = (Window(20, 60.0),)
    overall: tuple[Window, ...] = (Window(45, 1.0), Window(300, 10.0))
    enabled: bool = True

    def scaled(self, factor: float) -> RateLimits:
        """Every limit ``factor`` times higher (a benchmark or test that runs faster than real
        time); the windows stay as long, so a pause of the test process is tolerated as well."""

        def up(windows: tuple[Window, ...]) -> tuple[Window, ...]:
            return tuple(Window(max(1, round(w.count * factor)), w.seconds) for w in windows)

        return RateLimits(up(self.private), up(self.group), up(self.overall), self.enabled)

    @classmethod
    def disabled(cls) -> RateLimits:
        return cls(enabled=False)


@dataclass
class _Log:
    """Send times of one chat (or of the whole bot), oldest first."""

    times: deque[float] = field(default_factory=deque)

    def wait(self, windows: tuple[Window, ...], now: float) -> float:
        """Seconds until one more message fits every window (0: it fits now)."""
        longest = max((w.seconds for w in windows), default=0.0)
        while self.times and self.times[0] <= now - longest:
            self.times.popleft()
        wait, n = 0.0, len(self.times)
        for w in windows:
            inside = n - bisect.bisect_right(self.times, now - w.seconds)
            if inside >= w.count:
                # Room again when the message that made the window full leaves it.
                wait = max(wait, self.times[n - w.count] + w.seconds - now)
        return wait


class FloodControl:
    """Decides whether Telegram would accept one more message now."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._chats: dict[int, _Log] = {}
        self._overall = _Log()

    def admit(self, chat_id: int, *, private: bool) -> int | None:
        """Record the message and return None, or return ``retry_after`` (seconds) if refused.
        A refused message is not counted."""
        if not self.limits.enabled:
            return None
        now = self.clock()
        chat = self._chats.setdefault(chat_id, _Log())
        windows = self.limits.private if private else self.limits.group
        wait = max(chat.wait(windows, now), self._overall.wait(self.limits.overall, now))
        if wait > 0:
            return max(1, math.ceil(wait))
        chat.times.append(now)
        self._overall.times.append(now)
        return None
