""" "Where is my dossier?" — /hoso, /trangthai, /lich and the same questions in free text."""

from __future__ import annotations

import re
from datetime import date

from bot.flows.engine import FlowContext
from bot.flows.producer import details
from bot.flows.types import Choice, Reply
from ocop_core import receipts
from ocop_core.errors import DomainError
from ocop_core.i18n import N_
from ocop_core.lifecycle import EDITABLE
from ocop_core.models import Dossier
from ocop_core.services import dossiers, results, status
from ocop_core.services.status import StatusSummary

_CODE_IN_TEXT = re.compile(r"\b(L?\d{2}[\s.-]?\d{2}[\s.-]?[0-9A-Za-z]{5})\b")


def render_summary(fc: FlowContext, summary: StatusSummary) -> Reply:
    d = summary.dossier
    done, total = summary.progress
    lines = [
        fc.t(N_("status.title"), code=d.receipt_code, product=d.product_name),
        fc.t(N_("status.stage"), stage=fc.t(summary.stage_key)),
    ]
    if d.stars:
        potential = results.stars_are_potential(d)
        key = N_("rounds.status.stars_potential") if potential else N_("status.stars")
        lines.append(fc.t(key, stars=d.stars, points=fc.number(d.points or 0)))
    lines.append(fc.t(N_("status.documents"), done=done, total=total))
    for req in summary.missing:
        key = N_("status.missing_knockout") if req.kind == "knockout" else N_("status.missing")
        lines.append(fc.t(key, name=fc.t(req.label_key)))
    if _details_missing(d):  # the rest of Mẫu 01 counts like a missing document
        lines.append(fc.t(N_("status.missing"), name=fc.t(N_("details.line"))))
    if summary.star_minimums_missing:
        names = [fc.t(r.label_key) for r in summary.star_minimums_missing]
        lines.append(fc.t(N_("rounds.status.star3_missing"), items=", ".join(names)))
    if summary.deadline is not None:
        dl = summary.deadline
        what = (
            dl.milestone.title(fc.locale)
            if dl.milestone is not None
            else fc.t(f"deadline.{dl.kind}")
        )
        lines.append(
            fc.t(
                N_("status.deadline"),
                date=fc.date(dl.due),
                what=what,
                days=summary.days_left if summary.days_left is not None else 0,
            )
        )
    elif summary.by_province_plan:
        ruleset = fc.t(f"ruleset.{d.ruleset}")
        lines.append(
            fc.t(N_("rounds.status.by_province_plan"), code=d.receipt_code, ruleset=ruleset)
        )
    if summary.next_actor:
        lines.append(fc.t(N_("status.next_actor"), who=fc.t(f"who.{summary.next_actor}")))
    if d.certificate_expiry:
        lines.append(
            fc.t(
                N_("status.certificate"),
                number=d.certificate_number or "",
                expiry=fc.date(d.certificate_expiry),
            )
        )
    choices: list[Choice] = []
    if summary.missing and summary.next_actor == "producer":
        choices.append(Choice(f"menu:documents:{d.id}", fc.t(N_("status.send_documents"))))
    return Reply("\n".join(lines), tuple(choices))


async def show(fc: FlowContext, code: str) -> None:
    summary = await status.status_summary(fc.s, fc.core, fc.actor, code)
    fc.replies.append(render_summary(fc, summary))


async def list_mine(fc: FlowContext) -> None:
    mine = await dossiers.list_dossiers(fc.s, fc.actor, limit=10)
    if not mine:
        fc.say(N_("status.none_yet"))
        return
    if len(mine) == 1:
        fc.replies.append(render_summary(fc, await status.summarise(fc.s, fc.core, mine[0])))
        return
    choices = tuple(
        Choice(f"open:{d.id}", f"{d.receipt_code} · {d.product_name}"[:60]) for d in mine
    )
    fc.replies.append(Reply(fc.t(N_("status.pick_dossier"), count=len(mine)), choices))


