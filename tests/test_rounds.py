"""Rounds: which round, ruleset and next dates a dossier gets, by filing date and place.

The calendar matrix below is meant to be read by a domain expert: one line per case. Columns:
filed on · evaluated on · where · stage → ruleset · round ("-" = dates set by the province's own
plan, not loaded) · the producer's next date · the officer's (commune's) next date.
"""

from __future__ import annotations

import importlib.util
from datetime import date

import pytest

from ocop_core.plans import PlanRegistry
from ocop_core.plans.rounds import RoundRef, legacy_plan_codes, next_round
from ocop_core.rules import governing_ruleset

# where → (today's province, a commune of it)
PLACES = {
    "lai-chau": ("12", "03390"),  # Xã Bình Lư, Lai Châu (unchanged in 2025)
    "ha-nam": ("37", "13291"),  # Phường Phủ Lý, Ninh Bình (Hà Nam until 30/06/2025)
    "no-plan": ("01", "00070"),  # Phường Hoàn Kiếm, Hà Nội (no plan file shipped)
}

STAGES = {"idea": "idea_registered", "submitted": "submitted"}

MATRIX = """
2024-09-02 2024-09-02 lai-chau idea      qd148-2023  lai-chau-2024#1    30/10/2024 30/10/2024
2024-09-02 2024-09-02 ha-nam   idea      qd148-2023  ha-nam-2024#1      31/10/2024 31/10/2024
2024-09-02 2024-09-02 no-plan  idea      qd148-2023  -                  -          -
2025-09-10 2025-09-10 lai-chau idea      qd1489-2025 -                  -          -
2025-09-10 2025-09-10 ha-nam   idea      qd1489-2025 -                  -          -
2026-05-10 2026-05-10 lai-chau idea      qd1489-2025 -                  -          -
2026-05-10 2026-05-10 no-plan  idea      qd1489-2025 -                  -          -
2026-05-10 2026-07-21 lai-chau idea      qd1489-2025 -                  -          -
2026-05-10 2026-07-22 lai-chau idea      qd26-2026   national-12-2026#2 09/10/2026 30/10/2026
2025-09-10 2026-07-22 ha-nam   idea      qd26-2026   national-37-2026#2 09/10/2026 30/10/2026
2026-06-01 2026-06-01 lai-chau idea      qd26-2026   national-12-2026#2 09/10/2026 30/10/2026
2026-06-01 2026-06-01 ha-nam   idea      qd26-2026   national-37-2026#2 09/10/2026 30/10/2026
2026-06-01 2026-06-01 no-plan  idea      qd26-2026   national-01-2026#2 09/10/2026 30/10/2026
2026-06-01 2026-10-30 lai-chau submitted qd26-2026   national-12-2026#2 09/10/2026 30/10/2026
2026-06-01 2026-10-31 lai-chau submitted qd26-2026   national-12-2027#1 08/04/2027 30/04/2027
2026-12-01 2026-12-01 lai-chau idea      qd26-2026   national-12-2027#1 08/04/2027 30/04/2027
2026-12-01 2026-12-01 ha-nam   idea      qd26-2026   national-37-2027#1 08/04/2027 30/04/2027
2026-12-01 2026-12-01 no-plan  idea      qd26-2026   national-01-2027#1 08/04/2027 30/04/2027
"""


# The pre-2025 commune table is the shared foundation landing on main (ocop_core.legacy_units).
needs_legacy_units = pytest.mark.skipif(
    importlib.util.find_spec("ocop_core.legacy_units") is None,
    reason="ocop_core.legacy_units (pre-2025 communes) not merged yet",
)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _fmt(d: date | None) -> str:
    return d.strftime("%d/%m/%Y") if d else "-"


def _cases() -> list[object]:
    cases: list[object] = []
    for line in MATRIX.strip().splitlines():
        case = tuple(line.split())
        marks = [needs_legacy_units] if case[2] == "ha-nam" and case[0] < "2025-07-01" else []
        cases.append(pytest.param(case, marks=marks, id=" ".join(case[:4])))
    return cases


@pytest.fixture(scope="module")
def registry() -> PlanRegistry:
    return PlanRegistry()


def _round(
    registry: PlanRegistry, where: str, stage: str, filed: date, on: date
) -> RoundRef | None:
    province, commune = PLACES[where]
    legacy = legacy_plan_codes(commune)
    return next_round(registry, province, legacy, stage=stage, filed_on=filed, on=on)


@pytest.mark.parametrize("case", _cases())
def test_calendar_matrix(registry: PlanRegistry, case: tuple[str, ...]) -> None:
    filed, on, where, short, ruleset, round_key, producer, officer = case
    stage = STAGES[short]
    ref = _round(registry, where, stage, _day(filed), _day(on))
    got_ruleset = ref.ruleset if ref else governing_ruleset(_day(filed), _day(on)).id
    intake = ref.intake if ref else None
    commune = ref.commune_due if ref else None
    got = (
        got_ruleset,
        ref.key if ref else "-",
        _fmt(intake.due if intake else None),
        _fmt(commune.due if commune else None),
    )
    assert got == (ruleset, round_key, producer, officer)


@needs_legacy_units
def test_former_ha_nam_commune_knows_its_old_province() -> None:
    assert legacy_plan_codes("13291") == ("L35",)
    assert legacy_plan_codes("03390") == ("12",)


def test_no_round_of_26_2026_before_it_took_effect(registry: PlanRegistry) -> None:
    for year in (2026, 2027, 2030):
        for ref in (RoundRef(registry.plan_for("12", year), n) for n in (1, 2)):
            if ref.milestones:
                assert min(m.due for m in ref.milestones) >= date(2026, 5, 22)
    assert registry.plan_for("12", 2026).rounds == (2,)
