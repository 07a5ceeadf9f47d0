"""The dossier state machine. Its stages follow the ruleset's evaluation levels.

qd148-2023: ... commune_checked → at_district → district_scored → at_province → province_scored →
at_central. qd26-2026 has no district. Pure logic: it decides and explains; ``services`` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from ocop_core.authz import Actor
from ocop_core.errors import Forbidden, InvalidTransition, ValidationError
from ocop_core.i18n import N_
from ocop_core.models import Role
from ocop_core.rules import Ruleset


class Stage(StrEnum):
    IDEA_REGISTERED = "idea_registered"
    DOCUMENTS_PENDING = "documents_pending"
    SUBMITTED = "submitted"
    COMMUNE_CHECKED = "commune_checked"
    AT_DISTRICT = "at_district"
    DISTRICT_SCORED = "district_scored"
    AT_PROVINCE = "at_province"
    PROVINCE_SCORED = "province_scored"
    AT_CENTRAL = "at_central"
    CENTRAL_SCORED = "central_scored"
    CERTIFIED = "certified"
    NOT_CERTIFIED = "not_certified"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Action(StrEnum):
    REGISTER = "register"
    EDIT = "edit"
    ADD_DOCUMENT = "add_document"
    SUBMIT = "submit"
    REQUEST_DOCUMENTS = "request_documents"
    RECORD_COMMUNE_CHECK = "record_commune_check"
    FORWARD = "forward"
    RETURN = "return"
    REJECT = "reject"
    RECORD_SCORE = "record_score"
    CERTIFY = "certify"
    REVOKE = "revoke"


# Stages a producer may still change: before the commune has the dossier.
EDITABLE = frozenset({Stage.IDEA_REGISTERED, Stage.DOCUMENTS_PENDING})
TERMINAL = frozenset({Stage.CERTIFIED, Stage.NOT_CERTIFIED, Stage.REJECTED, Stage.REVOKED})
COMMUNE_DESK = frozenset({Stage.SUBMITTED, Stage.COMMUNE_CHECKED})


def at_stage(level: str) -> Stage:
    return Stage(f"at_{level}")


def scored_stage(level: str) -> Stage:
    return Stage(f"{level}_scored")


def stage_level(stage: str) -> str | None:
    """The evaluation level a stage waits at (``at_province`` → ``province``)."""
    if stage.startswith("at_"):
        return stage[3:]
    if stage.endswith("_scored"):
        return stage.removesuffix("_scored")
    return None


def stages_of(ruleset: Ruleset) -> list[Stage]:
    """Every stage a dossier can take under ``ruleset``, in the order of the process."""
    stages = [
        Stage.IDEA_REGISTERED,
        Stage.DOCUMENTS_PENDING,
        Stage.SUBMITTED,
        Stage.COMMUNE_CHECKED,
    ]
    for level in ruleset.scoring_levels:
        stages += [at_stage(level.code), scored_stage(level.code)]
    return [*stages, *sorted(TERMINAL)]


def who_acts(stage: str) -> str | None:
    """Whose move it is, as an audience code (``producer``/``commune``/level code)."""
    if stage in EDITABLE:
        return "producer"
    if stage in COMMUNE_DESK:
        return "commune"
    return stage_level(stage)


def parse_points(value: str | float | Decimal) -> float:
    """Council points as typed on a phone: ``85,5`` and ``85.5`` both mean 85.5."""
    text = str(value).strip().replace(",", ".")
    try:
        points = Decimal(text)
    except InvalidOperation:
        raise ValidationError(N_("error.points_format"), value=str(value)[:20]) from None
    if not points.is_finite() or points < 0 or points > 100:
        raise ValidationError(
            N_("error.points_range"), points=str(value)[:20], min_points=0, max_points=100
        )
    if points != points.quantize(Decimal("0.01")):
        raise ValidationError(N_("error.points_format"), value=str(value)[:20])
    return float(points)


@dataclass(frozen=True)
class Move:
    """The outcome of an allowed action: the next stage and what the council decided."""

    to_stage: Stage
    stars: int | None = None


def _require_role(actor: Actor, *roles: str) -> None:
    if actor.role != Role.ADMIN and actor.role not in roles:
        raise Forbidden(N_("error.not_allowed"))


def _require_stage(stage: str, allowed: frozenset[Stage] | set[Stage], action: Action) -> None:
    if stage not in allowed:
        raise InvalidTransition(
            N_("error.wrong_stage"), action=f"action.{action.value}", stage=f"stage.{stage}"
        )


def plan_submit(actor: Actor, stage: str) -> Move:
    _require_role(actor, Role.PRODUCER)
    _require_stage(stage, EDITABLE, Action.SUBMIT)
    return Move(Stage.SUBMITTED)


def plan_edit(actor: Actor, stage: str) -> None:
    _require_role(actor, Role.PRODUCER, Role.COMMUNE)
    _require_stage(stage, EDITABLE | {Stage.SUBMITTED}, Action.EDIT)
    if actor.role == Role.PRODUCER and stage not in EDITABLE:
        raise InvalidTransition(
            N_("error.wrong_stage"), action="action.edit", stage=f"stage.{stage}"
        )


def plan_add_document(actor: Actor, stage: str) -> Move:
    """A document may arrive until the commune has checked the dossier."""
    _require_role(actor, Role.PRODUCER, Role.COMMUNE)
    _require_stage(stage, EDITABLE | {Stage.SUBMITTED}, Action.ADD_DOCUMENT)
    if stage == Stage.IDEA_REGISTERED:
        return Move(Stage.DOCUMENTS_PENDING)
    return Move(Stage(stage))


def plan_request_documents(actor: Actor, stage: str) -> Move:
    _require_role(actor, Role.COMMUNE, Role.PROVINCE)
    _require_stage(stage, EDITABLE | COMMUNE_DESK, Action.REQUEST_DOCUMENTS)
    return Move(Stage.DOCUMENTS_PENDING)


def plan_commune_check(actor: Actor, stage: str) -> Move:
    _require_role(actor, Role.COMMUNE)
    _require_stage(stage, {Stage.SUBMITTED}, Action.RECORD_COMMUNE_CHECK)
    return Move(Stage.COMMUNE_CHECKED)


def plan_return(actor: Actor, stage: str) -> Move:
    _require_role(actor, Role.COMMUNE)
    _require_stage(stage, COMMUNE_DESK, Action.RETURN)
    return Move(Stage.DOCUMENTS_PENDING)


def plan_reject(actor: Actor, stage: str) -> Move:
    if stage in COMMUNE_DESK:
        _require_role(actor, Role.COMMUNE, Role.PROVINCE)
    else:
        _require_role(actor, Role.PROVINCE)
        if stage in TERMINAL or stage in EDITABLE:
            raise InvalidTransition(
                N_("error.wrong_stage"), action="action.reject", stage=f"stage.{stage}"
            )
    return Move(Stage.REJECTED)


def plan_forward(actor: Actor, stage: str, ruleset: Ruleset, points: float | None) -> Move:
    """Commune → first scoring level; a scored level → the next one when points reach its bar."""
    if stage == Stage.COMMUNE_CHECKED:
        _require_role(actor, Role.COMMUNE)
        return Move(at_stage(ruleset.scoring_levels[0].code))
    level = stage_level(stage) if stage.endswith("_scored") else None
    if level is None:
        raise InvalidTransition(
            N_("error.wrong_stage"), action="action.forward", stage=f"stage.{stage}"
        )
    _require_role(actor, Role.PROVINCE)
    nxt = ruleset.next_level(level)
    if nxt is None or points is None or not ruleset.forwards(level, points):
        raise InvalidTransition(
            N_("error.forward_threshold"),
            points=_fmt(points),
            threshold=_fmt(ruleset.level(level).forward_threshold),
        )
    return Move(at_stage(nxt.code))


def plan_score(
    actor: Actor, stage: str, ruleset: Ruleset, points: float, *, lower_return: bool = True
) -> Move:
    """Record a council's points at the level the dossier waits at.

    Fewer than 3 stars ends the attempt. Stars that this level does not certify but a lower one
    does go back to that lower level when ``lower_return`` (26/2026: a central score < 90 lets the
    province certify 3–4★; Hà Nam 2024's own plan: province < 70 back to the district).
    """
    _require_role(actor, Role.PROVINCE)
    level = stage_level(stage)
    if not stage.startswith("at_") or level is None:
        raise InvalidTransition(
            N_("error.wrong_stage"), action="action.record_score", stage=f"stage.{stage}"
        )
    stars = ruleset.stars_for(points)
    if stars < ruleset.certificate_min_stars:
        return Move(Stage.NOT_CERTIFIED, stars)
    this = ruleset.level(level)
    if stars in this.certifies or ruleset.forwards(level, points) or not lower_return:
        return Move(scored_stage(level), stars)
    for lower in reversed(ruleset.scoring_levels):
        if lower.code != level and stars in lower.certifies:
            order = [lv.code for lv in ruleset.scoring_levels]
            if order.index(lower.code) < order.index(level):
                return Move(scored_stage(lower.code), stars)
    return Move(scored_stage(level), stars)


def plan_certify(actor: Actor, stage: str, ruleset: Ruleset, stars: int | None) -> Move:
    _require_role(actor, Role.PROVINCE)
    level = stage_level(stage) if stage.endswith("_scored") else None
    if level is None or stars is None:
        raise InvalidTransition(
            N_("error.wrong_stage"), action="action.certify", stage=f"stage.{stage}"
        )
    if stars not in ruleset.level(level).certifies:
        raise InvalidTransition(
            N_("error.level_cannot_certify"), stars=stars, level=f"level.{level}"
        )
    return Move(Stage.CERTIFIED, stars)


def plan_revoke(actor: Actor, stage: str) -> Move:
    _require_role(actor, Role.PROVINCE)
    _require_stage(stage, {Stage.CERTIFIED}, Action.REVOKE)
    return Move(Stage.REVOKED)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}".replace(".", ",")
