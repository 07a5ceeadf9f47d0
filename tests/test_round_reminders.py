"""Clock tests over the seed plans: who is reminded of what, and when (Must show #2).

Each test ticks the reminder engine (compute + dispatch) once a day at 08:00 under a fixed clock.
"""

from __future__ import annotations

from datetime import date

from ocop_core.lifecycle import Stage
from ocop_core.models import Role
from ocop_core.plans import PlanRegistry
from ocop_core.plans.models import DEADLINE_KINDS
from ocop_core.reminders.schedule import offsets_for
from tests.conftest import Core, vn_time
from tests.factories import BINH_LU, TAN_PHONG
from tests.reminders_world import by_person, days, dossier_at, simulate

PHU_LY = "13291"  # Phường Phủ Lý, Ninh Bình today; Hà Nam until 30/06/2025
DUY_TIEN = "13324"  # Phường Duy Tiên, likewise
SEPT_2024 = vn_time(2024, 9, 1, 9, 0)
# 14, 7, 3 and 1 days before 31/12/2024.
DEC = days((2024, 12, 17), (2024, 12, 24), (2024, 12, 28), (2024, 12, 30))


async def test_ha_nam_31_12_2024_reaches_ninh_binh_provincial_staff(core: Core) -> None:
    _, p1 = await core.person("p1")
    _, p2 = await core.person("p2")
    await core.person("v_ninhbinh", Role.PROVINCE, commune=PHU_LY)
    await core.person("v_laichau", Role.PROVINCE, commune=BINH_LU)
    await core.person("c_phuly", Role.COMMUNE, commune=PHU_LY)
    d1 = await dossier_at(core, p1, PHU_LY, Stage.AT_PROVINCE, registered=SEPT_2024)
    # Under 90 points: the province council concerns it, the filing with the Ministry does not.
    d2 = await dossier_at(
        core, p2, DUY_TIEN, Stage.PROVINCE_SCORED, registered=SEPT_2024, points=75.0
    )
    assert d1.plan_id == d2.plan_id == "ha-nam-2024" and d1.province_code == "37"
    log = await simulate(core, date(2024, 12, 1), date(2024, 12, 31))
    got = by_person(log)
    # One province-council reminder a day for both dossiers; no Ministry filing for 75 points.
    assert [d for d, _ in got["v_ninhbinh"]] == DEC
    texts = [s.text for s in log if s.who == "v_ninhbinh"]
    assert all("31/12/2024" in t and "2 hồ sơ" in t for t in texts)
    assert not any("Trung ương" in t for t in texts)
    for nobody in ("p1", "p2", "v_laichau", "c_phuly"):
        assert nobody not in got, got.get(nobody)


async def test_ministry_filing_only_for_90_points_or_more(core: Core) -> None:
    _, p1 = await core.person("p1")
    _, p2 = await core.person("p2")
    await core.person("v_laichau", Role.PROVINCE, commune=BINH_LU)
    await dossier_at(core, p1, BINH_LU, Stage.PROVINCE_SCORED, registered=SEPT_2024, points=92.5)
    await dossier_at(core, p2, TAN_PHONG, Stage.PROVINCE_SCORED, registered=SEPT_2024, points=89.5)
    log = await simulate(core, date(2024, 11, 15), date(2024, 11, 30))
    ministry = [s for s in log if "Bộ Nông nghiệp" in s.text]
    council = [s for s in log if "Hội đồng OCOP cấp tỉnh" in s.text]
    assert [s.day for s in ministry] == days(
        (2024, 11, 16), (2024, 11, 23), (2024, 11, 27), (2024, 11, 29)
    )
    assert all("1 hồ sơ" in s.text for s in ministry)  # the 92.5-point dossier only
    assert all("2 hồ sơ" in s.text for s in council)


async def test_148_district_tasks_go_to_provincial_staff(core: Core) -> None:
    _, p1 = await core.person("p1")
    await core.person("c_binhlu", Role.COMMUNE, commune=BINH_LU)
    await core.person("v_laichau", Role.PROVINCE, commune=BINH_LU)
    await dossier_at(core, p1, BINH_LU, Stage.COMMUNE_CHECKED, registered=SEPT_2024)
    got = by_person(await simulate(core, date(2024, 10, 10), date(2024, 10, 30)))
    october = days((2024, 10, 16), (2024, 10, 23), (2024, 10, 27), (2024, 10, 29))
    assert [d for d, _ in got["v_laichau"]] == october  # the district council, recorded by them
    assert [d for d, _ in got["p1"]] == october
    assert "c_binhlu" not in got


def test_every_deadline_has_a_1_day_reminder() -> None:
    registry = PlanRegistry()
    plans = [*registry.plans(), registry.plan_for("12", 2027)]
    for plan in plans:
        for m in plan.milestones:
            if m.kind in DEADLINE_KINDS:
                assert 1 in offsets_for(m), (plan.id, m.id)


async def test_overdue_commune_check_once_then_weekly(core: Core) -> None:
    _, p1 = await core.person("p1")
    await core.person("c_binhlu", Role.COMMUNE, commune=BINH_LU)
    # Filed Thursday 01/10/2026: 15 working days → due Thursday 22/10/2026.
    await dossier_at(
        core,
        p1,
        BINH_LU,
        Stage.SUBMITTED,
        registered=vn_time(2026, 9, 1, 9, 0),
        submitted_at=vn_time(2026, 10, 1, 10, 0),
    )
    log = await simulate(core, date(2026, 10, 21), date(2026, 10, 29))
    checks = [s for s in log if s.who == "c_binhlu" and s.kind == "commune_check"]
    # 1 day before (the 3-day one of 19/10 is superseded by it); overdue once (23/10), then
    # nothing more until a week later.
    assert [s.day for s in checks] == days((2026, 10, 21), (2026, 10, 23))
    assert "Quá hạn" in checks[-1].text and "22/10/2026" in checks[-1].text
    log = await simulate(core, date(2026, 10, 30), date(2026, 10, 30))
    checks = [s for s in log if s.who == "c_binhlu" and s.kind == "commune_check"]
    assert [s.day for s in checks][-1] == date(2026, 10, 30)  # the weekly digest
