"""Plans as data: the seed plans, the national calendar of 26/2026, loading errors, registry."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ocop_core import i18n
from ocop_core.admin_units_legacy import (
    current_provinces,
    is_legacy_code,
    legacy_provinces,
    province_name,
    successor,
)
from ocop_core.errors import NotFound, ValidationError
from ocop_core.plans import (
    KINDS,
    Plan,
    PlanRegistry,
    PlanValidationError,
    builtin_plan_files,
    catalog_keys,
    load_plan_file,
    national_plan,
    render_plan,
)
from ocop_core.workdays import add_working_days, working_days_between

DATA = Path(__file__).parent / "data" / "plans"
SEED_LAI_CHAU = DATA / "seed-000-lai-chau-2024.txt"
SEED_HA_NAM = DATA / "seed-001-ha-nam-2024.txt"
SHARED_SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

D = date


@pytest.fixture(scope="module")
def registry() -> PlanRegistry:
    return PlanRegistry()


# --- seed coverage ---------------------------------------------------------------------------

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def dated_expressions(text: str, year: int = 2024) -> list[tuple[str, date, date]]:
    """Every dated expression of a plan text as (matched text, first day, last day)."""
    y = str(year)
    found: list[tuple[str, date, date]] = []
    for m in re.finditer(rf"(?<![\d/])(\d{{1,2}})/(\d{{1,2}})/{y}", text):
        d = date(year, int(m[2]), int(m[1]))
        found.append((m[0], d, d))
    for m in re.finditer(rf"(\d{{1,2}}) tháng (\d{{1,2}}) năm {y}", text):
        d = date(year, int(m[2]), int(m[1]))
        found.append((m[0], d, d))
    for m in re.finditer(rf"(?<!\d )[Tt]háng (\d{{1,2}})/{y}", text):
        found.append((m[0], date(year, int(m[1]), 1), _month_end(year, int(m[1]))))
    for m in re.finditer(rf"[Tt]háng (\d{{1,2}})\s*-\s*(\d{{1,2}}) năm {y}", text):
        found.append((m[0], date(year, int(m[1]), 1), _month_end(year, int(m[2]))))
    for m in re.finditer(rf"(?<!\d )[Tt]háng (\d{{1,2}}) năm {y}", text):
        found.append((m[0], date(year, int(m[1]), 1), _month_end(year, int(m[1]))))
    for m in re.finditer(r"Quý ((?:IV|I{1,3})(?:,\s*(?:IV|I{1,3}))*)", text):
        quarters = [_ROMAN[q.strip()] for q in m[1].split(",")]
        first, last = min(quarters), max(quarters)
        found.append((m[0], date(year, 3 * first - 2, 1), _month_end(year, 3 * last)))
    for m in re.finditer(rf"[Tt]rong năm {y}", text):
        found.append((m[0], date(year, 1, 1), date(year, 12, 31)))
    return found


# (first day, last day) of every dated expression → level of the milestone that must cover it.
LAI_CHAU_EXPECTED = {
    (
        D(2024, 4, 1),
        D(2024, 12, 31),
    ): "province",  # Quý II, III, IV: councils (§II.1), training (§II.3)
    (D(2024, 10, 30), D(2024, 10, 30)): "district",  # district → province (§II.5.2)
    (D(2024, 11, 30), D(2024, 11, 30)): "province",  # provincial council (§II.5.3)
    (D(2024, 1, 1), D(2024, 12, 31)): "province",  # points of sale "Trong năm 2024" (§II.6.1)
    (D(2024, 12, 1), D(2024, 12, 31)): "province",  # year-end review "tháng 12/2024" (§II.8)
}
HA_NAM_EXPECTED = {
    (D(2024, 2, 1), D(2024, 4, 30)): "commune",  # idea registration (§III.1.2)
    (D(2024, 3, 1), D(2024, 3, 31)): "district",  # district idea list (§III.1.3)
    (D(2024, 5, 1), D(2024, 6, 30)): "province",  # province selection (§III.1.3)
    (D(2024, 7, 1), D(2024, 10, 31)): "province",  # consulting (§III.1.4)
    (D(2024, 10, 1), D(2024, 10, 31)): "commune",  # commune check (§III.1.5)
    (D(2024, 11, 30), D(2024, 11, 30)): "district",  # district council (§III.1.5)
    (D(2024, 12, 31), D(2024, 12, 31)): "province",  # provincial council (§III.1.5)
}


def _covering(plan: Plan, first: date, last: date, level: str) -> list[str]:
    if first == last:  # a deadline: due that day
        return [m.id for m in plan.milestones if m.due == last and m.level == level]
    return [
        m.id for m in plan.milestones if m.starts == first and m.due == last and m.level == level
    ]


@pytest.mark.parametrize(
    ("seed", "plan_id", "expected"),
    [
        (SEED_LAI_CHAU, "lai-chau-2024", LAI_CHAU_EXPECTED),
        (SEED_HA_NAM, "ha-nam-2024", HA_NAM_EXPECTED),
    ],
)
def test_every_dated_item_of_the_seed_is_a_milestone(
    registry: PlanRegistry, seed: Path, plan_id: str, expected: dict[tuple[date, date], str]
) -> None:
    found = dated_expressions(seed.read_text(encoding="utf-8"))
    occurrences = Counter((first, last) for _, first, last in found)
    # Nothing dated in the text is unknown to this test, and nothing expected is missing from it.
    assert set(occurrences) == set(expected), found
    plan = registry.get(plan_id)
    for (first, last), count in occurrences.items():
        covering = _covering(plan, first, last, expected[(first, last)])
        assert len(covering) >= count, (first, last, covering)


def test_seed_parser_sees_the_known_expressions() -> None:
    texts = [t for t, _, _ in dated_expressions(SEED_HA_NAM.read_text(encoding="utf-8"))]
    assert "Tháng 2- 4 năm 2024" in texts
    assert "30 tháng 11 năm 2024" in texts
    assert "tháng 11 năm 2024" not in texts  # part of the full date, not a month
    lai_chau = dated_expressions(SEED_LAI_CHAU.read_text(encoding="utf-8"))
    assert [t for t, _, _ in lai_chau].count("Quý II, III, IV") == 2


def test_seed_copies_match_the_shared_originals() -> None:
    if not SHARED_SEEDS.is_dir():
        pytest.skip("shared/seeds is not beside this checkout")
    for copy, name in ((SEED_LAI_CHAU, "000_7ba951a3c59d5477.txt"), (SEED_HA_NAM, "001_")):
        original = next(SHARED_SEEDS.glob(f"{name}*"))
        assert copy.read_bytes() == original.read_bytes()


def test_lai_chau_headline_deadlines(registry: PlanRegistry) -> None:
    plan = registry.get("lai-chau-2024")
    assert (plan.province_code, plan.year, plan.ruleset) == ("12", 2024, "qd148-2023")
    forward = plan.milestone("district-forward")
    assert forward is not None
    assert (forward.due, forward.level, forward.kind) == (
        D(2024, 10, 30),
        "district",
        "district_forward",
    )
    council = plan.milestone("province-council")
    assert council is not None
    assert (council.due, council.level) == (D(2024, 11, 30), "province")
    check = plan.milestone("commune-check")
    assert check is not None and check.level == "commune" and check.due <= forward.due
    assert check.offsets_days and max(check.offsets_days) >= 30  # reminded well before the bound
    training = plan.milestone("training")
    assert training is not None and set(training.audience) == {"producer", "commune", "province"}


def test_ha_nam_headline_deadlines(registry: PlanRegistry) -> None:
    plan = registry.get("ha-nam-2024")
    assert (plan.province_code, plan.province_name) == ("L35", "Hà Nam")
    district = plan.milestone("district-council")
    assert district is not None and (district.due, district.level) == (D(2024, 11, 30), "district")
    province = plan.milestone("province-council")
    assert province is not None and (province.due, province.level) == (D(2024, 12, 31), "province")
    filing = plan.milestone("ministry-filing")
    assert filing is not None and filing.stages == ["province_scored"]


def test_builtin_plans_are_sorted_and_well_formed(registry: PlanRegistry) -> None:
    for plan in registry.plans():
        dues = [m.due for m in plan.milestones]
        assert dues == sorted(dues)
        for m in plan.milestones:
            assert m.title_vi and m.title_en and m.source.startswith("§")


# --- national calendar (Decision 26/2026) ----------------------------------------------------

NATIONAL_2026 = {
    # No round 1 in 2026: its dates fall before Decision 26/2026 took effect (22/05/2026).
    # 15 working days before Fri 30/10/2026: 29–26/10 (4); 23–19/10 (9); 16–12/10 (14); 9/10 (15).
    "r2-producer-filing": D(2026, 10, 9),
    "r2-commune-forward": D(2026, 10, 30),
    "r2-province-council": D(2026, 12, 30),
    "r2-ministry-filing": D(2027, 1, 30),
    "r2-central-council": D(2027, 3, 30),
}
NATIONAL_2027 = {
    # 15 working days before Fri 30/4/2027 (itself a holiday): 29–26/4 (4); 23–19/4 (9);
    # Fri 16/4 Hùng Kings' day off; 15–12/4 (13); 9/4 (14); 8/4 (15).
    "r1-producer-filing": D(2027, 4, 8),
    "r1-commune-forward": D(2027, 4, 30),
    "r1-province-council": D(2027, 6, 30),
    "r1-ministry-filing": D(2027, 7, 30),
    "r1-central-council": D(2027, 9, 30),
    # 15 working days before Sat 30/10/2027: 29–25/10 (5); 22–18/10 (10); 15–11/10 (15).
    "r2-producer-filing": D(2027, 10, 11),
    "r2-commune-forward": D(2027, 10, 30),
    "r2-province-council": D(2027, 12, 30),
    "r2-ministry-filing": D(2028, 1, 30),
    "r2-central-council": D(2028, 3, 30),
}


@pytest.mark.parametrize(("year", "expected"), [(2026, NATIONAL_2026), (2027, NATIONAL_2027)])
def test_national_calendar_dates(year: int, expected: dict[str, date]) -> None:
    plan = national_plan("12", year)
    assert plan.ruleset == "qd26-2026"
    assert plan.id == f"national-12-{year}"
    assert plan.province_name == "Lai Châu"
    assert {m.id: m.due for m in plan.milestones} == expected
    assert [m.id for m in plan.milestones] == list(expected)  # sorted by due date


@pytest.mark.parametrize("year", range(2026, 2036))
def test_producer_filing_leaves_the_commune_15_working_days(year: int) -> None:
    plan = national_plan("37", year)
    for rnd in ("r1", "r2") if year > 2026 else ("r2",):
        filing, forward = (
            plan.milestone(f"{rnd}-producer-filing"),
            plan.milestone(f"{rnd}-commune-forward"),
        )
        assert filing is not None and forward is not None
        assert filing.due == add_working_days(forward.due, -15)
        # 15 working days from the filing day up to, not counting, the commune deadline.
        assert working_days_between(filing.due, forward.due) >= 14
        assert 19 <= (forward.due - filing.due).days <= 30


def test_national_audiences_and_stages() -> None:
    by_kind = {m.id: m for m in national_plan("12", 2027).milestones}
    filing = by_kind["r1-producer-filing"]
    assert (filing.level, filing.audience) == ("producer", ["producer"])
    assert filing.stages == ["idea_registered", "documents_pending"]
    forward = by_kind["r2-commune-forward"]
    assert set(forward.audience) == {"commune", "producer"}
    assert forward.stages == ["submitted", "commune_checked"]
    council = by_kind["r1-province-council"]
    assert council.audience == ["province"] and council.stages == ["at_province", "province_scored"]
    assert by_kind["r1-ministry-filing"].stages == ["province_scored"]
    central = by_kind["r2-central-council"]
    assert (central.level, central.audience, central.stages) == (
        "central",
        ["province"],
        ["at_central"],
    )
    for m in by_kind.values():
        assert not {"at_district", "district_scored"} & set(m.stages)


def test_no_national_plan_before_2026_or_for_old_provinces() -> None:
    with pytest.raises(NotFound) as exc:
        national_plan("12", 2025)
    assert exc.value.key == "error.plan_not_found"
    with pytest.raises(NotFound):
        national_plan("L35", 2027)
    with pytest.raises(NotFound):
        national_plan("35", 2027)


# --- loading errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "reason"),
    [
        ("impossible-date.toml", "milestones[1].due", "impossible date 2024-02-30"),
        ("unknown-province.toml", "province_code", "unknown province code '99'"),
        ("out-of-order.toml", "milestones[2].due", "out of order"),
        ("duplicate-id.toml", "milestones[2].id", "duplicate id 'district-council'"),
    ],
)
def test_bad_plan_files(name: str, field: str, reason: str) -> None:
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(DATA / name)
    err = exc.value
    assert isinstance(err, ValidationError)
    assert err.key == "error.plan_invalid"
    assert err.params == {"file": name, "field": field, "reason": err.reason}
    assert reason in err.reason
    message = str(err)
    assert name in message and field in message and reason in message


def _variant(tmp_path: Path, old: str, new: str, source: str = "lai-chau-2024.toml") -> Path:
    text = next(p for p in builtin_plan_files() if p.name == source).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"variant-{source}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ('ruleset = "qd148-2023"', 'ruleset = "qd99-2030"', "ruleset", "qd99-2030"),
        ('kind = "commune_check"', 'kind = "party"', "milestones[0].kind", "'party'"),
        ('level = "commune"', 'level = "village"', "milestones[0].level", "'village'"),
        (
            'audience = ["commune", "producer"]',
            'audience = ["commune", "everyone"]',
            "milestones[0].audience[1]",
            "'everyone'",
        ),
        (
            'stages = ["documents_pending", "submitted"]',
            'stages = ["documents_pending", "paid"]',
            "milestones[0].stages[1]",
            "'paid'",
        ),
        ("year = 2024", "year = 2024 2025", "year", "TOML syntax error"),
        (
            'title_vi = "Hội đồng OCOP cấp huyện',
            'colour = "red"\ntitle_vi = "Hội đồng OCOP cấp huyện',
            "milestones[1].colour",
            "Extra inputs",
        ),
        ('province_name = "Lai Châu"', 'province_name = "Lào Cai"', "province_name", "Lào Cai"),
        (
            "due = 2024-11-30",
            "starts = 2024-12-15\ndue = 2024-11-30",
            "milestones[3].starts",
            "after due",
        ),
        ("due = 2024-10-30", "due = 2031-10-30", "milestones[0].due", "implausible"),
        ("due = 2024-10-30", 'due = "2024-13-01"', "milestones[0].due", "2024-13-01"),
        (
            'kind = "district_forward"\nlevel = "district"',
            'kind = "district_forward"\nlevel = "province"',
            "milestones[2].level",
            "'district'",
        ),
    ],
)
def test_every_kind_of_mistake_names_field_and_reason(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    path = _variant(tmp_path, old, new)
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(path)
    assert (exc.value.file, exc.value.field) == (path.name, field)
    assert reason in exc.value.reason


def test_qd26_plans_have_no_district(tmp_path: Path) -> None:
    text = (
        'id = "lai-chau-2027"\nprovince_code = "12"\nprovince_name = "Lai Châu"\nyear = 2027\n'
        'ruleset = "qd26-2026"\ntitle = "Kế hoạch 2027"\nsource = "tests"\n\n'
        '[[milestones]]\nid = "council"\nkind = "province_council"\nlevel = "province"\n'
        'audience = ["province"]\nstages = ["at_province", "at_district"]\ndue = 2027-06-30\n'
        'title_vi = "Hội đồng tỉnh"\ntitle_en = "Provincial council"\nsource = "§1"\n'
    )
    path = tmp_path / "lai-chau-2027.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(path)
    assert exc.value.field == "milestones[0].stages[1]"
    assert "'at_district' does not exist under qd26-2026" in exc.value.reason


def test_old_province_cannot_have_a_plan_after_the_merger(tmp_path: Path) -> None:
    path = _variant(tmp_path, "year = 2024", "year = 2026", source="ha-nam-2024.toml")
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(path)
    assert exc.value.field == "province_code"
    assert "merged into province 37" in exc.value.reason


def test_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(tmp_path / "nope.toml")
    assert exc.value.file == "nope.toml" and exc.value.field == "(file)"


# --- registry --------------------------------------------------------------------------------


def _write_plan(directory: Path, name: str, plan_id: str, code: str, year: int) -> Path:
    province = province_name(code)
    ruleset = "qd26-2026" if year >= 2026 else "qd148-2023"
    path = directory / name
    path.write_text(
        f'id = "{plan_id}"\nprovince_code = "{code}"\nprovince_name = "{province}"\n'
        f'year = {year}\nruleset = "{ruleset}"\ntitle = "Kế hoạch riêng"\nsource = "tests"\n\n'
        '[[milestones]]\nid = "commune-forward"\nkind = "commune_forward"\nlevel = "commune"\n'
        'audience = ["commune", "producer"]\nstages = ["submitted"]\n'
        f"due = {year}-05-15\n"
        'title_vi = "Xã gửi hồ sơ"\ntitle_en = "Commune forwards"\nsource = "§1"\n',
        encoding="utf-8",
    )
    return path


def test_registry_builtin_plans(registry: PlanRegistry) -> None:
    assert [p.id for p in registry.plans()] == ["lai-chau-2024", "ha-nam-2024"]
    assert registry.plan_for("12", 2024).id == "lai-chau-2024"
    assert registry.plan_for("L35", 2024).id == "ha-nam-2024"
    national = registry.plan_for("12", 2027)
    assert national.id == "national-12-2027" and national.ruleset == "qd26-2026"
    assert registry.get("national-37-2026") == national_plan("37", 2026)
    for code, year in (("12", 2025), ("37", 2024), ("L35", 2027), ("99", 2027)):
        with pytest.raises(NotFound) as exc:
            registry.plan_for(code, year)
        assert exc.value.key == "error.plan_not_found"
    with pytest.raises(NotFound):
        registry.get("lai-chau-2023")


def test_registry_file_wins_over_national(tmp_path: Path) -> None:
    _write_plan(tmp_path, "lai-chau-2027.toml", "lai-chau-2027", "12", 2027)
    registry = PlanRegistry([tmp_path])
    own = registry.plan_for("12", 2027)
    assert own.id == "lai-chau-2027"
    assert own.milestones[0].due == D(2027, 5, 15)
    assert registry.plan_for("12", 2028).id == "national-12-2028"
    assert registry.plan_for("11", 2027).id == "national-11-2027"
    assert "lai-chau-2027" in {p.id for p in registry.plans()}


def test_extra_file_replaces_builtin_for_same_province_and_year(tmp_path: Path) -> None:
    _write_plan(tmp_path, "lai-chau-2024-rev.toml", "lai-chau-2024-rev", "12", 2024)
    registry = PlanRegistry([tmp_path])
    assert registry.plan_for("12", 2024).id == "lai-chau-2024-rev"
    assert registry.plan_for("L35", 2024).id == "ha-nam-2024"


def test_missing_extra_dir_holds_no_plans(tmp_path: Path) -> None:
    registry = PlanRegistry([tmp_path / "not-yet"])
    assert [p.id for p in registry.plans()] == ["lai-chau-2024", "ha-nam-2024"]
    a_file = tmp_path / "file.toml"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(PlanValidationError) as exc:
        PlanRegistry([a_file])
    assert exc.value.field == "(directory)"


def test_registry_refuses_conflicts_and_bad_files(tmp_path: Path) -> None:
    _write_plan(tmp_path, "a.toml", "lai-chau-2027", "12", 2027)
    _write_plan(tmp_path, "b.toml", "lai-chau-2027-bis", "12", 2027)
    with pytest.raises(PlanValidationError) as exc:
        PlanRegistry([tmp_path])
    assert exc.value.file == "b.toml" and "a.toml" in exc.value.reason

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "out-of-order.toml").write_bytes((DATA / "out-of-order.toml").read_bytes())
    _write_plan(bad, "good.toml", "lai-chau-2027", "12", 2027)
    with pytest.raises(PlanValidationError):
        PlanRegistry([bad])  # all or nothing


def test_next_milestone(registry: PlanRegistry) -> None:
    lai_chau = registry.get("lai-chau-2024")
    m = lai_chau.next_milestone("at_district", D(2024, 10, 1))
    assert m is not None and m.id == "district-council"
    m = lai_chau.next_milestone("district_scored", D(2024, 10, 30))  # due today still counts
    assert m is not None and m.id == "district-forward"
    assert lai_chau.next_milestone("district_scored", D(2024, 10, 31)) is None
    m = lai_chau.next_milestone("at_province", D(2024, 10, 31))
    assert m is not None and m.id == "province-council"
    assert lai_chau.next_milestone("no_such_stage", D(2024, 1, 1)) is None

    ha_nam = registry.get("ha-nam-2024")
    m = ha_nam.next_milestone("idea_registered", D(2024, 2, 15))
    assert m is not None and m.id == "district-idea-list"
    m = ha_nam.next_milestone("idea_registered", D(2024, 4, 1))
    assert m is not None and m.id == "idea-registration"

    national = national_plan("12", 2027)
    m = national.next_milestone("documents_pending", D(2027, 4, 8))
    assert m is not None and m.id == "r1-producer-filing"
    m = national.next_milestone("documents_pending", D(2027, 4, 9))
    assert m is not None and m.id == "r2-producer-filing" and m.due == D(2027, 10, 11)
    m = national.next_milestone("at_central", D(2027, 10, 1))
    assert m is not None and m.due == D(2028, 3, 30)
    assert national.milestones_for_stage("at_district") == []


def test_programme_wide_milestones_concern_no_stage(registry: PlanRegistry) -> None:
    plan = registry.get("lai-chau-2024")
    review = plan.milestone("year-review")
    assert review is not None and review.stages == []
    assert all(review not in plan.milestones_for_stage(s) for s in ("at_province", "submitted"))
    assert review in plan.milestones_for_audience("province")


# --- legacy provinces ------------------------------------------------------------------------


def test_legacy_provinces_map_to_current_ones() -> None:
    legacy = legacy_provinces()
    current = current_provinces()
    assert len(current) == 34
    assert len(legacy) == 36  # 29 merged away + 7 survivors whose code changed
    assert len({p.old_code for p in legacy}) == 36
    assert all(p.successor in current for p in legacy)
    assert all(p.code == "L" + p.old_code for p in legacy)
    # The old 63: every legacy entry plus every current code that no merged province reused.
    reused = {p.old_code for p in legacy} & set(current)
    assert len(legacy) + len(set(current) - reused) == 63
    # The 11 units the merger left untouched absorbed nobody.
    untouched = {"01", "04", "11", "12", "14", "20", "22", "38", "40", "42", "46"}
    assert untouched <= set(current)
    assert not untouched & {p.successor for p in legacy}


def test_province_names_and_successors() -> None:
    assert province_name("12") == "Lai Châu"
    assert province_name("L35") == "Hà Nam"
    assert province_name("35") is None  # Hà Nam's old code is not a current code
    assert province_name("L10") == "Lào Cai" and successor("L10") == "15"
    assert province_name("15") == "Lào Cai" and province_name("L15") == "Yên Bái"
    assert successor("L35") == "37" and successor("L36") == "37"
    assert successor("L02") == "08" and successor("L77") == "79"
    assert successor("12") == "12"
    assert is_legacy_code("L35") and not is_legacy_code("12")
    with pytest.raises(NotFound) as exc:
        successor("L99")
    assert exc.value.key == "error.province_unknown"


# --- rendering and catalog keys --------------------------------------------------------------

_PO = {
    "vi": {
        "plan.col.due": "Hạn",
        "plan.level.district": "Cấp huyện",
        "audience.producer": "Chủ thể",
    },
    "en": {
        "plan.col.due": "Due",
        "plan.level.district": "District",
        "audience.producer": "Producers",
    },
}


@pytest.fixture
def small_catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for locale, entries in _PO.items():
        folder = tmp_path / locale / "LC_MESSAGES"
        folder.mkdir(parents=True)
        body = "".join(f'\nmsgid "{k}"\nmsgstr "{v}"\n' for k, v in entries.items())
        header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
        (folder / "messages.po").write_text(header + body, encoding="utf-8")
    monkeypatch.setenv("OCOP_LOCALES_DIR", str(tmp_path))
    i18n.catalog.cache_clear()
    yield
    i18n.catalog.cache_clear()


@pytest.mark.usefixtures("small_catalogs")
def test_render_plan(registry: PlanRegistry) -> None:
    plan = registry.get("lai-chau-2024")
    vi = render_plan(plan, "vi")
    assert vi.startswith(plan.title)
    assert "Hạn" in vi and "Cấp huyện" in vi and "Chủ thể" in vi
    assert "30/10/2024" in vi and "01/04/2024" in vi and "2024-10-30" not in vi
    assert "§II.5.2" in vi and "Hội đồng OCOP cấp huyện đánh giá" in vi
    en = render_plan(plan, "en")
    assert "Due" in en and "District" in en and "Producers" in en
    assert "District forwards dossiers of products scoring 70–100 points" in en
    assert "milestone.district_forward" in en  # untranslated keys fall back to the key


def test_catalog_keys_cover_every_label() -> None:
    keys = catalog_keys()
    assert {f"milestone.{k}" for k in KINDS} <= keys
    assert {"audience.producer", "audience.commune", "audience.province"} <= keys
    assert {"error.plan_invalid", "error.plan_not_found"} <= keys
    plans = [load_plan_file(p) for p in builtin_plan_files()] + [national_plan("12", 2027)]
    for plan in plans:
        for m in plan.milestones:
            assert f"milestone.{m.kind}" in keys and f"plan.level.{m.level}" in keys


_ROUNDS_PLAN = (
    'id = "lai-chau-2027"\nprovince_code = "12"\nprovince_name = "Lai Châu"\nyear = {year}\n'
    'ruleset = "{ruleset}"\ntitle = "Kế hoạch"\nsource = "tests"\n\n'
    '[[milestones]]\nid = "r1-forward"\nkind = "commune_forward"\nlevel = "commune"\n'
    'audience = ["commune"]\nstages = ["submitted"]\ndue = {first}\n'
    'title_vi = "a"\ntitle_en = "a"\nsource = "§1"\n\n'
    '[[milestones]]\nid = "r2-forward"\nkind = "commune_forward"\nlevel = "commune"\n'
    'audience = ["commune"]\nstages = ["submitted"]\nround = 2\ndue = {second}\n'
    'title_vi = "b"\ntitle_en = "b"\nsource = "§2"\n'
)


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        (
            {"year": 2027, "ruleset": "qd26-2026", "first": "2027-05-15", "second": "2027-05-15"},
            "milestones[1].round",
            "round 2 overlaps round 1",
        ),
        (
            {"year": 2026, "ruleset": "qd148-2023", "first": "2026-08-01", "second": "2026-09-01"},
            "milestones[0].due",
            "outside the validity of qd148-2023 (2023-02-24 to 2026-07-21)",
        ),
        (
            {"year": 2026, "ruleset": "qd26-2026", "first": "2026-04-30", "second": "2026-10-30"},
            "milestones[0].due",
            "outside the validity of qd26-2026",
        ),
    ],
)
def test_plan_load_refuses_overlap_and_dates_outside_the_ruleset(
    tmp_path: Path, values: dict[str, object], field: str, reason: str
) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(_ROUNDS_PLAN.format(**values), encoding="utf-8")
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(path)
    assert exc.value.field == field and reason in exc.value.reason
    assert "(line " in exc.value.reason  # the person editing the file is told where


def test_unknown_province_names_its_line() -> None:
    with pytest.raises(PlanValidationError) as exc:
        load_plan_file(DATA / "unknown-province.toml")
    assert exc.value.reason.endswith("(line 3)")


def test_seed_plans_mark_inferred_dates_and_carry_targets(registry: PlanRegistry) -> None:
    lai_chau, ha_nam = registry.get("lai-chau-2024"), registry.get("ha-nam-2024")
    inferred = {m.id for p in (lai_chau, ha_nam) for m in p.milestones if m.inferred}
    assert {"commune-check", "district-council", "district-forward", "ministry-filing"} <= inferred
    assert [(t.min, t.max) for t in lai_chau.targets] == [(34, None), (20, None)]
    assert (ha_nam.targets[0].min, ha_nam.targets[0].max) == (25, 30)
    # Only Hà Nam's plan sends a province score under 70 back to the district.
    assert (ha_nam.province_returns_below, lai_chau.province_returns_below) == (70, None)
