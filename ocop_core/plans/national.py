"""The default plan of any current province from 2026: the national calendar of Decision 26/2026.

The calendar itself is data (``national-qd26-2026.toml``); this module only turns it into a dated
:class:`Plan`, computing the producer's filing dates with Vietnamese working days.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ocop_core.admin_units_legacy import current_provinces
from ocop_core.errors import NotFound
from ocop_core.i18n import N_
from ocop_core.plans.errors import PlanValidationError
from ocop_core.plans.models import Milestone, Plan
from ocop_core.rules import get_ruleset
from ocop_core.workdays import add_working_days

__all__ = [
    "NATIONAL_TEMPLATE",
    "national_first_year",
    "national_plan",
    "national_plan_id",
    "parse_national_plan_id",
]

NATIONAL_TEMPLATE = Path(__file__).resolve().parent / "national-qd26-2026.toml"
_ID_PREFIX = "national"


class _WorkingDaysBefore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    milestone: str
    days: int = Field(ge=1, le=60)


class _TemplateMilestone(BaseModel):
    """A milestone with a calendar rule instead of a date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str
    level: str
    audience: list[str]
    stages: list[str] = Field(default_factory=list)
    title_vi: str
    title_en: str
    source: str
    offsets_days: list[int] | None = None
    round: int = Field(ge=1)
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    year_offset: int = Field(default=0, ge=0, le=1)
    working_days_before: _WorkingDaysBefore | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> _TemplateMilestone:
        fixed = self.month is not None and self.day is not None
        if fixed == (self.working_days_before is not None):
            raise ValueError("give either month and day, or working_days_before")
        return self


class _Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ruleset: str
    first_year: int
    title: str
    source: str
    milestone: list[_TemplateMilestone] = Field(min_length=1)


@cache
def _template() -> _Template:
    with NATIONAL_TEMPLATE.open("rb") as fh:
        raw: dict[str, Any] = tomllib.load(fh)
    return _Template.model_validate(raw)


def national_first_year() -> int:
    return _template().first_year


def national_plan_id(province_code: str, year: int) -> str:
    return f"{_ID_PREFIX}-{province_code}-{year}"


def parse_national_plan_id(plan_id: str) -> tuple[str, int] | None:
    """(province code, year) from an id made by :func:`national_plan_id`, else ``None``."""
    prefix, _, rest = plan_id.partition("-")
    code, _, year = rest.partition("-")
    if prefix != _ID_PREFIX or not code or not year.isdigit():
        return None
    return code, int(year)


def _rounds_in_force(milestones: list[Milestone], ruleset_id: str) -> list[Milestone]:
    """Leave out every round with a date before the decision's first day (round 1 of 2026)."""
    starts = get_ruleset(ruleset_id).effective_from
    early = {m.round for m in milestones if m.due < starts}
    return [m for m in milestones if m.round not in early]


def _dues(template: _Template, year: int) -> dict[str, date]:
    """Each milestone's date in ``year``: fixed days first, then working days counted back."""
    dues: dict[str, date] = {}
    for item in template.milestone:
        if item.month is not None and item.day is not None:
            dues[item.id] = date(year + item.year_offset, item.month, item.day)
    for item in template.milestone:
        rule = item.working_days_before
        if rule is None:
            continue
        anchor = dues.get(rule.milestone)
        if anchor is None:
            raise PlanValidationError(
                file=NATIONAL_TEMPLATE.name,
                field=f"milestone.{item.id}.working_days_before.milestone",
                reason=f"{rule.milestone!r} is not a milestone with a fixed date",
            )
        dues[item.id] = add_working_days(anchor, -rule.days)
    return dues


@cache
def national_plan(province_code: str, year: int) -> Plan:
    """The Decision 26/2026 calendar for a current province and a year from 2026.

    Raises ``NotFound`` (``error.plan_not_found``) for a legacy or unknown province, or an earlier
    year: no national two-round calendar existed before 26/2026.
    """
    template = _template()
    provinces = current_provinces()
    if province_code not in provinces or year < template.first_year:
        raise NotFound(N_("error.plan_not_found"), province=province_code, year=year)

    dues = _dues(template, year)
    milestones = [
        Milestone.model_validate(
            {
                **item.model_dump(
                    include={
                        "id",
                        "kind",
                        "level",
                        "audience",
                        "stages",
                        "title_vi",
                        "title_en",
                        "source",
                        "offsets_days",
                        "round",
                    }
                ),
                "due": dues[item.id],
            }
        )
        for item in template.milestone
    ]
    milestones.sort(key=lambda m: m.due)  # stable: template order breaks ties
    milestones = _rounds_in_force(milestones, template.ruleset)
    name = provinces[province_code]
    try:
        return Plan(
            id=national_plan_id(province_code, year),
            province_code=province_code,
            province_name=name,
            year=year,
            ruleset=template.ruleset,  # type: ignore[arg-type]  # checked by Plan validation
            title=template.title.format(province=name, year=year),
            source=template.source,
            milestones=milestones,
        )
    except PlanValidationError as exc:
        raise exc.with_file(NATIONAL_TEMPLATE.name) from None
