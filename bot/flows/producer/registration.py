"""/dangky: register a product idea (Mẫu 01 and the idea basics), summary with edits, confirm."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from bot.flows.engine import END, Answer, Flow, FlowContext, Reask, Step
from bot.flows.matching import match_choice
from bot.flows.producer import place
from bot.flows.types import Choice, Reply
from ocop_core.admin_units import current_provinces
from ocop_core.clock import local_today
from ocop_core.i18n import N_, translate
from ocop_core.models import Attempt, Commune, Dossier, ProducerKind
from ocop_core.rules import taxonomy
from ocop_core.services import dossiers, rounds, status
from ocop_core.services.dossiers import ProducerInput, RegistrationInput
from ocop_core.services.rollover import round_label
from ocop_core.text import fold

SHARES = ("under_50", "50_75", "over_75", "all")
ORIGINS = ("own", "tradition", "commune", "partner")
MARKETS = ("commune", "province", "national", "export")
SUPPORT = ("packaging", "quality", "trademark", "promotion", "training", "none")
# Summary lines of the idea: (data field, catalog label key, step that edits it). The rest of
# Mẫu 01 is asked later in one sitting (``details``), as a line of the dossier's checklist.
SUMMARY_FIELDS = (
    ("kind", N_("reg.field.kind"), "kind"),
    ("producer_name", N_("reg.field.producer_name"), "producer_name"),
    ("commune_name", N_("reg.field.commune"), "place"),
    ("product_name", N_("reg.field.product_name"), "product_name"),
    ("criteria_set", N_("reg.field.criteria_set"), "sector"),
    ("attempt", N_("reg.field.attempt"), "attempt"),
)


def _reg(fc: FlowContext) -> dict[str, Any]:
    return fc.data.setdefault("reg", {})


def _then(fc: FlowContext, step: str) -> str:
    """After an edit from the summary, go back to the summary instead of onwards."""
    return "summary" if fc.data.get("_editing") else step


def _choices(fc: FlowContext, prefix: str, ids: tuple[str, ...]) -> tuple[Choice, ...]:
    return tuple(Choice(i, fc.t(f"{prefix}.{i}")) for i in ids)


def _text_step(
    key: str, field: str, nxt: str, limit: int = 200, *, skippable: bool = False
) -> Step:
    async def prompt(fc: FlowContext) -> Reply:
        return Reply(fc.t(key))

    async def handle(fc: FlowContext, answer: Answer) -> str:
        if skippable and answer.choice == "skip":
            _reg(fc)[field] = ""
        else:
            _reg(fc)[field] = answer.require_text(limit)
        return _then(fc, nxt)

    return Step(field, prompt, handle, skippable=skippable)


def _choice_step(key: str, field: str, prefix: str, ids: tuple[str, ...], nxt: str) -> Step:
    async def prompt(fc: FlowContext) -> Reply:
        return Reply(fc.t(key), _choices(fc, prefix, ids), columns=2 if len(ids) > 3 else 1)

    async def handle(fc: FlowContext, answer: Answer) -> str:
        choice = answer.require_choice()
        if choice not in ids:
            raise Reask(N_("flow.reask.pick_one"))
        _reg(fc)[field] = choice
        return _then(fc, nxt)

    return Step(field, prompt, handle)


async def ask_kind(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("reg.ask.kind")),
        _choices(fc, "producer_kind", tuple(k.value for k in ProducerKind)),
        columns=2,
    )


async def got_kind(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice not in {k.value for k in ProducerKind}:
        raise Reask(N_("flow.reask.pick_one"))
    _reg(fc)["kind"] = choice
    return _then(fc, "producer_name")


async def got_product_name(fc: FlowContext, answer: Answer) -> str:
    _reg(fc)["product_name"] = answer.require_text(200)
    if fc.data.get("_editing"):
        return "summary"
    guess = guess_set(_reg(fc)["product_name"])
    if guess is None:
        return "sector"
    fc.data["set_guess"] = guess
    return "set_guess"


async def ask_set_guess(fc: FlowContext) -> Reply:
    code = int(fc.data.get("set_guess") or 0)
    return Reply(
        fc.t(N_("reg.set_guess.ask"), name=fc.t(f"set.{code}")),
        (
            Choice("yes", fc.t(N_("reg.set_guess.yes"))),
            Choice("other", fc.t(N_("reg.set_guess.other"))),
        ),
        columns=2,
    )


async def got_set_guess(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "other":
        return "sector"
    if choice != "yes":
        raise Reask(N_("flow.reask.pick_one"))
    _reg(fc)["criteria_set"] = int(fc.data.pop("set_guess"))
    return _then(fc, "attempt")


_STOP = frozenset({"khac", "tu", "va", "san", "pham", "cac", "loai"})


def _words(text: str) -> set[str]:
    """Content words: "chế biến" (processed) says nothing about which product it is."""
    folded = fold(text.replace(",", " ")).replace("che bien", " ")
    return {w for w in folded.split() if w not in _STOP}


def guess_set(product: str) -> int | None:
    """The criteria set whose name shares the most words with the product's name ("Mật ong
    bạc hà" → "Mật ong, mật khác…"); the shorter name wins a tie; None when nothing is shared.
    The person confirms the guess."""
    words = {w for w in _words(product) if len(w) >= 3}
    best: tuple[int, int, int] | None = None  # (-shared, label length, code)
    for cs in taxonomy().sets:
        label = translate(cs.label_key, "vi")
        shared = len(words & _words(label))
        if shared and (best is None or (-shared, len(label), cs.code) < best):
            best = (-shared, len(label), cs.code)
    return best[2] if best else None


async def ask_same_producer(fc: FlowContext) -> Reply:
    reg = _reg(fc)
    return Reply(
        fc.t(N_("reg.same_producer.ask"), name=reg["producer_name"], place=reg["commune_name"]),
        (
            Choice("yes", fc.t(N_("reg.same_producer.yes"))),
            Choice("no", fc.t(N_("reg.same_producer.no"))),
        ),
        columns=2,
    )


async def got_same_producer(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "yes":
        return "product_name"
    if choice != "no":
        raise Reask(N_("flow.reask.pick_one"))
    fc.data["reg"] = {}
    return "kind"


async def start(fc: FlowContext, _args: dict[str, Any]) -> str:
    """A second product reuses the producer's details after one confirmation."""
    known = await dossiers.producer_of(fc.s, fc.actor)
    if known is None:
        return "kind"
    commune = await fc.s.get(Commune, known.commune_code)
    names = dict(current_provinces())
    place = commune.name if commune else known.commune_code
    if commune is not None:
        place = f"{commune.name}, {names.get(commune.province_code, '')}"
    _reg(fc).update(
        kind=known.kind,
        producer_name=known.name,
        representative=known.representative,
        registration_number=known.registration_number or "",
        commune=known.commune_code,
        province=commune.province_code if commune else "",
        commune_name=place,
    )
    return "same_producer"


