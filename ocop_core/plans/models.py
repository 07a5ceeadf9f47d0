"""A province's yearly OCOP plan: dated milestones bound to a ruleset.

A plan is data (one TOML file per province and year, or generated from the national calendar).
Validation happens once, when the plan is built, so the rest of the bot can trust every field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ocop_core.admin_units_legacy import is_legacy_code, province_name, successor
from ocop_core.errors import ValidationError
from ocop_core.lifecycle import TERMINAL, stages_of
from ocop_core.lifecycle import Stage as LifecycleStage
from ocop_core.plans.errors import IN_MEMORY, PlanValidationError
from ocop_core.rules import Ruleset, all_rulesets, get_ruleset

__all__ = [
    "AUDIENCES",
    "KINDS",
    "LEVELS",
    "RULESETS",
    "STAGES",
    "Audience",
    "Kind",
    "Level",
    "Milestone",
    "Plan",
    "RulesetId",
    "Stage",
    "Target",
]

Kind = Literal[
    "idea_registration",  # producers register product ideas with the commune
    "idea_shortlist",  # district lists the feasible ideas for the province (148 era)
    "idea_selection",  # province selects the ideas that join the year's programme
    "product_support",  # consulting / support to bring products up to the criteria
    "producer_filing",  # producer files the evaluation dossier with the commune
    "commune_check",  # commune assesses the 4 local criteria (report, Mẫu 03 under 26/2026)
    "commune_forward",  # commune forwards checked dossiers to the province
    "district_council",  # district council scores; district certifies 3★ (148 era)
    "district_forward",  # district forwards dossiers of 70–100 points to the province (148 era)
    "province_council",  # provincial council round closes
    "ministry_filing",  # province files dossiers of ≥90 points with the ministry (5★)
    "central_council",  # central council round closes
    "council_setup",  # councils and advisory teams are set up or reorganised
    "training",  # training for officers and producers
    "trade_promotion",  # points of sale, fairs and other trade promotion with a date
    "year_review",  # year-end review conference
]
Level = Literal["producer", "commune", "district", "province", "central"]
Audience = Literal["producer", "commune", "province"]
# Stages and ruleset ids are not re-declared here: they live in ocop_core.lifecycle and in the
# rules/*.toml files, and plans are checked against them.
Stage = str
RulesetId = str

KINDS: tuple[str, ...] = get_args(Kind)
LEVELS: tuple[str, ...] = get_args(Level)
AUDIENCES: tuple[str, ...] = get_args(Audience)
# Stages a plan milestone may concern: every live stage of the lifecycle (not the final ones).
STAGES: tuple[str, ...] = tuple(s.value for s in LifecycleStage if s not in TERMINAL)
RULESETS: tuple[str, ...] = tuple(rs.id for rs in all_rulesets())

_DISTRICT_KINDS = frozenset({"idea_shortlist", "district_council", "district_forward"})

# Kinds that close a step of a round for the dossiers at their stages (the others are periods of
# work or programme-wide dates). A dossier that misses one of these moves to the next round.
DEADLINE_KINDS = frozenset(
    {
        "producer_filing",
        "commune_check",
        "commune_forward",
        "district_council",
        "district_forward",
        "province_council",
        "ministry_filing",
        "central_council",
    }
)
# The kinds that close a round's intake for a dossier still with the producer, best first.
INTAKE_KINDS: tuple[str, ...] = ("producer_filing", "commune_check", "commune_forward")


# Steps that concern only some dossiers at their stage: those whose points reach the forwarding bar
# of this level (≥ 90 to the Ministry, ≥ 70 from the district to the province under 148).
_FORWARD_LEVEL: dict[str, str] = {"ministry_filing": "province", "district_forward": "district"}
# Steps of another body that officers are told about, not asked to do (the central council).
INFO_KINDS = frozenset({"central_council"})


def min_points(milestone: Milestone, ruleset_id: str) -> float | None:
    """The points a dossier needs for ``milestone`` to concern it (None: every dossier)."""
    level = _FORWARD_LEVEL.get(milestone.kind)
    if level is None:
        return None
    ruleset = get_ruleset(ruleset_id)
    if not any(lv.code == level for lv in ruleset.levels):
        return None
    return ruleset.level(level).forward_threshold


def _allowed_stages(ruleset: Ruleset) -> frozenset[str]:
    return frozenset(s.value for s in stages_of(ruleset)) & frozenset(STAGES)


# Kinds whose actor is fixed by law; a different level is a data-entry mistake.
_KIND_LEVEL: dict[str, str] = {
    "producer_filing": "producer",
    "commune_check": "commune",
    "commune_forward": "commune",
    "district_council": "district",
    "district_forward": "district",
    "province_council": "province",
    "ministry_filing": "province",
    "central_council": "central",
}

# Provinces stopped existing on 01/07/2025; a plan for a later year must use the successor.
_LAST_LEGACY_YEAR = 2025

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


def _strict_date(value: Any) -> Any:
    """Accept a TOML date or an ISO string; refuse datetimes and numbers pydantic would coerce."""
    if isinstance(value, datetime):
        raise ValueError("expected a date (YYYY-MM-DD) without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"impossible or malformed date {value!r}: {exc}") from exc
    raise ValueError(f"expected a date (YYYY-MM-DD), got {type(value).__name__}")


PlanDate = Annotated[date, BeforeValidator(_strict_date)]


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


class Milestone(BaseModel):
    """One dated step of a plan.

    ``offsets_days`` overrides the reminder schedule for this milestone: days *before* ``due`` at
    which a reminder fires (0 = on the due day; negative = after it, an overdue nudge).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_SLUG, max_length=64)
    kind: Kind
    level: Level
    audience: list[Audience] = Field(min_length=1)
    stages: list[Stage] = Field(default_factory=list)
    starts: PlanDate | None = None
    due: PlanDate
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: str = Field(min_length=1)
    offsets_days: list[Annotated[int, Field(ge=-60, le=366)]] | None = None
    # The evaluation round this step belongs to (plans of the 148 era have one round a year).
    round: int = Field(default=1, ge=1, le=12)
    # Why the date is ours and not the plan's ("the seed gives no date; upper bound of …"); such
    # a date is shown as an estimate, never as the plan's word.
    inferred: str | None = Field(default=None, min_length=1)

    @field_validator("audience", "stages", "offsets_days")
    @classmethod
    def _no_duplicates(cls, values: list[Any] | None) -> list[Any] | None:
        return None if values is None else _unique(values)

    def title(self, locale: str | None) -> str:
        return self.title_en if (locale or "").lower().startswith("en") else self.title_vi

    def concerns(self, stage: str) -> bool:
        return stage in self.stages

    @property
    def is_deadline(self) -> bool:
        return self.kind in DEADLINE_KINDS


