"""The dossier card: who, what, where it stands, what is missing, by when; every document one tap
away; the actions this officer may take now."""

from __future__ import annotations

from bot.flows.engine import Answer, FlowContext, Reask
from bot.flows.officer.common import CARD, INBOX, current_dossier, seen_version
from bot.flows.types import Choice, FileOut, Reply
from ocop_core import lifecycle
from ocop_core.errors import DomainError
from ocop_core.i18n import N_
from ocop_core.lifecycle import Stage, stage_level
from ocop_core.models import Dossier
from ocop_core.rules import Requirement, get_ruleset
from ocop_core.services import dossiers, review
from ocop_core.services.review import DossierCard

# Card button → first step of the action (steps live in officer_actions).
FIRST_STEP = {
    review.ACT_REQUEST: "req_items",
    review.ACT_CHECK: f"check_{dossiers.COMMUNE_CRITERIA[0]}",  # officer_check names its steps
    review.ACT_FORWARD: "forward_confirm",
    review.ACT_SCORE: "score",
    review.ACT_CORRECT: "score_correct",
    review.ACT_CERTIFY: "cert_number",
    review.ACT_RETURN: "return_reason",
    review.ACT_REJECT: "reject_reason",
}
ACTION_DATA = (
    "req_ticked",
    "req_more",
    "check",
    "reason",
    "cert_number",
    "score_typed",
    "correcting",
)
ACTION_LABELS = {
    review.ACT_REQUEST: N_("officer.act.request_documents"),
    review.ACT_CHECK: N_("officer.act.commune_check"),
    review.ACT_FORWARD: N_("officer.act.forward"),
    review.ACT_SCORE: N_("officer.act.record_score"),
    review.ACT_CORRECT: N_("rounds.act.correct_score"),
    review.ACT_CERTIFY: N_("officer.act.certify"),
    review.ACT_RETURN: N_("officer.act.return"),
    review.ACT_REJECT: N_("officer.act.reject"),
}


def _lines(fc: FlowContext, c: DossierCard) -> list[str]:
    d = c.dossier
    p = c.producer
    lines = [fc.t(N_("officer.card.title"), code=d.receipt_code, product=d.product_name)]
    if p is not None:
        who = " · ".join(
            x for x in (fc.t(f"producer_kind.{p.kind}"), p.representative, p.phone or "") if x
        )
        lines.append(fc.t(N_("officer.card.producer"), name=p.name, details=who))
    lines += [
        fc.t(N_("officer.card.place"), commune=c.commune_name, province=c.province_name),
        fc.t(
            N_("officer.card.set"),
            number=d.criteria_set,
            name=fc.t(f"set.{d.criteria_set}"),
            attempt=fc.t(f"attempt.{d.attempt}"),
        ),
        fc.t(N_("officer.card.stage"), stage=fc.t(f"stage.{d.stage}")),
    ]
    if d.points is not None:
        lines.append(
            fc.t(N_("officer.card.points"), points=fc.number(d.points), stars=d.stars or 0)
        )
    done, total = c.summary.progress
    lines.append(fc.t(N_("officer.card.documents"), done=done, total=total))
    for req in c.summary.missing:
        key = (
            N_("officer.card.missing_knockout")
            if req.kind == "knockout"
            else N_("officer.card.missing")
        )
        lines.append(fc.t(key, name=fc.t(req.label_key)))
    lines += _deadlines(fc, c)
    if d.commune_check:
        met = sum(1 for k in dossiers.COMMUNE_CRITERIA if d.commune_check[k]["met"])
        lines.append(fc.t(N_("officer.card.check"), met=met, total=len(dossiers.COMMUNE_CRITERIA)))
    lines.append(_local_answers(fc, d))
    return lines


def _local_answers(fc: FlowContext, d: Dossier) -> str:
    """The producer's four local answers, read next to the Mẫu 03 check: raw material,
    labour, where the idea came from, local identity."""
    details = d.details or {}

    def label(prefix: str, value: object) -> str:
        return fc.t(f"{prefix}.{value}") if value else "—"

    return fc.t(
        N_("officer.card.local"),
        share=label("share", details.get("local_share")),
        workers=details.get("workers") if details.get("workers") is not None else "—",
        origin=label("origin", details.get("idea_origin")),
        identity=details.get("identity") or "—",
    )


def _action_label(fc: FlowContext, dossier: Dossier, action: str) -> str:
    """The forward button says to whom ("📤 Chuyển lên Cơ quan OCOP tỉnh")."""
    if action == review.ACT_FORWARD:
        try:
            move = lifecycle.plan_forward(
                fc.actor, dossier.stage, get_ruleset(dossier.ruleset), dossier.points
            )
        except DomainError:
            return fc.t(ACTION_LABELS[action])
        return fc.t(N_("officer.act.forward_to"), to=fc.t(f"who.{stage_level(move.to_stage)}"))
    return fc.t(ACTION_LABELS[action])


