"""The rest of Mẫu 01 in one sitting: a line of the dossier's checklist ("📝 Thông tin Mẫu 01"),
asked after the idea is registered and required before submitting."""

from __future__ import annotations

import re
from typing import Any

from bot.flows.engine import Answer, Flow, FlowContext, Reask, Step
from bot.flows.producer.registration import (
    MARKETS,
    ORIGINS,
    SHARES,
    SUPPORT,
    _choice_step,
    _prompt,
    _text_step,
)
from bot.flows.types import Reply
from ocop_core.i18n import N_
from ocop_core.models import Dossier
from ocop_core.services import dossiers

# What the sitting asks, in order; the dossier is complete when all are in its details.
FIELDS = (
    "representative",
    "registration_number",
    "description",
    "local_share",
    "workers",
    "idea_origin",
    "identity",
    "market",
    "support",
)
SAVE = "__save__"


REQUIRED = FIELDS[2:]  # the representative and business number may stay empty


def complete(dossier: Dossier) -> bool:
    return all(f in (dossier.details or {}) for f in REQUIRED)


async def start(fc: FlowContext, args: dict[str, Any]) -> str:
    dossier = await dossiers.get_dossier_by_id(fc.s, fc.actor, int(args["dossier_id"]))
    fc.data["dossier_id"] = dossier.id
    fc.data["reg"] = {k: v for k, v in (dossier.details or {}).items() if k in FIELDS}
    return "representative"


async def got_registration_number(fc: FlowContext, answer: Answer) -> str:
    if answer.choice == "skip":
        fc.data["reg"]["registration_number"] = ""
        return "description"
    value = answer.require_text(40).upper()
    if not re.fullmatch(r"[0-9A-Z][0-9A-Z./\- ]{3,39}", value):
        raise Reask(N_("reg.reask.registration_number"))
    fc.data["reg"]["registration_number"] = value
    return "description"


async def got_workers(fc: FlowContext, answer: Answer) -> str:
    text = answer.require_text(10).replace(".", "").replace(",", "")
    if not text.isdecimal() or int(text) > 100_000:
        raise Reask(N_("reg.reask.workers"))
    fc.data["reg"]["workers"] = int(text)
    return "idea_origin"


def _saving(step: Step) -> Step:
    """The last question saves the whole sitting and goes back to the checklist."""

    async def handle(fc: FlowContext, answer: Answer) -> str:
        await step.handle(fc, answer)
        dossier = await dossiers.get_dossier_by_id(fc.s, fc.actor, int(fc.data["dossier_id"]))
        answers = {k: fc.data["reg"].get(k) for k in FIELDS}
        await dossiers.edit_details(fc.s, fc.core, fc.actor, dossier, **answers)
        fc.say(N_("details.saved"))
        return fc.switch_to("documents", dossier_id=dossier.id)

    return Step(step.name, step.prompt, handle, step.skippable)


async def _ask(fc: FlowContext, key: str) -> Reply:
    return await _prompt(fc, key)


DETAILS = Flow(
    name="details",
    first="representative",
    steps={
        "representative": _text_step(
            N_("reg.ask.representative"), "representative", "registration_number", skippable=True
        ),
        "registration_number": Step(
            "registration_number",
            lambda fc: _ask(fc, N_("reg.ask.registration_number")),
            got_registration_number,
            skippable=True,
        ),
        "description": _text_step(
            N_("reg.ask.description"), "description", "local_share", limit=1000
        ),
        "local_share": _choice_step(
            N_("reg.ask.local_share"), "local_share", "share", SHARES, "workers"
        ),
        "workers": Step("workers", lambda fc: _ask(fc, N_("reg.ask.workers")), got_workers),
        "idea_origin": _choice_step(
            N_("reg.ask.idea_origin"), "idea_origin", "origin", ORIGINS, "identity"
        ),
        "identity": _text_step(
            N_("reg.ask.identity"), "identity", "market", limit=500, skippable=True
        ),
        "market": _choice_step(N_("reg.ask.market"), "market", "market", MARKETS, "support"),
        "support": _saving(
            _choice_step(N_("reg.ask.support"), "support", "support", SUPPORT, SAVE)
        ),
    },
    on_start=start,
)
