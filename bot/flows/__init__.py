"""Channel-agnostic conversations: Incoming + Actor + stored state → Replies + next state.

Layout: ``types`` (neutral messages), ``engine`` (steps, answers, state), ``router`` (one
message end to end), ``intents`` (what a person may ask at any step), shared ``onboarding`` and
``menu``, then one subpackage per audience: ``producer/`` and ``officer/``. ``registry`` names
every flow. Nothing here imports a channel library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.flows.engine import Flow


def build_flows() -> dict[str, Flow]:
    """Every flow by name (imported here lazily: the package stays free of import cycles)."""
    from bot.flows.registry import build_flows as build

    return build()