class Target(BaseModel):
    """A yearly goal of the plan ("≥ 20 new products of 3★ or more"), kept as data.

    ``metric`` names what the database can count (see ``ocop_core.services.plan_progress``); a
    target the bot cannot measure uses ``metric = "manual"`` and is shown without an achieved value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_SLUG, max_length=64)
    metric: Literal[
        "products_registered",
        "new_products_3_stars",
        "products_3_stars_total",
        "producers_registered",
        "manual",
    ]
    min: float = Field(ge=0)
    max: float | None = Field(default=None, ge=0)
    unit: Literal["count", "percent"] = "count"
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: str = Field(min_length=1)

    def title(self, locale: str | None) -> str:
        return self.title_en if (locale or "").lower().startswith("en") else self.title_vi


class Plan(BaseModel):
    """A province's plan for one year under one ruleset; milestones are sorted by due date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_SLUG, max_length=64)
    province_code: str = Field(min_length=2, max_length=3)
    province_name: str = Field(min_length=1)
    year: int = Field(ge=2018, le=2100)
    ruleset: RulesetId
    title: str = Field(min_length=1)
    source: str = Field(min_length=1)
    milestones: list[Milestone] = Field(min_length=1)
    targets: list[Target] = Field(default_factory=list)
    # A Hà Nam 2024 rule (§III.1.5): a product the province scores under this goes back to the
    # district, which decides within its powers. Plans that do not say so have no such path.
    province_returns_below: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        # Raised as PlanValidationError (not ValueError) so pydantic lets it through with its exact
        # field path; the loader attaches the file name.
        issues = _plan_issues(self)
        if issues:
            field, reason = issues[0]
            raise PlanValidationError(file=IN_MEMORY, field=field, reason=reason)
        return self

    def milestones_for_stage(self, stage: str) -> list[Milestone]:
        """Milestones about dossiers at ``stage``, by due date (programme-wide ones excluded)."""
        return [m for m in self.milestones if m.concerns(stage)]

    def milestones_for_audience(self, audience: str) -> list[Milestone]:
        return [m for m in self.milestones if audience in m.audience]

    def next_milestone(self, stage: str, today: date) -> Milestone | None:
        """The first milestone concerning ``stage`` that is due today or later."""
        return next((m for m in self.milestones_for_stage(stage) if m.due >= today), None)

    def milestone(self, milestone_id: str) -> Milestone | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)

    @property
    def rounds(self) -> tuple[int, ...]:
        """Round numbers with at least one deadline, in order."""
        return tuple(sorted({m.round for m in self.milestones if m.stages and m.is_deadline}))

    def round_milestones(self, number: int) -> list[Milestone]:
        return [m for m in self.milestones if m.round == number and m.stages]


def _fold(name: str) -> str:
    """Compare province names without diacritics, case or the "Tỉnh"/"Thành phố" prefix."""
    text = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"^(tinh|thanh pho|tp\.?) ", "", text)


