"""What every use case needs besides the session and the actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ocop_core.clock import Clock, SystemClock
from ocop_core.plans import PlanRegistry
from ocop_core.services.attempts import AttemptLimits


@dataclass
class CoreContext:
    clock: Clock = field(default_factory=SystemClock)
    plans: PlanRegistry = field(default_factory=PlanRegistry)
    data_dir: Path = Path("var")
    limits: AttemptLimits = field(default_factory=AttemptLimits)  # on guessing codes
    # Where people reach our web server (public URL, else the local address once it listens):
    # flows put it into links they send, e.g. the desk's sign-in link.
    web_url: str = ""

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
