"""The officer's flow (/xa, /tinh, menu "Hồ sơ cần xử lý"): inbox → card → actions → card."""

from __future__ import annotations

from bot.flows.engine import Flow, Step
from bot.flows.officer import card as officer_card
from bot.flows.officer import inbox as officer_inbox
from bot.flows.officer.actions import ACTION_STEPS
from bot.flows.officer.check import CHECK_STEPS
from bot.flows.officer.common import CARD, INBOX
from bot.flows.officer.council import COUNCIL_STEPS

_STEPS = [
    Step(INBOX, officer_inbox.ask_inbox, officer_inbox.got_inbox),
    Step("filter", officer_inbox.ask_filter, officer_inbox.got_filter),
    Step("communes", officer_inbox.ask_communes, officer_inbox.got_communes),
    Step(CARD, officer_card.ask_card, officer_card.got_card),
    *ACTION_STEPS,
    *CHECK_STEPS,
    *COUNCIL_STEPS,
]

OFFICER_INBOX = Flow(
    name="officer_inbox",
    first=INBOX,
    steps={step.name: step for step in _STEPS},
    on_start=officer_inbox.start,
)
