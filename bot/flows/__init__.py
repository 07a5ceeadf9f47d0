"""Channel-agnostic conversations: Incoming + Actor + stored state → Replies + next state."""

from __future__ import annotations

from bot.flows.engine import Flow


def build_flows() -> dict[str, Flow]:
    from bot.flows.documents import DOCUMENTS
    from bot.flows.officer import OFFICER_INBOX
    from bot.flows.officer_join import OFFICER_JOIN
    from bot.flows.onboarding import LANGUAGE, ONBOARDING
    from bot.flows.registration import REGISTRATION
    from bot.flows.web_link import WEB_LINK

    flows = [ONBOARDING, LANGUAGE, REGISTRATION, DOCUMENTS, OFFICER_JOIN, OFFICER_INBOX, WEB_LINK]
    return {f.name: f for f in flows}
