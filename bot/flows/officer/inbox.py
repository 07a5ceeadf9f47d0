"""/xa, /tinh: the officer's inbox — most urgent first, five per page, filters, per commune."""

from __future__ import annotations

from typing import Any

from bot.flows.engine import END, Answer, FlowContext, Reask
from bot.flows.officer.common import CARD, INBOX
from bot.flows.types import Choice, Reply
from ocop_core import receipts
from ocop_core.clock import local_today
from ocop_core.errors import DomainError, NotFound
from ocop_core.i18n import N_
from ocop_core.lifecycle import Stage
from ocop_core.models import Commune, Province, Role
from ocop_core.services import dossiers, review
from ocop_core.services.review import InboxEntry, InboxPage
from ocop_core.text import fold

COMMUNES_PER_PAGE = 8
# Stage counts shown at the top, in the order of the process.
COUNT_ORDER = [s.value for s in Stage]


async def start(fc: FlowContext, args: dict[str, Any]) -> str:
    if not fc.actor.is_officer:
        raise Reask(N_("officer.only_officers"))
    fc.data.update(view=review.VIEW_MINE, stage=None, commune=None, page=0)
    wanted = str(args.get("dossier_id") or "")
    if wanted:  # from a menu button: "menu:officer_inbox:<id>" (may be forged: checked)
        if not wanted.isdecimal():
            raise NotFound(N_("error.dossier_not_found"), code=wanted[:20])
        dossier = await dossiers.get_dossier_by_id(fc.s, fc.actor, int(wanted))
        fc.data["dossier_id"] = dossier.id
        return CARD
    typed = str(args.get("args") or "").strip()
    if typed and receipts.normalise(typed):
        dossier = await dossiers.get_dossier(fc.s, fc.actor, typed)
        fc.data["dossier_id"] = dossier.id
        return CARD
    return INBOX


async def _page(fc: FlowContext) -> InboxPage:
    return await review.inbox(
        fc.s,
        fc.actor,
        view=fc.data.get("view") or review.VIEW_MINE,
        stage=fc.data.get("stage"),
        commune=fc.data.get("commune"),
        page=int(fc.data.get("page") or 0),
    )


async def _scope_name(fc: FlowContext) -> str:
    if fc.data.get("commune"):
        commune = await fc.s.get(Commune, fc.data["commune"])
        return commune.name if commune else str(fc.data["commune"])
    if fc.actor.role == Role.PROVINCE and fc.actor.province_code:
        province = await fc.s.get(Province, fc.actor.province_code)
        return province.name if province else fc.actor.province_code
    if fc.actor.role == Role.COMMUNE:
        names = []
        for code in sorted(fc.actor.communes):
            commune = await fc.s.get(Commune, code)
            names.append(commune.name if commune else code)
        return ", ".join(names)
    return fc.t(N_("officer.inbox.everywhere"))


def _view_label(fc: FlowContext) -> str:
    view = fc.data.get("view") or review.VIEW_MINE
    if view == review.VIEW_STAGE:
        return fc.t(f"stage.{fc.data.get('stage')}")
    return fc.t(f"officer.view.{view}")


def _entry_line(fc: FlowContext, n: int, entry: InboxEntry) -> str:
    d = entry.dossier
    parts = [entry.producer_name, fc.t(f"stage.{d.stage}")]
    if fc.data.get("commune") is None and fc.actor.role != Role.COMMUNE:
        parts.insert(0, entry.commune_name)
    if d.next_due is not None:
        days = (d.next_due - local_today(fc.core.clock)).days
        if days < 0:  # the stored deadline passed since the dossier last moved
            parts.append(fc.t(N_("officer.inbox.overdue"), date=fc.date(d.next_due)))
        else:
            parts.append(fc.t(N_("officer.inbox.due"), date=fc.date(d.next_due), days=days))
    if entry.knockout_missing:
        parts.append(fc.t(N_("officer.inbox.missing_knockout"), count=entry.missing))
    elif entry.missing:
        parts.append(fc.t(N_("officer.inbox.missing"), count=entry.missing))
    return f"{n}. {d.receipt_code} · {d.product_name}\n   " + " · ".join(parts)


def _counts_line(fc: FlowContext, page: InboxPage) -> str:
    shown = [
        fc.t(N_("officer.inbox.count"), stage=fc.t(f"stage.{stage}"), count=page.counts[stage])
        for stage in COUNT_ORDER
        if page.counts.get(stage)
    ]
    if page.missing_count:
        shown.append(fc.t(N_("officer.inbox.count_missing"), count=page.missing_count))
    # One short line per group: a long header wraps badly on a phone.
    return (
        "\n".join(f"• {line}" for line in shown)
        if shown
        else fc.t(N_("officer.inbox.nothing_open"))
    )


