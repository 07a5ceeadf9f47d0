"""Every flow by name: the one place that knows all audiences' conversations."""

from __future__ import annotations

from bot.flows.data_rights import DATA_RIGHTS
from bot.flows.engine import Flow
from bot.flows.officer.flow import OFFICER_INBOX
from bot.flows.officer.join import OFFICER_JOIN
from bot.flows.onboarding import LANGUAGE, ONBOARDING
from bot.flows.producer.details import DETAILS
from bot.flows.producer.documents import DOCUMENTS
from bot.flows.producer.registration import REGISTRATION
from bot.flows.web_link import WEB_LINK


def build_flows() -> dict[str, Flow]:
    flows = [ONBOARDING, LANGUAGE, REGISTRATION, DOCUMENTS, DETAILS, OFFICER_JOIN, OFFICER_INBOX]
    flows += [DATA_RIGHTS, WEB_LINK]
    return {f.name: f for f in flows}
