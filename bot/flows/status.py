""" "Where is my dossier?" — /hoso, /trangthai, /lich and the same questions in free text."""

from __future__ import annotations

import re

from bot.flows.engine import FlowContext
from bot.flows.types import Choice, Reply
from ocop_core import receipts
from ocop_core.admin_units import fold
from ocop_core.errors import DomainError
from ocop_core.i18n import N_
from ocop_core.services import dossiers, results, status
from ocop_core.services.status import StatusSummary

# Free-text questions about status, compared without accents ("hồ sơ của tôi đến đâu rồi").
STATUS_WORDS = (
    "ho so",
    "trang thai",
    "den dau",
    "tien do",
    "kiem tra",
    "status",
    "my dossier",
    "where is",
    "hoso",
)
DEADLINE_WORDS = ("han chot", "han nop", "lich", "bao gio", "deadline", "khi nao")
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
    mine = await dossiers.list_dossiers(fc.s, fc.actor, limit=20)
    lines = []
    for d in mine:
        summary = await status.summarise(fc.s, fc.core, d)
        if summary.deadline is None and summary.by_province_plan:
            ruleset = fc.t(f"ruleset.{d.ruleset}")
            lines.append(
                fc.t(N_("rounds.status.by_province_plan"), code=d.receipt_code, ruleset=ruleset)
            )
            continue
        if summary.deadline is None:
            continue
        dl = summary.deadline
        what = dl.milestone.title(fc.locale) if dl.milestone else fc.t(f"deadline.{dl.kind}")
        lines.append(
            fc.t(N_("status.deadline_line"), date=fc.date(dl.due), what=what, code=d.receipt_code)
        )
        if d.certificate_expiry:
            lines.append(
                fc.t(
                    N_("status.expiry_line"),
                    code=d.receipt_code,
                    date=fc.date(d.certificate_expiry),
                )
            )
    if not lines:
        fc.say(N_("status.no_deadlines"))
        return
    fc.replies.append(Reply("\n".join([fc.t(N_("status.deadlines_title")), *lines])))


async def answer(fc: FlowContext, command: str, args: str) -> None:
    try:
        if command == "deadlines":
            await deadlines(fc)
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
    """Answer a typed question about status or deadlines; False if it is neither."""
    found = _CODE_IN_TEXT.search(text)
    if found and receipts.normalise(found.group(1)):
        await answer(fc, "status", found.group(1))
        return True
    folded = fold(text)
    if any(word in folded for word in DEADLINE_WORDS):
        await answer(fc, "deadlines", "")
        return True
    if any(word in folded for word in STATUS_WORDS):
        await answer(fc, "status", "")
        return True
    return False