async def ask_inbox(fc: FlowContext) -> Reply:
    fc.data["_history"] = []  # a hub: its own buttons navigate; no "back" trail to keep
    try:
        page = await _page(fc)
    except DomainError as exc:
        return Reply(fc.t(exc.key, **exc.params))
    fc.data["page"] = page.page
    lines = [
        fc.t(N_("officer.inbox.title"), scope=await _scope_name(fc)),
        _counts_line(fc, page),
        fc.t(
            N_("officer.inbox.viewing"),
            view=_view_label(fc),
            page=page.page + 1,
            pages=page.pages,
            total=page.total,
        ),
    ]
    choices: list[Choice] = []
    if not page.entries:
        lines.append(fc.t(N_("officer.inbox.empty")))
    for n, entry in enumerate(page.entries, start=1 + page.page * review.PAGE_SIZE):
        d = entry.dossier
        if fc.caps.buttons:
            lines.append(_entry_line(fc, n, entry))
            label = f"{n}. {d.receipt_code} · {d.product_name}"
        else:  # numbered text options: the option itself carries the details
            label = _entry_line(fc, n, entry).split(". ", 1)[1].replace("\n   ", " · ")
        choices.append(Choice(f"d:{d.id}", label[:60] if fc.caps.buttons else label[:200]))
    if page.entries:
        hint = N_("officer.inbox.hint") if fc.caps.buttons else N_("officer.inbox.hint_numbers")
        lines.append(fc.t(hint))
    if page.page + 1 < page.pages:
        choices.append(Choice("next", fc.t(N_("officer.inbox.next"))))
    if page.page > 0:
        choices.append(Choice("prev", fc.t(N_("officer.inbox.prev"))))
    choices.append(Choice("filter", fc.t(N_("officer.inbox.filter"))))
    if fc.actor.role in (Role.PROVINCE, Role.ADMIN):
        choices.append(Choice("communes", fc.t(N_("officer.inbox.by_commune"))))
    choices.append(Choice("close", fc.t(N_("officer.inbox.close"))))
    return Reply("\n".join(lines), tuple(choices))


async def got_inbox(fc: FlowContext, answer: Answer) -> str:
    if not fc.actor.is_officer:
        fc.say(N_("officer.only_officers"))
        return END
    if answer.choice is None:
        return await _typed_code(fc, answer)
    choice = answer.choice
    if choice.startswith("d:") and choice[2:].isdecimal():
        # The id came from this prompt's own list; the core still checks it.
        dossier = await dossiers.get_dossier_by_id(fc.s, fc.actor, int(choice[2:]))
        fc.data["dossier_id"] = dossier.id
        return CARD
    if choice in ("next", "prev"):
        fc.data["page"] = int(fc.data.get("page") or 0) + (1 if choice == "next" else -1)
        return INBOX
    if choice == "filter":
        return "filter"
    if choice == "communes":
        fc.data["commune_page"] = 0
        return "communes"
    if choice == "close":
        return END
    raise Reask(N_("flow.reask.pick_one"))


async def _typed_code(fc: FlowContext, answer: Answer) -> str:
    text = answer.require_text(40)
    if receipts.normalise(text) is None:
        raise Reask(N_("officer.inbox.type_code"))
    dossier = await dossiers.get_dossier(fc.s, fc.actor, text)
    fc.data["dossier_id"] = dossier.id
    return CARD


async def ask_filter(fc: FlowContext) -> Reply:
    page = await _page(fc)
    choices = [
        Choice("f:mine", fc.t(N_("officer.view.mine"))),
        Choice("f:open", fc.t(N_("officer.view.open"))),
        Choice(
            "f:missing",
            fc.t(N_("officer.filter.missing"), count=page.missing_count),
        ),
    ]
    for stage in COUNT_ORDER:
        if page.counts.get(stage):
            label = fc.t(
                N_("officer.inbox.count"), stage=fc.t(f"stage.{stage}"), count=page.counts[stage]
            )
            choices.append(Choice(f"f:stage:{stage}", label))
    if fc.data.get("commune") and fc.actor.role != Role.COMMUNE:
        choices.append(Choice("f:all_communes", fc.t(N_("officer.filter.all_communes"))))
    return Reply(fc.t(N_("officer.filter.prompt")), tuple(choices))


async def got_filter(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "f:all_communes":
        fc.data["commune"] = None
    elif choice.startswith("f:stage:"):
        fc.data.update(view=review.VIEW_STAGE, stage=choice.removeprefix("f:stage:"))
    elif choice in ("f:mine", "f:open", "f:missing"):
        fc.data.update(view=choice[2:], stage=None)
    else:
        raise Reask(N_("flow.reask.pick_one"))
    fc.data["page"] = 0
    return INBOX


async def ask_communes(fc: FlowContext) -> Reply:
    rows = await review.communes_overview(fc.s, fc.actor)
    page = int(fc.data.get("commune_page") or 0)
    shown = rows[page * COMMUNES_PER_PAGE : (page + 1) * COMMUNES_PER_PAGE]
    choices = [
        Choice(f"c:{code}", fc.t(N_("officer.communes.item"), name=name, count=n))
        for code, name, n in shown
    ]
    if (page + 1) * COMMUNES_PER_PAGE < len(rows):
        choices.append(Choice("next", fc.t(N_("officer.inbox.next"))))
    if page > 0:
        choices.append(Choice("prev", fc.t(N_("officer.inbox.prev"))))
    key = N_("officer.communes.prompt") if rows else N_("officer.communes.none")
    return Reply(fc.t(key), tuple(choices))


async def got_communes(fc: FlowContext, answer: Answer) -> str:
    if answer.choice in ("next", "prev"):
        step = 1 if answer.choice == "next" else -1
        fc.data["commune_page"] = max(0, int(fc.data.get("commune_page") or 0) + step)
        return "communes"
    if answer.choice and answer.choice.startswith("c:"):
        code = answer.choice[2:]
    else:  # a typed name: match it among the communes with open dossiers
        typed = fold(answer.require_text(80))
        rows = await review.communes_overview(fc.s, fc.actor)
        matches = [c for c, name, _ in rows if typed in fold(name)]
        if len(matches) != 1:
            raise Reask(N_("officer.communes.not_one"))
        code = matches[0]
    await review.check_commune(fc.s, fc.actor, code)
    fc.data.update(commune=code, view=review.VIEW_OPEN, stage=None, page=0)
    return INBOX