def _deadlines(fc: FlowContext, c: DossierCard) -> list[str]:
    d = c.dossier
    out = []
    if c.commune_check_due is not None:
        out.append(fc.t(N_("officer.card.check_due"), date=fc.date(c.commune_check_due)))
    dl = c.summary.deadline
    if dl is not None and dl.kind != "commune_check_period":
        what = dl.milestone.title(fc.locale) if dl.milestone else fc.t(f"deadline.{dl.kind}")
        out.append(
            fc.t(
                N_("officer.card.deadline"),
                date=fc.date(dl.due),
                what=what,
                days=c.summary.days_left or 0,
            )
        )
    if d.certificate_number and d.certificate_expiry:
        out.append(
            fc.t(
                N_("officer.card.certificate"),
                number=d.certificate_number,
                date=fc.date(d.certificate_date) if d.certificate_date else "",
                expiry=fc.date(d.certificate_expiry),
            )
        )
    if c.reevaluation_window is not None and d.stage == Stage.CERTIFIED:
        opens, closes = c.reevaluation_window
        out.append(
            fc.t(N_("officer.card.reevaluation"), opens=fc.date(opens), closes=fc.date(closes))
        )
    return out


async def ask_card(fc: FlowContext) -> Reply:
    fc.data["_history"] = []
    try:
        c = await review.card(fc.s, fc.core, fc.actor, int(fc.data["dossier_id"]))
    except DomainError as exc:  # lost access meanwhile (role changed): back to the list only
        return Reply(fc.t(exc.key, **exc.params), (Choice("list", fc.t(N_("officer.card.list"))),))
    fc.data["version"] = c.dossier.version  # what the officer saw: their actions are checked
    choices = [
        Choice(
            f"doc:{item.requirement.code}",
            fc.t(
                N_("officer.card.doc_button"),
                name=fc.t(item.requirement.label_key),
                pages=item.pages,
            ),
        )
        for item in c.summary.checklist
        if item.done
    ]
    if c.dossier.commune_check:
        choices.append(Choice("mau03", fc.t(N_("officer.card.report"))))
    choices += [Choice(f"act:{a}", _action_label(fc, c.dossier, a)) for a in c.actions]
    choices.append(Choice("list", fc.t(N_("officer.card.list"))))
    buttons = fc.caps.buttons
    if fc.data.pop("card_quiet", False):  # right after a file: the card is just above
        again = N_("officer.card.again") if buttons else N_("officer.card.again_numbers")
        return Reply(fc.t(again, code=c.dossier.receipt_code), tuple(choices))
    lines = _lines(fc, c)
    lines.append(fc.t(N_("officer.card.hint") if buttons else N_("officer.card.hint_numbers")))
    return Reply("\n".join(lines), tuple(choices))


async def got_card(fc: FlowContext, answer: Answer) -> str:
    choice = answer.require_choice()
    if choice == "list":
        return INBOX
    if choice.startswith("doc:"):
        await _send_document(fc, choice.removeprefix("doc:"))
        fc.data["card_quiet"] = True
        return CARD
    if choice == "mau03":
        await send_report(fc)
        fc.data["card_quiet"] = True
        return CARD
    action = choice.removeprefix("act:")
    if action in FIRST_STEP:
        dossier = await current_dossier(fc)
        if dossier.version != seen_version(fc):
            # Someone else acted since this card was drawn: show what it is now, ask nothing.
            fc.say(N_("error.dossier_changed"), code=dossier.receipt_code)
            return CARD
        allowed = review.available_actions(fc.actor, dossier)
        allowed += await review.correctable_actions(fc.s, fc.core, fc.actor, dossier)
        if action not in allowed:
            fc.say(N_("officer.card.not_now"))
            return CARD
        if action == review.ACT_FORWARD and await _forward_blocked(fc, dossier):
            return CARD
        for key in ACTION_DATA:  # answers of an earlier, abandoned action do not carry over
            fc.data.pop(key, None)
        return FIRST_STEP[action]
    raise Reask(N_("flow.reask.pick_one"))


async def _send_document(fc: FlowContext, requirement: str) -> None:
    path, pages = await review.export_document(
        fc.s, fc.core, fc.actor, int(fc.data["dossier_id"]), requirement
    )
    name = fc.t(f"doc.{requirement}")
    caption = fc.t(N_("docs.view_caption"), name=name, pages=pages)
    fc.replies.append(Reply(caption, files=(FileOut(path, path.name, "application/pdf", caption),)))


async def send_report(fc: FlowContext, lead: str = "") -> None:
    """The Mẫu 03 PDF; ``lead`` (what was just done) rides in the same message."""
    path = await review.commune_report(fc.s, fc.core, fc.actor, int(fc.data["dossier_id"]))
    caption = fc.t(N_("officer.check.report_caption"))
    text = f"{lead}\n{caption}" if lead else caption
    fc.replies.append(Reply(text, files=(FileOut(path, path.name, "application/pdf", caption),)))


async def _forward_blocked(fc: FlowContext, dossier: Dossier) -> bool:
    """Say why the dossier cannot go on (each missing document, knock-outs first), before asking
    to confirm; the core checks the same again when the officer confirms."""
    if dossier.stage != Stage.COMMUNE_CHECKED:
        return False
    missing = await dossiers.missing_requirements(fc.s, dossier)
    if not missing:
        return False
    explain_missing(fc, missing)
    return True


def explain_missing(fc: FlowContext, missing: list[Requirement]) -> None:
    reqs = sorted(missing, key=lambda r: r.kind != "knockout")
    lines = [fc.t(N_("officer.forward.refused"), count=len(reqs))]
    for req in reqs:
        key = (
            N_("officer.card.missing_knockout")
            if req.kind == "knockout"
            else N_("officer.card.missing")
        )
        lines.append(fc.t(key, name=fc.t(req.label_key)))
    lines.append(fc.t(N_("officer.forward.refused_hint")))
    fc.replies.append(Reply("\n".join(lines)))
