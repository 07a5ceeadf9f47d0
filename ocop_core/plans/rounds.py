"""Evaluation rounds: (jurisdiction, ruleset, year, number, its milestones), derived from plans.

A round is the part of a plan that a dossier goes through once: the plans of the 148 era hold one
round a year, the national calendar of 26/2026 two. Which round a dossier is in depends on its
stage, the rules it follows on a given day (``ocop_core.rules.governing_ruleset``) and the plans
that exist for its province: a province's own file for a year wins over the national calendar;
former provinces (Hà Nam until 30/06/2025) keep their plans for the communes that were theirs.
Pure functions over a :class:`PlanRegistry`; the database side is ``ocop_core.services.rounds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ocop_core.admin_units_legacy import is_legacy_code
from ocop_core.errors import NotFound
from ocop_core.lifecycle import EDITABLE
from ocop_core.plans.loader import PlanRegistry
from ocop_core.plans.models import INTAKE_KINDS, Milestone, Plan
from ocop_core.rules import governing_ruleset

__all__ = ["RoundRef", "legacy_plan_codes", "next_round", "rounds_around"]

# How many years around a date are searched for rounds: the rounds of one year end in the next.
_YEARS_BEFORE, _YEARS_AFTER = 1, 2


@dataclass(frozen=True)
class RoundRef:
    """One round of one plan."""

    plan: Plan
    number: int

    @property
    def key(self) -> str:
        return f"{self.plan.id}#{self.number}"

    @property
    def ruleset(self) -> str:
        return self.plan.ruleset

    @property
    def year(self) -> int:
        return self.plan.year

    @property
    def milestones(self) -> list[Milestone]:
        return [m for m in self.plan.round_milestones(self.number) if m.is_deadline]

    def gate(self, stage: str) -> Milestone | None:
        """The date by which a dossier at ``stage`` must have moved on to stay in this round.

        Still with the producer: the round's intake (the producer's filing date, else the commune's
        check or forwarding). Further on: the first deadline that names the stage.
        """
        if stage in EDITABLE:
            for kind in INTAKE_KINDS:
                found = [m for m in self.milestones if m.kind == kind]
                if found:
                    return found[0]
            return None
        return next((m for m in self.milestones if m.concerns(stage)), None)

    @property
    def intake(self) -> Milestone | None:
        return self.gate("idea_registered")

    @property
    def commune_due(self) -> Milestone | None:
        """The commune's own deadline in this round (check or forwarding)."""
        return next((m for m in self.milestones if m.level == "commune"), None)


def legacy_plan_codes(commune_code: str) -> tuple[str, ...]:
    """The plan codes of the provinces a commune belonged to before 1/7/2025 ("L35" = Hà Nam).

    A province that kept its code (Lai Châu "12", Ninh Bình "37") is written as that code.
    """
    try:
        from ocop_core.legacy_units import old_province_codes_of
    except ImportError:  # the shared pre-2025 units table is not installed
        return ()
    codes: list[str] = []
    for old in old_province_codes_of(commune_code):
        code = f"L{old}" if is_legacy_code(f"L{old}") else old
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _plan_of_year(
    registry: PlanRegistry, province: str, legacy: tuple[str, ...], year: int
) -> Plan | None:
    """The province's own file, else a former province's file (for old years), else national."""
    for code in (province, *legacy):
        plan = registry.file_plan(code, year)
        if plan is not None:
            return plan
    try:
        return registry.plan_for(province, year)
    except NotFound:
        return None


def rounds_around(
    registry: PlanRegistry, province: str, legacy: tuple[str, ...], on: date
) -> list[RoundRef]:
    """Every round of the plans of the years around ``on``, by their intake date."""
    refs: list[RoundRef] = []
    for year in range(on.year - _YEARS_BEFORE, on.year + _YEARS_AFTER + 1):
        plan = _plan_of_year(registry, province, legacy, year)
        if plan is not None:
            refs.extend(RoundRef(plan, n) for n in plan.rounds)
    return sorted(refs, key=lambda r: min(m.due for m in r.milestones))


def next_round(
    registry: PlanRegistry,
    province: str,
    legacy: tuple[str, ...],
    *,
    stage: str,
    filed_on: date,
    on: date,
    attempt: str = "new",
) -> RoundRef | None:
    """The first round still open on ``on`` for a dossier at ``stage`` under the rules it follows.

    ``None`` when the rules of the day have no national calendar (148, 1489) and the province's
    plan for the year was not loaded: its dates are "theo kế hoạch của tỉnh", and none is invented.
    """
    rules = governing_ruleset(filed_on, on, attempt)
    accepted = {rules.id, rules.amends}
    for ref in rounds_around(registry, province, legacy, on):
        gate = ref.gate(stage)
        if ref.ruleset in accepted and gate is not None and gate.due >= on:
            return ref
    return None
