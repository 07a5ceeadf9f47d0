"""/dangky: register a product idea (Mẫu 01 and the idea basics), summary with edits, confirm."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from bot.flows.engine import END, Answer, Flow, FlowContext, Reask, Step
from bot.flows.types import Choice, Reply
from ocop_core.admin_units import current_provinces, search_communes
from ocop_core.clock import local_today
from ocop_core.i18n import N_
from ocop_core.models import Attempt, Commune, ProducerKind
from ocop_core.rules import taxonomy
from ocop_core.services import dossiers, status
from ocop_core.services.dossiers import ProducerInput, RegistrationInput
from ocop_core.text import fold

SHARES = ("under_50", "50_75", "over_75", "all")
ORIGINS = ("own", "tradition", "commune", "partner")
MARKETS = ("commune", "province", "national", "export")
SUPPORT = ("packaging", "quality", "trademark", "promotion", "training", "none")
# Summary lines: (data field, catalog label key, step that edits it)
SUMMARY_FIELDS = (
    ("kind", N_("reg.field.kind"), "kind"),
    ("producer_name", N_("reg.field.producer_name"), "producer_name"),
    ("representative", N_("reg.field.representative"), "representative"),
    ("registration_number", N_("reg.field.registration_number"), "registration_number"),
    ("commune_name", N_("reg.field.commune"), "province"),
    ("product_name", N_("reg.field.product_name"), "product_name"),
    ("criteria_set", N_("reg.field.criteria_set"), "sector"),
    ("description", N_("reg.field.description"), "description"),
    ("local_share", N_("reg.field.local_share"), "local_share"),
    ("workers", N_("reg.field.workers"), "workers"),
    ("idea_origin", N_("reg.field.idea_origin"), "idea_origin"),
    ("identity", N_("reg.field.identity"), "identity"),
    ("market", N_("reg.field.market"), "market"),
    ("support", N_("reg.field.support"), "support"),
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


async def got_registration_number(fc: FlowContext, answer: Answer) -> str:
    if answer.choice == "skip":
        _reg(fc)["registration_number"] = ""
        return _then(fc, "province")
    value = answer.require_text(40).upper()
    if not re.fullmatch(r"[0-9A-Z][0-9A-Z./\- ]{3,39}", value):
        raise Reask(N_("reg.reask.registration_number"))
    _reg(fc)["registration_number"] = value
    return _then(fc, "province")


async def ask_province(fc: FlowContext) -> Reply:
    choices = tuple(Choice(f"prov:{code}", name) for code, name in current_provinces())
    return Reply(fc.t(N_("reg.ask.province")), choices, columns=2)


async def got_province(fc: FlowContext, answer: Answer) -> str:
    code = (answer.choice or "").removeprefix("prov:")
    if not answer.choice:
        typed = fold(answer.require_text(60))
        hits = [c for c, name in current_provinces() if typed and typed in fold(name)]
        if len(hits) != 1:
            raise Reask(N_("reg.reask.province"))
        code = hits[0]
    if code not in dict(current_provinces()):
        raise Reask(N_("flow.reask.pick_one"))
    _reg(fc)["province"] = code
    return "commune_search"


async def ask_commune_search(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("reg.ask.commune_search")))


async def got_commune_search(fc: FlowContext, answer: Answer) -> str:
    query = answer.require_text(60)
    found = await search_communes(fc.s, _reg(fc)["province"], query)
    if not found:
        raise Reask(N_("reg.reask.commune_not_found"), query=query)
    fc.data["commune_hits"] = [[c.code, c.name] for c in found]
    return "commune_pick"


async def ask_commune_pick(fc: FlowContext) -> Reply:
    hits = fc.data.get("commune_hits") or []
    return Reply(
        fc.t(N_("reg.ask.commune_pick")),
        tuple(Choice(f"com:{code}", name) for code, name in hits),
        columns=2,
    )


async def got_commune_pick(fc: FlowContext, answer: Answer) -> str:
    if answer.choice is None:  # typed another name: search again
        return await got_commune_search(fc, answer)
    code = answer.choice.removeprefix("com:")
    commune = await fc.s.get(Commune, code)
    if commune is None or commune.province_code != _reg(fc).get("province"):
        raise Reask(N_("flow.reask.pick_one"))
    _reg(fc).update(commune=commune.code, commune_name=commune.name)
    fc.data.pop("commune_hits", None)
    return _then(fc, "product_name")


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


async def ask_set(fc: FlowContext) -> Reply:
    sets = taxonomy().sets_in_sector(fc.data.get("sector", "I"))
    return Reply(
        fc.t(N_("reg.ask.criteria_set")),
        tuple(Choice(f"set:{c.code}", fc.t(c.label_key)) for c in sets),
    )


async def got_set(fc: FlowContext, answer: Answer) -> str:
    raw = answer.require_choice().removeprefix("set:")
    sets = {str(c.code) for c in taxonomy().sets_in_sector(fc.data.get("sector", "I"))}
    if raw not in sets:
        raise Reask(N_("flow.reask.pick_one"))
    _reg(fc)["criteria_set"] = int(raw)
    return _then(fc, "description")


async def got_workers(fc: FlowContext, answer: Answer) -> str:
    text = answer.require_text(10).replace(".", "").replace(",", "")
    if not text.isdigit() or int(text) > 100_000:
        raise Reask(N_("reg.reask.workers"))
    _reg(fc)["workers"] = int(text)
    return _then(fc, "idea_origin")


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
    details = {
        k: reg.get(k)
        for k in (
            "description",
            "local_share",
            "workers",
            "idea_origin",
            "identity",
            "market",
            "support",
        )
    }
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
            details=details,
        ),
    )
    summary = await status.summarise(fc.s, fc.core, dossier)
    lines = [fc.t(N_("reg.created"), code=dossier.receipt_code, product=dossier.product_name)]
    _done, total = summary.progress
    lines.append(fc.t(N_("reg.next_steps"), total=total))
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


REGISTRATION = Flow(
    name="register",
    first="kind",
    steps={
        "kind": Step("kind", ask_kind, got_kind),
        "producer_name": _text_step(N_("reg.ask.producer_name"), "producer_name", "representative"),
        "representative": _text_step(
            N_("reg.ask.representative"), "representative", "registration_number", skippable=True
        ),
        "registration_number": Step(
            "registration_number",
            lambda fc: _prompt(fc, N_("reg.ask.registration_number")),
            got_registration_number,
            skippable=True,
        ),
        "province": Step("province", ask_province, got_province),
        "commune_search": Step("commune_search", ask_commune_search, got_commune_search),
        "commune_pick": Step("commune_pick", ask_commune_pick, got_commune_pick),
        "product_name": _text_step(N_("reg.ask.product_name"), "product_name", "sector"),
        "sector": Step("sector", ask_sector, got_sector),
        "criteria_set": Step("criteria_set", ask_set, got_set),
        "description": _text_step(
            N_("reg.ask.description"), "description", "local_share", limit=1000
        ),
        "local_share": _choice_step(
            N_("reg.ask.local_share"), "local_share", "share", SHARES, "workers"
        ),
        "workers": Step("workers", lambda fc: _prompt(fc, N_("reg.ask.workers")), got_workers),
        "idea_origin": _choice_step(
            N_("reg.ask.idea_origin"), "idea_origin", "origin", ORIGINS, "identity"
        ),
        "identity": _text_step(
            N_("reg.ask.identity"), "identity", "market", limit=500, skippable=True
        ),
        "market": _choice_step(N_("reg.ask.market"), "market", "market", MARKETS, "support"),
        "support": _choice_step(N_("reg.ask.support"), "support", "support", SUPPORT, "attempt"),
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
)


async def _prompt(fc: FlowContext, key: str) -> Reply:
    return Reply(fc.t(key))
