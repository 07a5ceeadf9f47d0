"""Provincial staff: the council's points → stars (per the dossier's ruleset), then the
certificate number and date, from which expiry and the re-evaluation window follow."""

from __future__ import annotations

import re
from datetime import date

from bot.flows.engine import Answer, FlowContext, Reask, Step
from bot.flows.officer.actions import attempt
from bot.flows.officer.common import CARD, current_dossier, notify_producer, seen_version
from bot.flows.types import Choice, Reply
from ocop_core.errors import DomainError
from ocop_core.i18n import N_
from ocop_core.lifecycle import Stage, stage_level
from ocop_core.models import Dossier
from ocop_core.rules import get_ruleset
from ocop_core.services import dossiers, results

_DATE = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{2}|\d{4})\s*$")


async def ask_score(fc: FlowContext) -> Reply:
    dossier = await current_dossier(fc)
    level = stage_level(dossier.stage) or ""
    return Reply(
        fc.t(N_("officer.score.prompt"), code=dossier.receipt_code, level=fc.t(f"level.{level}"))
    )


async def got_score(fc: FlowContext, answer: Answer) -> str:
    """Read the points; nothing counts until the officer confirms what they mean."""
    typed = answer.require_text(20)
    results.preview_score(await current_dossier(fc), typed)  # refuses what cannot be read
    fc.data["score_typed"] = typed
    return "score_confirm"


async def ask_score_correct(fc: FlowContext) -> Reply:
    fc.data["correcting"] = True
    return await ask_score(fc)


async def ask_score_confirm(fc: FlowContext) -> Reply:
    dossier = await current_dossier(fc)
    preview = _preview(fc, dossier)
    text = results.result_text(fc.locale, dossier, preview, fc.number(preview.points))
    return Reply(
        fc.t(N_("rounds.score.confirm"), result=text),
        (
            Choice("confirm", fc.t(N_("rounds.score.yes"))),
            Choice("retype", fc.t(N_("rounds.score.retype"))),
        ),
    )


def _preview(fc: FlowContext, dossier: Dossier) -> results.ScorePreview:
    if fc.data.get("correcting"):
        level = stage_level(dossier.stage) or ""
        dossier = Dossier.model_validate({**dossier.model_dump(), "stage": f"at_{level}"})
    return results.preview_score(dossier, str(fc.data.get("score_typed", "")))


async def got_score_confirm(fc: FlowContext, answer: Answer) -> str:
    if answer.choice == "retype":
        return "score"
    if answer.choice != "confirm":
        raise Reask(N_("flow.reask.pick_one"))
    dossier = await current_dossier(fc)
    level = stage_level(dossier.stage) or ""
    use = results.correct_score if fc.data.pop("correcting", None) else results.record_score
    typed = str(fc.data.pop("score_typed", ""))
    done = await attempt(
        fc,
        use(fc.s, fc.core, fc.actor, dossier, typed=typed, expected_version=seen_version(fc)),
    )
    if done is None:
        return CARD
    fc.say(
        N_("officer.score.done"), points=fc.number(dossier.points or 0), stars=dossier.stars or 0
    )
    key, params = _score_outcome(dossier.stage, dossier.ruleset, level, dossier.points or 0.0)
    fc.say(key, **params)
    fc.say(N_("rounds.score.correctable"), hours=results.CORRECTION_HOURS)
    return CARD


def _score_outcome(
    stage: str, ruleset_id: str, level: str, points: float
) -> tuple[str, dict[str, object]]:
    """What happens next after a council's points, as a catalog key and its parameters."""
    ruleset = get_ruleset(ruleset_id)
    if stage == Stage.NOT_CERTIFIED:
        return N_("officer.score.not_certified"), {}
    scored_level = stage_level(stage) or level
    nxt = ruleset.next_level(scored_level)
    threshold = ruleset.level(scored_level).forward_threshold
    if nxt is not None and ruleset.forwards(scored_level, points):
        return N_("officer.score.can_forward"), {
            "threshold": f"{threshold:g}",
            "to": f"who.{nxt.code}",
        }
    if scored_level != level:  # e.g. under 90 at the centre: back to the province to certify
        return N_("officer.score.back_to"), {"to": f"who.{scored_level}"}
    if nxt is not None and threshold is not None:
        return N_("officer.score.below_forward"), {
            "threshold": f"{threshold:g}",
            "to": f"who.{nxt.code}",
        }
    return N_("officer.score.can_certify"), {}


async def ask_cert_number(fc: FlowContext) -> Reply:
    dossier = await current_dossier(fc)
    return Reply(
        fc.t(N_("officer.cert.number"), code=dossier.receipt_code, stars=dossier.stars or 0)
    )


async def got_cert_number(fc: FlowContext, answer: Answer) -> str:
    fc.data["cert_number"] = answer.require_text(64)
    return "cert_date"


async def ask_cert_date(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("officer.cert.date")))


def parse_date(text: str) -> date:
    """A date as typed in Vietnam: day first, "/", "-" or "." between, 2- or 4-digit year."""
    found = _DATE.match(text)
    if found is None:
        raise Reask(N_("officer.reask.date"))
    day, month, year = (int(x) for x in found.groups())
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        raise Reask(N_("officer.reask.date")) from None


async def got_cert_date(fc: FlowContext, answer: Answer) -> str:
    issued = parse_date(answer.require_text(20))
    dossier = await current_dossier(fc)
    done = await attempt(
        fc,
        dossiers.certify(
            fc.s,
            fc.core,
            fc.actor,
            dossier,
            number=str(fc.data.get("cert_number", "")),
            issued=issued,
            expected_version=seen_version(fc),
        ),
    )
    if done is None:
        return CARD
    await notify_producer(fc, dossier)
    expiry = dossier.certificate_expiry or issued
    fc.say(
        N_("officer.cert.done"),
        number=dossier.certificate_number or "",
        date=fc.date(issued),
        stars=dossier.stars or 0,
        expiry=fc.date(expiry),
    )
    try:
        opens, closes = get_ruleset(dossier.ruleset).reevaluation_window(expiry)
    except DomainError:  # a ruleset without a re-evaluation window
        return CARD
    fc.say(N_("officer.cert.window"), opens=fc.date(opens), closes=fc.date(closes))
    return CARD


COUNCIL_STEPS: list[Step] = [
    Step("score", ask_score, got_score),
    Step("score_correct", ask_score_correct, got_score),
    Step("score_confirm", ask_score_confirm, got_score_confirm),
    Step("cert_number", ask_cert_number, got_cert_number),
    Step("cert_date", ask_cert_date, got_cert_date),
]
