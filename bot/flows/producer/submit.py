"""Submitting a dossier: a confirmation screen (what is sent, what is still missing, who will
receive it), then the submission and a notice to whoever receives it."""

from __future__ import annotations

from bot.flows.engine import END, Answer, FlowContext, Reask, Step
from bot.flows.types import Choice, Outgoing, Reply
from ocop_core.i18n import N_
from ocop_core.models import Account, Dossier
from ocop_core.services import accounts, dossiers, status

CONFIRM = "submit_confirm"


async def _dossier(fc: FlowContext) -> Dossier:
    return await dossiers.get_dossier_by_id(fc.s, fc.actor, int(fc.data["dossier_id"]))


def _names(people: list[Account]) -> str:
    return ", ".join(p.display_name or (p.phone or "") for p in people if p) or "—"


async def ask_confirm(fc: FlowContext) -> Reply:
    dossier = await _dossier(fc)
    items = await status.checklist(fc.s, dossier)
    sent = [
        fc.t(N_("submit.sent_line"), name=fc.t(i.requirement.label_key), pages=i.pages)
        for i in items
        if i.done
    ]
    optional = [fc.t(i.requirement.label_key) for i in items if not i.done]
    officers, _staff = await accounts.who_receives(fc.s, dossier.commune_code)
    lines = [fc.t(N_("submit.title"), code=dossier.receipt_code, product=dossier.product_name)]
    lines += sent
    if optional:
        lines.append(fc.t(N_("submit.still_missing"), names=", ".join(optional)))
    if officers:
        lines.append(fc.t(N_("submit.to_officers"), names=_names(officers)))
    else:
        lines.append(fc.t(N_("submit.to_province")))
    return Reply(
        "\n".join(lines),
        (
            Choice("yes", fc.t(N_("submit.yes"))),
            Choice("no", fc.t(N_("submit.no"))),
        ),
        columns=2,
    )


async def got_confirm(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "no":
        return "checklist"
    if choice != "yes":
        raise Reask(N_("flow.reask.pick_one"))
    dossier = await dossiers.submit(fc.s, fc.core, fc.actor, await _dossier(fc))
    officers, staff = await accounts.who_receives(fc.s, dossier.commune_code)
    key = N_("submit.notice.officer") if officers else N_("submit.notice.province")
    for person in officers or staff:
        fc.outbox.append(
            Outgoing(
                person.id or 0,
                key,
                f"submitted:{dossier.id}:{dossier.version}:{person.id}",
                {"code": dossier.receipt_code, "product": dossier.product_name},
                priority=2,
            )
        )
    if officers:
        fc.say(N_("submit.done_officers"), code=dossier.receipt_code, names=_names(officers))
    else:
        fc.say(N_("submit.done_province"), code=dossier.receipt_code)
    return END


SUBMIT_STEPS = [Step(CONFIRM, ask_confirm, got_confirm)]
