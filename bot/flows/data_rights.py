"""/dulieu: what the bot stores about me — see it, take a copy, correct my name or phone,
withdraw consent and erase (Decree 13/2023/NĐ-CP). The work is done by the core service
``ocop_core.services.personal_data``; this flow only asks and tells."""

from __future__ import annotations

from typing import Any

from bot.flows.engine import END, Answer, Flow, FlowContext, Reask, Step
from bot.flows.types import Choice, FileOut, Reply
from ocop_core.i18n import N_
from ocop_core.services import personal_data

SEE, EXPORT, NAME, PHONE, ERASE, DONE = "see", "export", "name", "phone", "erase", "done"
YES, NO = "yes", "no"


async def start(fc: FlowContext, _args: dict[str, Any]) -> str:
    return "menu"


async def menu_prompt(fc: FlowContext) -> Reply:
    labels = [
        (SEE, N_("data.choice.see")),
        (EXPORT, N_("data.choice.export")),
        (NAME, N_("data.choice.name")),
        (PHONE, N_("data.choice.phone")),
        (ERASE, N_("data.choice.erase")),
        (DONE, N_("data.choice.done")),
    ]
    choices = tuple(Choice(cid, fc.t(key)) for cid, key in labels)
    return Reply(fc.t(N_("data.menu")), choices=choices)


async def menu_handle(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == SEE:
        fc.replies.append(Reply(await summary(fc)))
        return "menu"
    if choice == EXPORT:
        path = await personal_data.export(fc.s, fc.core, fc.account)
        caption = fc.t(N_("data.export_caption"))
        fc.replies.append(
            Reply(caption, files=(FileOut(path, path.name, "application/zip", caption),))
        )
        return END
    return {NAME: "name", PHONE: "phone", ERASE: "confirm"}.get(choice, END)


async def summary(fc: FlowContext) -> str:
    data = await personal_data.collect(fc.s, fc.account)
    account = data["account"]
    codes = ", ".join(d["receipt_code"] for d in data["dossiers"]) or "-"
    return fc.t(
        N_("data.summary"),
        name=account["name"] or "-",
        phone=account["phone"] or "-",
        channel=account["channel"],
        consent=(account["consent_at"] or "-")[:10],
        producers=", ".join(p["name"] for p in data["producers"] if p["name"]) or "-",
        dossiers=codes,
        documents=len(data["documents"]),
        messages=data["messages_kept"],
    )


async def name_prompt(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("data.ask_name")))


async def name_handle(fc: FlowContext, answer: Answer) -> str:
    name = await personal_data.correct_name(fc.s, fc.account, answer.require_text(200))
    fc.say(N_("data.name_saved"), name=name)
    return END


async def phone_prompt(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("data.ask_phone")))


async def phone_handle(fc: FlowContext, answer: Answer) -> str:
    typed = answer.phone or answer.require_text(40)
    phone = await personal_data.correct_phone(fc.s, fc.account, typed)
    fc.say(N_("data.phone_saved"), phone=phone)
    return END


async def confirm_prompt(fc: FlowContext) -> Reply:
    choices = (
        Choice(YES, fc.t(N_("data.choice.erase_yes"))),
        Choice(NO, fc.t(N_("data.choice.erase_no"))),
    )
    return Reply(fc.t(N_("data.erase_confirm")), choices=choices)


async def confirm_handle(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == NO:
        fc.say(N_("data.erase_cancelled"))
        return END
    if choice != YES:
        raise Reask(N_("flow.reask.pick_one"))
    done = await personal_data.erase(fc.s, fc.core, fc.account)
    fc.say(N_("data.erased"), documents=done.deleted_documents, dossiers=done.deleted_dossiers)
    if done.kept:
        fc.say(N_("data.erased_kept"), codes=", ".join(done.kept))
    return END


DATA_RIGHTS = Flow(
    name="data_rights",
    first="menu",
    steps={
        "menu": Step("menu", menu_prompt, menu_handle),
        "name": Step("name", name_prompt, name_handle),
        "phone": Step("phone", phone_prompt, phone_handle),
        "confirm": Step("confirm", confirm_prompt, confirm_handle),
    },
    on_start=start,
)