def _plan_issues(plan: Plan) -> list[tuple[str, str]]:
    """Cross-field problems of a plan as (field path, reason); the first one is reported."""
    issues = _province_issues(plan)
    try:
        ruleset = get_ruleset(plan.ruleset)
    except ValidationError:
        known = ", ".join(RULESETS)
        return [*issues, ("ruleset", f"unknown ruleset {plan.ruleset!r}; expected one of {known}")]
    seen_ids: dict[str, int] = {}
    for i, m in enumerate(plan.milestones):
        if m.id in seen_ids:
            issues.append(
                (
                    f"milestones[{i}].id",
                    f"duplicate id {m.id!r} (already used by milestones[{seen_ids[m.id]}])",
                )
            )
        seen_ids.setdefault(m.id, i)
        previous = plan.milestones[i - 1] if i else None
        issues.extend(_date_issues(plan, ruleset, i, m, previous))
        issues.extend(_step_issues(ruleset, i, m))
    issues.extend(_round_issues(plan))
    return issues


def _province_issues(plan: Plan) -> list[tuple[str, str]]:
    official = province_name(plan.province_code)
    if official is None:
        return [
            (
                "province_code",
                f"unknown province code {plan.province_code!r}: use a current 2-digit code "
                "(vietnam-provinces) or a legacy code such as 'L35'",
            )
        ]
    if _fold(official) != _fold(plan.province_name):
        return [
            (
                "province_name",
                f"{plan.province_name!r} does not match province {plan.province_code} "
                f"({official!r})",
            )
        ]
    if is_legacy_code(plan.province_code) and plan.year > _LAST_LEGACY_YEAR:
        return [
            (
                "province_code",
                f"{official} ({plan.province_code}) was merged into province "
                f"{successor(plan.province_code)} on 01/07/2025; plans for {plan.year} must use it",
            )
        ]
    return []


def _date_issues(
    plan: Plan, ruleset: Ruleset, i: int, m: Milestone, previous: Milestone | None
) -> list[tuple[str, str]]:
    at = f"milestones[{i}]"
    earliest, latest = date(plan.year - 1, 1, 1), date(plan.year + 1, 12, 31)
    issues = [
        (
            f"{at}.{name}",
            f"{value.isoformat()} is implausible for a {plan.year} plan "
            f"(allowed {earliest.isoformat()} to {latest.isoformat()})",
        )
        for name, value in (("starts", m.starts), ("due", m.due))
        if value is not None and not earliest <= value <= latest
    ]
    if m.stages and m.is_deadline and not ruleset.in_force(m.due):
        issues.append((f"{at}.due", _outside_validity(m.due, ruleset)))
    if m.starts is not None and m.starts > m.due:
        issues.append(
            (f"{at}.starts", f"starts {m.starts.isoformat()} is after due {m.due.isoformat()}")
        )
    if previous is not None and m.due < previous.due:
        issues.append(
            (
                f"{at}.due",
                f"milestone out of order: {m.due.isoformat()} comes before "
                f"milestones[{i - 1}].due {previous.due.isoformat()}; "
                "sort milestones by due date",
            )
        )
    return issues


def _step_issues(ruleset: Ruleset, i: int, m: Milestone) -> list[tuple[str, str]]:
    """Stages, levels and kinds the ruleset knows, at the level the law gives them."""
    at = f"milestones[{i}]"
    allowed = _allowed_stages(ruleset)
    issues = [
        (f"{at}.stages[{j}]", f"stage {stage!r} does not exist under {ruleset.id}")
        for j, stage in enumerate(m.stages)
        if stage not in allowed
    ]
    if not ruleset.has_district and m.level == "district":
        issues.append((f"{at}.level", f"{ruleset.id} has no district level"))
    if not ruleset.has_district and m.kind in _DISTRICT_KINDS:
        issues.append((f"{at}.kind", f"{ruleset.id} has no district step {m.kind!r}"))
    expected_level = _KIND_LEVEL.get(m.kind)
    if expected_level is not None and m.level != expected_level:
        issues.append((f"{at}.level", f"a {m.kind!r} milestone is at level {expected_level!r}"))
    return issues


def _outside_validity(day: date, ruleset: Ruleset) -> str:
    until = ruleset.effective_until.isoformat() if ruleset.effective_until else "today"
    return (
        f"{day.isoformat()} is outside the validity of {ruleset.id} "
        f"({ruleset.effective_from.isoformat()} to {until})"
    )


def _round_issues(plan: Plan) -> list[tuple[str, str]]:
    """Each round closes its first deadline after the previous round did."""
    numbers = plan.rounds
    previous: tuple[int, date] | None = None
    for number in numbers:
        first = min(m.due for m in plan.round_milestones(number) if m.is_deadline)
        if previous is not None and first <= previous[1]:
            index = next(i for i, m in enumerate(plan.milestones) if m.round == number)
            return [
                (
                    f"milestones[{index}].round",
                    f"round {number} overlaps round {previous[0]}: its first deadline "
                    f"{first.isoformat()} is not after {previous[1].isoformat()}",
                )
            ]
        previous = (number, first)
    return []