async def deadlines(fc: FlowContext) -> None:
    """/lich: every coming date of the person's dossiers, sorted by date and grouped by
    milestone (an officer sees the dossiers of their commune or province)."""
    mine = await dossiers.list_dossiers(fc.s, fc.actor, limit=20)
    dated: list[tuple[date, str, str]] = []  # (when, what, receipt code)
    undated: list[str] = []  # dossiers whose dates the province's own plan sets (not loaded)
    for d in mine:
        summary = await status.summarise(fc.s, fc.core, d)
        if summary.deadline is not None:
            dl = summary.deadline
            what = dl.milestone.title(fc.locale) if dl.milestone else fc.t(f"deadline.{dl.kind}")
            dated.append((dl.due, what, d.receipt_code))
        elif summary.by_province_plan:
            ruleset = fc.t(f"ruleset.{d.ruleset}")
            undated.append(
                fc.t(N_("rounds.status.by_province_plan"), code=d.receipt_code, ruleset=ruleset)
            )
        if d.certificate_expiry:
            dated.append((d.certificate_expiry, fc.t(N_("status.expiry_what")), d.receipt_code))
    if not dated and not undated:
        fc.say(N_("status.no_deadlines"))
        return
    groups: dict[str, list[tuple[date, str]]] = {}
    for due, what, code in sorted(dated):
        groups.setdefault(what, []).append((due, code))
    lines = [fc.t(N_("status.deadlines_title"))]
    for what, items in groups.items():  # in the order of each milestone's first date
        lines.append(fc.t(N_("status.deadline_group"), what=what))
        lines += [
            fc.t(N_("status.deadline_item"), date=fc.date(due), code=code) for due, code in items
        ]
    fc.replies.append(Reply("\n".join(lines + undated)))


def _details_missing(d: Dossier) -> bool:
    return d.stage in EDITABLE and not details.complete(d)


async def missing(fc: FlowContext) -> None:
    """ "Còn thiếu giấy tờ gì?": what each open dossier still lacks, one line per dossier."""
    lines = []
    for d in await dossiers.list_dossiers(fc.s, fc.actor, limit=10):
        summary = await status.summarise(fc.s, fc.core, d)
        names_list = [fc.t(r.label_key) for r in summary.missing]
        if _details_missing(d):
            names_list.insert(0, fc.t(N_("details.line")))
        if not names_list:
            continue
        names = ", ".join(names_list)
        lines.append(fc.t(N_("intent.missing.line"), code=d.receipt_code, names=names))
    if not lines:
        fc.say(N_("intent.missing.none"))
        return
    fc.replies.append(Reply("\n".join([fc.t(N_("intent.missing.title")), *lines])))


async def answer(fc: FlowContext, command: str, args: str) -> None:
    try:
        if command == "deadlines":
            await deadlines(fc)
        elif command == "missing":
            await missing(fc)
        elif command == "status" and args.strip():
            await show(fc, args.strip())
        else:
            await list_mine(fc)
    except DomainError as exc:
        fc.say(exc.key, **exc.params)


async def open_choice(fc: FlowContext, choice: str) -> None:
    try:
        dossier = await dossiers.get_dossier_by_id(fc.s, fc.actor, int(choice.split(":")[1]))
        fc.replies.append(render_summary(fc, await status.summarise(fc.s, fc.core, dossier)))
    except (ValueError, IndexError):
        fc.say(N_("error.dossier_not_found"), code="?")
    except DomainError as exc:
        fc.say(exc.key, **exc.params)


async def answer_free_text(fc: FlowContext, text: str) -> bool:
    """Answer a message naming a receipt code with that dossier's status; False otherwise.
    (Questions in words are global intents, see ``bot.flows.intents``.)"""
    found = _CODE_IN_TEXT.search(text)
    if found and receipts.normalise(found.group(1)):
        await answer(fc, "status", found.group(1))
        return True
    return False
