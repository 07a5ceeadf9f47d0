"""What an officer does to a dossier from its card: ask for documents, forward, return, reject
(the commune check is in officer_check, the council's points and certificate in officer_council).

Every change passes the version the officer saw on the card; if someone else acted first the
officer is told and sees the fresh card. Each change tells the producer through the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from bot.flows.engine import Answer, FlowContext, Reask, Step
from bot.flows.officer.card import explain_missing
from bot.flows.officer.common import CARD, current_dossier, notify_producer, seen_version
from bot.flows.types import Choice, Reply
from ocop_core import lifecycle
from ocop_core.errors import DomainError, InvalidTransition, ValidationError
from ocop_core.i18n import N_
from ocop_core.lifecycle import stage_level
from ocop_core.rules import get_ruleset
from ocop_core.services import dossiers, notices, status

T = TypeVar("T")
SKIP = "skip"


async def attempt(fc: FlowContext, action: Awaitable[T]) -> T | None:
    """Run a dossier change. A refusal about the dossier's state (someone was faster, wrong
    stage, documents missing) is said and the fresh card follows (None); a bad typed value
    (ValidationError) propagates so the same question is asked again."""
    try:
        return await action
    except ValidationError:
        raise
    except DomainError as exc:
        fc.say(exc.key, **exc.params)
        return None


def _confirm_choices(fc: FlowContext, key: str) -> tuple[Choice, ...]:
    return (Choice("confirm", fc.t(key)), Choice("cancel", fc.t(N_("officer.cancel"))))


# -- ask for documents --------------------------------------------------------------------------


async def ask_req_items(fc: FlowContext) -> Reply:
    dossier = await current_dossier(fc)
    items = await status.checklist(fc.s, dossier)
    if "req_ticked" not in fc.data:  # start with what is missing ticked: one tap to send
        fc.data["req_ticked"] = [
            i.requirement.code for i in items if i.requirement.blocking and not i.done
        ]
    ticked = set(fc.data["req_ticked"])
    ordered = sorted(items, key=lambda i: (i.done, not i.requirement.blocking))
    more = bool(fc.data.get("req_more"))  # a phone screen: other documents on a second page
    others = [i for i in ordered if not i.requirement.blocking]
    if more:
        ordered = others
    else:  # the required ones, and any other already ticked
        ordered = [i for i in ordered if i not in others or i.requirement.code in ticked]
    choices = [
        Choice(
            f"t:{i.requirement.code}",
            f"{'☑' if i.requirement.code in ticked else '☐'} {fc.t(i.requirement.label_key)}",
        )
        for i in ordered
    ]
    if others:
        toggle = N_("officer.req.fewer") if more else N_("officer.req.more")
        choices.append(Choice("more", fc.t(toggle, count=len(others))))
    choices.append(Choice("send", fc.t(N_("officer.req.send"), count=len(ticked))))
    key = N_("officer.req.prompt") if fc.caps.buttons else N_("officer.req.prompt_numbers")
    return Reply(fc.t(key, code=dossier.receipt_code), tuple(choices))


async def got_req_items(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    ticked: list[str] = list(fc.data.get("req_ticked") or [])
    if choice.startswith("t:"):
        code = choice[2:]
        ticked = [c for c in ticked if c != code] if code in ticked else [*ticked, code]
        fc.data["req_ticked"] = ticked
        return "req_items"
    if choice == "more":
        fc.data["req_more"] = not fc.data.get("req_more")
        return "req_items"
    if choice == "send":
        if not ticked:
            raise Reask(N_("officer.req.none"))
        return "req_note"
    raise Reask(N_("flow.reask.pick_one"))


async def ask_req_note(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("officer.req.note")))


async def got_req_note(fc: FlowContext, answer: Answer) -> str:
    note = "" if answer.choice == SKIP else answer.require_text(500)
    dossier = await current_dossier(fc)
    items = list(fc.data.get("req_ticked") or [])
    done = await attempt(
        fc,
        dossiers.request_documents(
            fc.s,
            fc.core,
            fc.actor,
            dossier,
            items=items,
            note=note,
            expected_version=seen_version(fc),
        ),
    )
    if done is None:
        return CARD
    notice = await notify_producer(fc, dossier)
    if notice is not None:
        await notices.schedule_document_nudge(fc.s, fc.core, dossier, notice)
    fc.say(N_("officer.req.sent"), count=len(items), code=dossier.receipt_code)
    return CARD


# -- forward ------------------------------------------------------------------------------------


async def ask_forward(fc: FlowContext) -> Reply:
    dossier = await current_dossier(fc)
    try:
        move = lifecycle.plan_forward(
            fc.actor, dossier.stage, get_ruleset(dossier.ruleset), dossier.points
        )
    except DomainError as exc:  # moved on since the card was drawn
        return Reply(fc.t(exc.key, **exc.params), (Choice("cancel", fc.t(N_("officer.cancel"))),))
    text = fc.t(
        N_("officer.forward.prompt"),
        code=dossier.receipt_code,
        to=fc.t(f"who.{stage_level(move.to_stage)}"),
    )
    return Reply(text, _confirm_choices(fc, N_("officer.forward.confirm")))


async def got_forward(fc: FlowContext, answer: Answer) -> str:
    if answer.require_choice() != "confirm":
        return CARD
    dossier = await current_dossier(fc)
    try:
        await dossiers.forward(fc.s, fc.core, fc.actor, dossier, expected_version=seen_version(fc))
    except InvalidTransition as exc:
        if exc.key == "error.cannot_forward_missing":
            explain_missing(fc, await dossiers.missing_requirements(fc.s, dossier))
        else:
            fc.say(exc.key, **exc.params)
        return CARD
    except DomainError as exc:
        fc.say(exc.key, **exc.params)
        return CARD
    await notify_producer(fc, dossier)
    fc.say(
        N_("officer.forward.done"),
        code=dossier.receipt_code,
        to=fc.t(f"who.{stage_level(dossier.stage)}"),
    )
    return CARD


# -- return / reject ----------------------------------------------------------------------------


async def ask_return_reason(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("officer.return.prompt")))


async def got_return_reason(fc: FlowContext, answer: Answer) -> str:
    reason = answer.require_text(1000)
    dossier = await current_dossier(fc)
    done = await attempt(
        fc,
        dossiers.return_to_producer(
            fc.s, fc.core, fc.actor, dossier, reason=reason, expected_version=seen_version(fc)
        ),
    )
    if done is not None:
        await notify_producer(fc, dossier)
        fc.say(N_("officer.return.done"), code=dossier.receipt_code)
    return CARD


async def ask_reject_reason(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("officer.reject.prompt")))


async def got_reject_reason(fc: FlowContext, answer: Answer) -> str:
    fc.data["reason"] = answer.require_text(1000)
    return "reject_confirm"


async def ask_reject_confirm(fc: FlowContext) -> Reply:
    dossier = await current_dossier(fc)
    text = fc.t(
        N_("officer.reject.confirm_prompt"),
        code=dossier.receipt_code,
        reason=fc.data.get("reason", ""),
    )
    return Reply(text, _confirm_choices(fc, N_("officer.reject.confirm")))


async def got_reject_confirm(fc: FlowContext, answer: Answer) -> str:
    if answer.require_choice() != "confirm":
        return CARD
    dossier = await current_dossier(fc)
    done = await attempt(
        fc,
        dossiers.reject(
            fc.s,
            fc.core,
            fc.actor,
            dossier,
            reason=str(fc.data.get("reason", "")),
            expected_version=seen_version(fc),
        ),
    )
    if done is not None:
        await notify_producer(fc, dossier)
        fc.say(N_("officer.reject.done"), code=dossier.receipt_code)
    return CARD


ACTION_STEPS: list[Step] = [
    Step("req_items", ask_req_items, got_req_items),
    Step("req_note", ask_req_note, got_req_note, skippable=True),
    Step("forward_confirm", ask_forward, got_forward),
    Step("return_reason", ask_return_reason, got_return_reason),
    Step("reject_reason", ask_reject_reason, got_reject_reason),
    Step("reject_confirm", ask_reject_confirm, got_reject_confirm),
]
