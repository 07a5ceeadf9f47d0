"""/giayto: the dossier's checklist, photos or PDFs per document, view, replace, submit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.flows.engine import END, Answer, Flow, FlowContext, Reask, Step
from bot.flows.types import Choice, FileOut, Reply, UploadSlot
from ocop_core.errors import DomainError, NotFound
from ocop_core.i18n import N_
from ocop_core.lifecycle import EDITABLE, Stage
from ocop_core.media import MediaStore, ProcessedFile, assemble_pdf, process_upload
from ocop_core.models import Dossier
from ocop_core.services import dossiers, status
from ocop_core.services.status import ChecklistItem

MARKS = {"done": "✅", "knockout": "⛔", "mandatory": "❌", "evidence": "▫️"}
MAX_FILES_PER_MESSAGE = 10


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
            return "pick_dossier"
        dossier = open_ones[0]
    fc.data["dossier_id"] = dossier.id
    return "checklist"


async def ask_pick(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("docs.pick_dossier")),
        tuple(Choice(f"d:{i}", label) for i, label in fc.data.get("candidates", [])),
    )


async def got_pick(fc: FlowContext, answer: Answer) -> str:
    raw = answer.require_choice().removeprefix("d:")
    if not raw.isdigit() or int(raw) not in {c[0] for c in fc.data.get("candidates", [])}:
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
    lines.append(fc.t(N_("docs.legend")))
    lines.append(fc.t(N_("rounds.docs.legend_star3")))
    choices = [
        Choice(
            f"req:{item.requirement.code}", f"{_mark(item)} {fc.t(item.requirement.label_key)}"[:60]
        )
        for item in summary.checklist
    ]
    if not summary.missing and dossier.stage in EDITABLE:
        choices.append(Choice("submit", fc.t(N_("docs.submit"))))
    choices.append(Choice("done", fc.t(N_("docs.finish"))))
    return Reply("\n".join(lines), tuple(choices))


async def got_checklist(fc: FlowContext, answer: Answer) -> str:
    if answer.files:
        raise Reask(N_("docs.choose_first"))
    choice = answer.require_choice()
    if choice == "done":
        fc.say(N_("docs.bye"))
        return END
    dossier = await _dossier(fc)
    if choice == "submit":
        await dossiers.submit(fc.s, fc.core, fc.actor, dossier)
        fc.say(N_("docs.submitted"), code=dossier.receipt_code)
        return END
    code = choice.removeprefix("req:")
    items = {i.requirement.code: i for i in await status.checklist(fc.s, dossier)}
    if code not in items:
        raise Reask(N_("flow.reask.pick_one"))
    fc.data.update(req=code, replace=False)
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
    if len(answer.files) > MAX_FILES_PER_MESSAGE:
        raise Reask(N_("docs.too_many_files"), limit=MAX_FILES_PER_MESSAGE)
    await _store_files(fc, answer)
    return "upload"


async def _store_files(fc: FlowContext, answer: Answer) -> None:
    """Every file through the media pipeline; one answer for the whole album."""
    store = MediaStore(fc.core.media_dir)
    results: list[ProcessedFile | DomainError] = []
    for f in answer.files:
        try:
            results.append(
                await asyncio.to_thread(
                    process_upload, f.data, filename=f.filename, declared_mime=f.mime
                )
            )
        except DomainError as exc:
            results.append(exc)
    problems: list[str] = []
    pages: list[dict[str, Any]] = []
    dossier = await _dossier(fc)
    known = {d.sha256 for d in await dossiers.current_documents(fc.s, dossier.id or 0)}
    for number, result in enumerate(results, start=1):
        if isinstance(result, DomainError):
            problems.append(
                fc.t(N_("docs.file_refused"), n=number, reason=fc.t(result.key, **result.params))
            )
            continue
        if result.kind == "pdf" and not fc.caps.receive_pdf:
            problems.append(
                fc.t(N_("docs.file_refused"), n=number, reason=fc.t(N_("docs.photos_only")))
            )
            continue
        if not result.acceptable:
            hints = " ".join(fc.t(h) for h in result.hints)
            problems.append(fc.t(N_("docs.file_refused"), n=number, reason=hints))
            continue
        stored = await asyncio.to_thread(store.store_processed, result)
        if stored.sha256 in known:  # the same photo sent twice: keep one copy
            problems.append(fc.t(N_("docs.duplicate"), n=number))
            continue
        known.add(stored.sha256)
        pages.append(
            {
                "path": str(Path("media") / stored.path),
                "sha256": stored.sha256,
                "mime": stored.mime,
                "pages": stored.pages,
                "size_bytes": stored.size,
                "quality_flags": list(result.flags),
            }
        )
    if pages:
        await dossiers.record_document(
            fc.s,
            fc.core,
            fc.actor,
            dossier,
            requirement=fc.data["req"],
            pages=pages,
            replace=bool(fc.data.get("replace")),
        )
        fc.data["replace"] = False
    summary = await status.summarise(fc.s, fc.core, dossier)
    done, total = summary.progress
    lines = []
    if pages:
        lines.append(
            fc.t(N_("docs.received"), count=len(pages), name=fc.t(f"doc.{fc.data['req']}"))
        )
    lines += problems
    lines.append(fc.t(N_("docs.progress"), done=done, total=total))
    if summary.missing:
        names = ", ".join(fc.t(r.label_key) for r in summary.missing[:6])
        lines.append(fc.t(N_("docs.still_missing"), names=names))
    else:
        lines.append(fc.t(N_("docs.all_there")))
    fc.replies.append(Reply("\n".join(lines)))


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
    },
    on_start=start,
)
