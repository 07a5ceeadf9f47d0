"""The commune check (Mẫu 03) in chat: the four local criteria, each met or not with a note,
then the report PDF. Steps are named per criterion so "back" returns to the right question."""

from __future__ import annotations

from bot.flows.engine import Answer, FlowContext, Reask, Step
from bot.flows.officer.actions import SKIP, attempt
from bot.flows.officer.card import send_report
from bot.flows.officer.common import CARD, current_dossier, notify_producer, seen_version
from bot.flows.types import Choice, Reply
from ocop_core.i18n import N_
from ocop_core.services import dossiers

CRITERIA = dossiers.COMMUNE_CRITERIA


def _check_steps(index: int, key: str) -> list[Step]:
    nxt = f"check_{CRITERIA[index + 1]}" if index + 1 < len(CRITERIA) else "check_confirm"

    async def ask_met(fc: FlowContext) -> Reply:
        text = fc.t(
            N_("officer.check.ask"),
            n=index + 1,
            total=len(CRITERIA),
            name=fc.t(f"check.{key}"),
            hint=fc.t(f"check.{key}.hint"),
        )
        choices = (
            Choice("met", fc.t(N_("officer.check.met"))),
            Choice("not_met", fc.t(N_("officer.check.not_met"))),
        )
        return Reply(text, choices, columns=2)

    async def got_met(fc: FlowContext, answer: Answer) -> str:
        choice = answer.require_choice()
        if choice not in ("met", "not_met"):
            raise Reask(N_("flow.reask.pick_one"))
        fc.data.setdefault("check", {})[key] = {"met": choice == "met", "note": ""}
        return f"note_{key}"

    async def ask_note(fc: FlowContext) -> Reply:
        return Reply(fc.t(N_("officer.check.note"), name=fc.t(f"check.{key}")))

    async def got_note(fc: FlowContext, answer: Answer) -> str:
        note = "" if answer.choice == SKIP else answer.require_text(500)
        fc.data.setdefault("check", {}).setdefault(key, {"met": False})["note"] = note
        return nxt

    return [
        Step(f"check_{key}", ask_met, got_met),
        Step(f"note_{key}", ask_note, got_note, skippable=True),
    ]


async def ask_check_confirm(fc: FlowContext) -> Reply:
    check = fc.data.get("check") or {}
    lines = [fc.t(N_("officer.check.summary"))]
    for key in CRITERIA:
        item = check.get(key) or {}
        mark = "✅" if item.get("met") else "❌"
        note = f" — {item['note']}" if item.get("note") else ""
        lines.append(f"{mark} {fc.t(f'check.{key}')}{note}")
    choices = (
        Choice("confirm", fc.t(N_("officer.check.confirm"))),
        Choice("redo", fc.t(N_("officer.check.redo"))),
        Choice("cancel", fc.t(N_("officer.cancel"))),
    )
    return Reply("\n".join(lines), choices)


async def got_check_confirm(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "cancel":
        return CARD
    if choice == "redo":
        fc.data["check"] = {}
        return f"check_{CRITERIA[0]}"
    if choice != "confirm":
        raise Reask(N_("flow.reask.pick_one"))
    check = fc.data.get("check") or {}
    if set(check) != set(CRITERIA):  # a "back" skipped a criterion: ask from the start
        fc.data["check"] = {}
        fc.say(N_("error.commune_check_incomplete"))
        return f"check_{CRITERIA[0]}"
    dossier = await current_dossier(fc)
    done = await attempt(
        fc,
        dossiers.record_commune_check(
            fc.s, fc.core, fc.actor, dossier, results=check, expected_version=seen_version(fc)
        ),
    )
    if done is None:
        return CARD
    await notify_producer(fc, dossier)
    await send_report(fc, fc.t(N_("officer.check.done"), code=dossier.receipt_code))
    return CARD


CHECK_STEPS: list[Step] = [
    *(step for i, key in enumerate(CRITERIA) for step in _check_steps(i, key)),
    Step("check_confirm", ask_check_confirm, got_check_confirm),
]