async def ask_sector(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("reg.ask.sector")),
        tuple(Choice(f"sec:{s.code}", fc.t(s.label_key)) for s in taxonomy().sectors),
    )


async def got_sector(fc: FlowContext, answer: Answer) -> str:
    code = answer.require_choice().removeprefix("sec:")
    if code not in {s.code for s in taxonomy().sectors}:
        raise Reask(N_("flow.reask.pick_one"))
    fc.data["sector"] = code
    return "criteria_set"


PAGE = 7  # options per screen, with "more" as the eighth


def _all_sets(fc: FlowContext) -> list[list[str]]:
    return [
        [f"set:{c.code}", fc.t(c.label_key)]
        for c in taxonomy().sets_in_sector(fc.data.get("sector", "I"))
    ]


async def ask_set(fc: FlowContext) -> Reply:
    """A long list is paged ("gõ tên nhóm, hoặc chọn Xem thêm"); typed words search all of it."""
    offered = _all_sets(fc)
    page = int(fc.data.get("set_page") or 0) % max(1, -(-len(offered) // PAGE))
    shown = offered[page * PAGE : (page + 1) * PAGE] if len(offered) > PAGE + 1 else offered
    choices = [Choice(cid, label) for cid, label in shown]
    key = N_("reg.ask.criteria_set")
    if len(shown) < len(offered):
        choices.append(Choice("more", fc.t(N_("reg.set.more"))))
        key = N_("reg.ask.criteria_set_paged")
    return Reply(fc.t(key), tuple(choices))


async def got_set(fc: FlowContext, answer: Answer) -> str:
    if answer.choice == "more":
        fc.data["set_page"] = int(fc.data.get("set_page") or 0) + 1
        return "criteria_set"
    if answer.choice is None and answer.text:  # typed: search the whole list, not one page
        found = match_choice(answer.text, _all_sets(fc))
        if found.ambiguous:
            raise Reask(N_("flow.reask.which"), a=found.ambiguous[0], b=found.ambiguous[1])
        answer = Answer(choice=found.choice)
    raw = answer.require_choice().removeprefix("set:")
    if f"set:{raw}" not in {cid for cid, _label in _all_sets(fc)}:
        raise Reask(N_("flow.reask.pick_one"))
    fc.data.pop("set_page", None)
    _reg(fc)["criteria_set"] = int(raw)
    return _then(fc, "attempt")


async def ask_attempt(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("reg.ask.attempt")), _choices(fc, "attempt", tuple(a.value for a in Attempt))
    )


async def got_attempt(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice not in {a.value for a in Attempt}:
        raise Reask(N_("flow.reask.pick_one"))
    _reg(fc)["attempt"] = choice
    if choice == Attempt.NEW:
        _reg(fc).pop("previous_certificate_number", None)
        _reg(fc).pop("previous_certificate_date", None)
        return "summary"
    return "previous_number"


async def got_previous_date(fc: FlowContext, answer: Answer) -> str:
    text = answer.require_text(20)
    try:
        value = datetime.strptime(re.sub(r"[.\-\s]", "/", text), "%d/%m/%Y").date()
    except ValueError:
        raise Reask(N_("reg.reask.date")) from None
    if value > local_today(fc.core.clock) or value.year < 2018:  # OCOP certificates began 2018
        raise Reask(N_("reg.reask.date"))
    _reg(fc)["previous_certificate_date"] = value.isoformat()
    return "summary"


def _display(fc: FlowContext, field: str, value: Any) -> str:
    if value in (None, ""):
        return "—"
    labels = {
        "kind": "producer_kind",
        "local_share": "share",
        "idea_origin": "origin",
        "market": "market",
        "support": "support",
        "attempt": "attempt",
    }
    if field in labels:
        return fc.t(f"{labels[field]}.{value}")
    if field == "criteria_set":
        return fc.t(f"set.{value}")
    return str(value)


async def ask_summary(fc: FlowContext) -> Reply:
    fc.data.pop("_editing", None)
    reg = _reg(fc)
    lines = [fc.t(N_("reg.summary.title"))]
    for field, label, _step in SUMMARY_FIELDS:
        lines.append(f"• {fc.t(label)}: {_display(fc, field, reg.get(field))}")
    if reg.get("previous_certificate_number"):
        lines.append(
            f"• {fc.t(N_('reg.field.previous_certificate'))}: "
            f"{reg['previous_certificate_number']} ({reg.get('previous_certificate_date')})"
        )
    return Reply(
        "\n".join(lines),
        (
            Choice("confirm", fc.t(N_("reg.summary.confirm"))),
            Choice("edit", fc.t(N_("reg.summary.edit"))),
        ),
        columns=2,
    )


async def got_summary(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "edit":
        return "edit_pick"
    if choice != "confirm":
        raise Reask(N_("flow.reask.pick_one"))
    return await _create(fc)


async def ask_edit_pick(fc: FlowContext) -> Reply:
    return Reply(
        fc.t(N_("reg.ask.edit_pick")),
        tuple(Choice(f"edit:{step}", fc.t(label)) for _f, label, step in SUMMARY_FIELDS),
        columns=2,
    )


async def got_edit_pick(fc: FlowContext, answer: Answer) -> str:
    step = answer.require_choice().removeprefix("edit:")
    if step not in {s for _f, _l, s in SUMMARY_FIELDS}:
        raise Reask(N_("flow.reask.pick_one"))
    fc.data["_editing"] = True
    return step


async def _create(fc: FlowContext) -> str:
    reg = _reg(fc)
    prev_date = reg.get("previous_certificate_date")
    dossier = await dossiers.register_dossier(
        fc.s,
        fc.core,
        fc.actor,
        RegistrationInput(
            producer=ProducerInput(
                kind=reg["kind"],
                name=reg["producer_name"],
                commune_code=reg["commune"],
                representative=reg.get("representative", ""),
                registration_number=reg.get("registration_number") or None,
                phone=fc.account.phone,
            ),
            product_name=reg["product_name"],
            criteria_set=reg["criteria_set"],
            attempt=reg.get("attempt", Attempt.NEW),
            previous_certificate_number=reg.get("previous_certificate_number"),
            previous_certificate_date=date.fromisoformat(prev_date) if prev_date else None,
            details={},  # the rest of Mẫu 01 comes later, in one sitting (``details``)
        ),
    )
    summary = await status.summarise(fc.s, fc.core, dossier)
    lines = [fc.t(N_("reg.created"), code=dossier.receipt_code, product=dossier.product_name)]
    _done, total = summary.progress
    lines.append(fc.t(N_("reg.next_steps"), total=total))
    lines.append(await _round_line(fc, dossier))
    if summary.deadline is not None:
        dl = summary.deadline
        what = dl.milestone.title(fc.locale) if dl.milestone else fc.t(f"deadline.{dl.kind}")
        lines.append(
            fc.t(
                N_("status.deadline"), date=fc.date(dl.due), what=what, days=summary.days_left or 0
            )
        )
    fc.replies.append(Reply("\n".join(lines)))  # the menu that follows offers "send documents"
    fc.data["_done"] = True
    return END


async def _round_line(fc: FlowContext, dossier: Dossier) -> str:
    """Which evaluation round the new dossier is in, under which rules (or the province's plan)."""
    ruleset = fc.t(f"ruleset.{dossier.ruleset}")
    info = await rounds.current_round(fc.s, dossier)
    if info is None:
        return fc.t(
            N_("rounds.status.by_province_plan"), code=dossier.receipt_code, ruleset=ruleset
        )
    return fc.t(N_("rounds.reg.round"), round=round_label(info, fc.locale), ruleset=ruleset)


REGISTRATION = Flow(
    name="register",
    first="kind",
    steps={
        "same_producer": Step("same_producer", ask_same_producer, got_same_producer),
        "kind": Step("kind", ask_kind, got_kind),
        "producer_name": _text_step(N_("reg.ask.producer_name"), "producer_name", "place"),
        "place": Step("place", place.ask_place, place.got_place),
        "commune_search": Step(
            "commune_search", place.ask_commune_search, place.got_commune_search
        ),
        "commune_pick": Step("commune_pick", place.ask_commune_pick, place.got_commune_pick),
        "product_name": Step(
            "product_name",
            lambda fc: _prompt(fc, N_("reg.ask.product_name")),
            got_product_name,
        ),
        "set_guess": Step("set_guess", ask_set_guess, got_set_guess),
        "sector": Step("sector", ask_sector, got_sector),
        "criteria_set": Step("criteria_set", ask_set, got_set),
        "attempt": Step("attempt", ask_attempt, got_attempt),
        "previous_number": _text_step(
            N_("reg.ask.previous_number"), "previous_certificate_number", "previous_date", limit=64
        ),
        "previous_date": Step(
            "previous_date", lambda fc: _prompt(fc, N_("reg.ask.previous_date")), got_previous_date
        ),
        "summary": Step("summary", ask_summary, got_summary),
        "edit_pick": Step("edit_pick", ask_edit_pick, got_edit_pick),
    },
    on_start=start,
)


async def _prompt(fc: FlowContext, key: str) -> Reply:
    return Reply(fc.t(key))
