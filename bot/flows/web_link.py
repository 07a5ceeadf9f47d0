"""/web: an officer asks for a sign-in link to the web desk (valid 10 minutes, single use)."""

from __future__ import annotations

from typing import Any

from bot.flows.engine import END, Flow, FlowContext
from ocop_core.i18n import N_
from ocop_core.services import web_access


async def start(fc: FlowContext, args: dict[str, Any]) -> str:
    """Producers are told the desk is for officers (a DomainError the router says)."""
    token = await web_access.issue_sign_in(fc.s, fc.core, fc.actor)
    url = web_access.sign_in_url(fc.core.web_url, token)
    minutes = int(web_access.SIGN_IN_TTL.total_seconds() // 60)
    fc.say(N_("desk.link.sent"), url=url, minutes=minutes)
    return END


WEB_LINK = Flow(name="web", first=END, steps={}, on_start=start)
