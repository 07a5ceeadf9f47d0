"""/giayto: the dossier's checklist, photos or PDFs per document, view, replace, submit."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.flows.engine import END, Answer, Flow, FlowContext, Reask, Step
from bot.flows.producer import details, files, submit
from bot.flows.types import Choice, FileIn, FileOut, Reply, UploadSlot
from ocop_core.errors import NotFound
from ocop_core.i18n import N_
from ocop_core.lifecycle import EDITABLE, Stage
from ocop_core.media import assemble_pdf
from ocop_core.models import Dossier
from ocop_core.services import dossiers, status
from ocop_core.services.status import ChecklistItem

MARKS = {"done": "✅", "knockout": "⛔", "mandatory": "❌", "evidence": "▫️"}


async def _dossier(fc: FlowContext) -> Dossier:
    return await dossiers.get_dossier_by_id(fc.s, fc.actor, int(fc.data["dossier_id"]))


def _mark(item: ChecklistItem) -> str:
    if not item.done and item.requirement.star_minimum:
        return "⭐"  # needed for 3 stars: not "evidence that earns points"
    return MARKS["done"] if item.done else MARKS[item.requirement.kind]


async def start(fc: FlowContext, args: dict[str, Any]) -> str:
    if args.get("dossier_id"):
        dossier = await dossiers.get_dossier_by_id(fc.s, fc.actor, int(args["dossier_id"]))
    elif args.get("args"):
        dossier = await dossiers.get_dossier(fc.s, fc.actor, str(args["args"]))
    else:
        open_ones = [
            d
            for d in await dossiers.list_dossiers(fc.s, fc.actor, limit=20)
            if d.stage in EDITABLE or d.stage == Stage.SUBMITTED
        ]
        if not open_ones:
            raise Reask(N_("docs.no_dossier"))
        if len(open_ones) > 1:
            fc.data["candidates"] = [
                [d.id, f"{d.receipt_code} · {d.product_name}"[:60]] for d in open_ones
            ]
            if args.get("files"):
                await _keep_pending(fc, args["files"], None)
            return "pick_dossier"
        dossier = open_ones[0]
    fc.data["dossier_id"] = dossier.id
    if args.get("files"):  # sent from the menu, before choosing anything
        await _keep_pending(fc, args["files"], dossier)
    return "checklist"


async def ask_pick(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("docs.pick_dossier")),
        tuple(Choice(f"d:{i}", label) for i, label in fc.data.get("candidates", [])),
    )


async def got_pick(fc: FlowContext, answer: Answer) -> str:
    raw = answer.require_choice().removeprefix("d:")
    if not raw.isdecimal() or int(raw) not in {c[0] for c in fc.data.get("candidates", [])}:
        raise Reask(N_("flow.reask.pick_one"))
    await dossiers.get_dossier_by_id(fc.s, fc.actor, int(raw))  # authorised again
    fc.data["dossier_id"] = int(raw)
    fc.data.pop("candidates", None)
    return "checklist"


async def ask_checklist(fc: FlowContext) -> Reply:
    dossier = await _dossier(fc)
    summary = await status.summarise(fc.s, fc.core, dossier)
    done, total = summary.progress
    lines = [
        fc.t(
            N_("docs.checklist_title"),
            code=dossier.receipt_code,
            product=dossier.product_name,
            done=done,
            total=total,
        )
    ]
    if summary.knockout_missing:
        lines.append(fc.t(N_("docs.knockout_warning")))
    filled = details.complete(dossier)
    lines.append(fc.t(N_("docs.legend")))
    lines.append(fc.t(N_("rounds.docs.legend_star3")))
    first = [i for i in summary.checklist if _first_page(i)]
    optional = [i for i in summary.checklist if not _first_page(i)]
    if fc.data.get("optional"):  # the second page: documents that add points
        choices = _items(fc, optional)
        choices.append(Choice("required", fc.t(N_("docs.required_page"))))
        return Reply("\n".join(lines), tuple(choices))
    choices = [Choice("details", f"{MARKS['done'] if filled else '📝'} {fc.t(N_('details.line'))}")]
    choices += _items(fc, sorted(first, key=lambda i: i.done))  # missing ones first
    if optional:
        done = sum(1 for i in optional if i.done)
        label = fc.t(N_("docs.optional_page"), done=done, total=len(optional))
        choices.append(Choice("optional", label))
    if not summary.missing and filled and dossier.stage in EDITABLE:
        choices.append(Choice("submit", fc.t(N_("docs.submit"))))
    choices.append(Choice("done", fc.t(N_("docs.finish"))))
    return Reply("\n".join(lines), tuple(choices))


def _first_page(item: ChecklistItem) -> bool:
    """Required documents and those needed for 3 stars; the rest only add points."""
    return item.requirement.blocking or bool(item.requirement.star_minimum)


def _items(fc: FlowContext, items: list[ChecklistItem]) -> list[Choice]:
    return [
        Choice(f"req:{i.requirement.code}", f"{_mark(i)} {fc.t(i.requirement.label_key)}"[:60])
        for i in items
    ]


async def got_checklist(fc: FlowContext, answer: Answer) -> str:
    if answer.files:
        await _keep_pending(fc, answer.files, await _dossier(fc))
        return "checklist"
    choice = answer.require_choice()
    if choice == "done":
        fc.say(N_("docs.bye"))
        return END
    dossier = await _dossier(fc)
    if choice in {"optional", "required"}:  # checklist pages: short screens on a phone
        fc.data["optional"] = choice == "optional"
        return "checklist"
    if choice == "details":
        return fc.switch_to("details", dossier_id=dossier.id)
    if choice == "submit":
        if not details.complete(dossier):
            raise Reask(N_("details.needed_first"))
        return submit.CONFIRM
    code = choice.removeprefix("req:")
    items = {i.requirement.code: i for i in await status.checklist(fc.s, dossier)}
    if code not in items:
        raise Reask(N_("flow.reask.pick_one"))
    fc.data.update(req=code, replace=False)
    if fc.data.get("pending"):
        await _record_pending(fc)
    return "upload"


async def ask_upload(fc: FlowContext) -> Reply:
    dossier = await _dossier(fc)
    code = fc.data["req"]
    item = {i.requirement.code: i for i in await status.checklist(fc.s, dossier)}[code]
    key = N_("docs.upload_prompt") if fc.caps.receive_pdf else N_("docs.upload_prompt_photos")
    text = fc.t(key, name=fc.t(item.requirement.label_key), hint=fc.t(item.requirement.hint_key))
    if not fc.caps.receive_pdf and fc.caps.upload_links:
        text += "\n" + fc.t(N_("docs.pdf_by_link"))
    if item.done:
        text += "\n" + fc.t(N_("docs.already_pages"), pages=item.pages)
    choices = [Choice("finish", fc.t(N_("docs.finish_document")))]
    if item.done:
        choices += [
            Choice("view", fc.t(N_("docs.view"))),
            Choice("replace", fc.t(N_("docs.replace"))),
        ]
    return Reply(text, tuple(choices))


def upload_slot(fc: FlowContext) -> UploadSlot | None:
    """The chosen document, for a file the channel cannot carry (uploaded through a link)."""
    if "dossier_id" not in fc.data or "req" not in fc.data:
        return None
    req = str(fc.data["req"])
    return UploadSlot(int(fc.data["dossier_id"]), req, fc.t(f"doc.{req}"))


async def got_upload(fc: FlowContext, answer: Answer) -> str:
    if not answer.files:
        choice = answer.require_choice()
        if choice == "finish":
            return "checklist"
        if choice == "view":
            await _send_view(fc)
            return "upload"
        if choice == "replace":
            fc.data["replace"] = True
            fc.say(N_("docs.replace_ready"))
            return "upload"
        raise Reask(N_("flow.reask.pick_one"))
    await _store_files(fc, answer)
    return "upload"


async def _store_files(fc: FlowContext, answer: Answer) -> None:
    dossier = await _dossier(fc)
    batch = await files.process(fc, answer.files, dossier)
    await files.record(fc, dossier, str(fc.data["req"]), batch)
    await files.report(fc, dossier, str(fc.data["req"]), batch)


async def _keep_pending(fc: FlowContext, sent: tuple[FileIn, ...], dossier: Dossier | None) -> None:
    """Files sent before choosing their document: kept, and the person is asked which it is."""
    batch = await files.process(fc, sent, dossier)
    fc.data["pending"] = [*(fc.data.get("pending") or []), *batch.pages]
    lines = [*batch.problems]
    if fc.data["pending"]:
        pages = files.Batch(fc.data["pending"]).page_count
        lines.insert(0, fc.t(N_("docs.pending_which"), count=pages))
    fc.replies.append(Reply("\n".join(lines)))


async def _record_pending(fc: FlowContext) -> None:
    dossier = await _dossier(fc)
    batch = files.Batch(list(fc.data.pop("pending")))
    await files.record(fc, dossier, str(fc.data["req"]), batch)
    await files.report(fc, dossier, str(fc.data["req"]), batch)


async def _send_view(fc: FlowContext) -> None:
    dossier = await _dossier(fc)
    docs = [
        d
        for d in await dossiers.current_documents(fc.s, dossier.id or 0)
        if d.requirement == fc.data["req"]
    ]
    if not docs:
        raise NotFound(N_("docs.nothing_to_view"))
    paths = [fc.core.data_dir / d.path for d in docs]
    pdf = await asyncio.to_thread(assemble_pdf, paths)
    out_dir = fc.core.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{dossier.receipt_code}-{fc.data['req']}.pdf"
    (out_dir / name).write_bytes(pdf)
    caption = fc.t(N_("docs.view_caption"), name=fc.t(f"doc.{fc.data['req']}"), pages=len(docs))
    fc.replies.append(
        Reply(caption, files=(FileOut(out_dir / name, name, "application/pdf", caption),))
    )


DOCUMENTS = Flow(
    name="documents",
    first="checklist",
    steps={
        "pick_dossier": Step("pick_dossier", ask_pick, got_pick),
        "checklist": Step("checklist", ask_checklist, got_checklist),
        "upload": Step("upload", ask_upload, got_upload, upload_slot=upload_slot),
        **{s.name: s for s in submit.SUBMIT_STEPS},
    },
    on_start=start,
)
