"""OCOP rules data: taxonomy, star bands, levels, certificate dates, dossier requirements."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from ocop_core.errors import ValidationError
from ocop_core.rules import (
    ATTEMPTS,
    ERROR_KEYS,
    Ruleset,
    all_rulesets,
    catalog_keys,
    get_ruleset,
    governing_ruleset,
    requirements_for,
    ruleset_for_date,
    taxonomy,
    transition_end,
)
from ocop_core.rules.dates import add_months

RULESET_IDS = ("qd148-2023", "qd1489-2025", "qd26-2026")
FOOD_AND_DRINK = range(1, 18)


@pytest.fixture(params=RULESET_IDS)
def ruleset(request: pytest.FixtureRequest) -> Ruleset:
    return get_ruleset(request.param)


def _codes(set_code: int, attempt: str) -> dict[str, str]:
    return {r.code: r.kind for r in requirements_for(set_code, attempt)}


# ---- taxonomy ---------------------------------------------------------------------------------


def test_taxonomy_counts() -> None:
    tax = taxonomy()
    assert (len(tax.sectors), len(tax.groups), len(tax.sets)) == (6, 17, 26)
    assert [s.code for s in tax.sectors] == ["I", "II", "III", "IV", "V", "VI"]
    assert [s.code for s in tax.sets] == list(range(1, 27))
    assert len(tax.legacy_sectors) == 6


def test_every_set_has_group_and_sector() -> None:
    tax = taxonomy()
    for cs in tax.sets:
        group = tax.group(cs.group)
        assert group.sector == cs.sector
        assert tax.sector(cs.sector).code == cs.sector
        assert cs.ministries
        assert cs.name_vi


def test_sets_per_sector_and_group() -> None:
    tax = taxonomy()
    per_sector = {s.code: [c.code for c in tax.sets_in_sector(s.code)] for s in tax.sectors}
    assert per_sector == {
        "I": list(range(1, 14)),
        "II": [14, 15, 16, 17],
        "III": [18, 19, 20],
        "IV": [21, 22],
        "V": [23, 24, 25],
        "VI": [26],
    }
    assert [g.code for g in tax.groups_in_sector("II")] == ["II.1", "II.2"]
    assert [c.code for c in tax.sets_in_group("I.3")] == [5, 6, 7, 8]


def test_set_names_ministries_and_flags() -> None:
    tax = taxonomy()
    first = tax.criteria_set(1)
    assert first.name_vi == "Rau, củ, quả, hạt tươi"
    assert first.group == "I.1" and first.ministries == ("MAE",)
    assert tax.criteria_set(6).ministries == ("MAE", "MOIT")
    assert tax.criteria_set(16).ministries == ("MOH",)
    assert tax.criteria_set(26).ministries == ("MOCST", "MAE")
    for cs in tax.sets:
        assert cs.food_or_drink is (cs.sector in ("I", "II"))
        assert cs.herbal is (cs.sector == "III")
        assert cs.tourism is (cs.code == 26)


@pytest.mark.parametrize("code", [0, 27, -1, True])
def test_unknown_criteria_set(code: int) -> None:
    with pytest.raises(ValidationError) as exc:
        taxonomy().criteria_set(code)
    assert exc.value.key == "error.unknown_criteria_set"
    assert exc.value.params == {"code": code}


def test_unknown_sector_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        taxonomy().sets_in_sector("VII")
    assert exc.value.key == "error.unknown_sector"


def test_rules_are_frozen() -> None:
    with pytest.raises(PydanticValidationError):
        taxonomy().criteria_set(1).name_vi = "x"  # type: ignore[misc]
    with pytest.raises(PydanticValidationError):
        get_ruleset("qd26-2026").max_points = 1  # type: ignore[misc]


# ---- star bands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "stars"),
    [
        (0, 1),
        (29.99, 1),
        (30, 2),
        (49.99, 2),
        (50, 3),
        (69.99, 3),
        (70, 4),
        (89.5, 4),
        (89.99, 4),
        (90, 5),
        (100, 5),
    ],
)
def test_star_bands_at_every_boundary(ruleset: Ruleset, points: float, stars: int) -> None:
    assert ruleset.stars_for(points) == stars
    assert ruleset.stars_for(float(points)) == stars
    assert ruleset.stars_for(Decimal(str(points))) == stars


def test_decimal_just_below_boundary(ruleset: Ruleset) -> None:
    # Decimal and float compare exactly, so no rounding lifts 89.999… to 5 stars.
    assert ruleset.stars_for(Decimal("89.9999999999999999999")) == 4


@pytest.mark.parametrize(
    "points",
    [-0.01, 100.01, math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("100.0001")],
)
def test_points_out_of_range_refused(ruleset: Ruleset, points: float | Decimal) -> None:
    with pytest.raises(ValidationError) as exc:
        ruleset.stars_for(points)
    assert exc.value.key == "error.points_range"
    assert exc.value.params["max_points"] == 100 and exc.value.params["min_points"] == 0


@pytest.mark.parametrize("points", ["90", None, True])
def test_points_of_wrong_type_are_a_programming_error(ruleset: Ruleset, points: object) -> None:
    with pytest.raises(TypeError):
        ruleset.stars_for(points)  # type: ignore[arg-type]


def test_only_three_stars_and_up_get_a_certificate(ruleset: Ruleset) -> None:
    assert ruleset.certificate_min_stars == 3
    assert [s for s in range(1, 6) if ruleset.grants_certificate(s)] == [3, 4, 5]


# ---- levels and forwarding --------------------------------------------------------------------


def test_qd148_levels() -> None:
    rs = get_ruleset("qd148-2023")
    assert [lv.code for lv in rs.levels] == ["commune", "district", "province", "central"]
    assert [lv.code for lv in rs.scoring_levels] == ["district", "province", "central"]
    assert rs.level("commune").scores is False
    assert rs.next_level("commune").code == "district"  # type: ignore[union-attr]
    assert rs.next_level("district").code == "province"  # type: ignore[union-attr]
    assert rs.next_level("central") is None


def test_qd26_levels() -> None:
    rs = get_ruleset("qd26-2026")
    assert [lv.code for lv in rs.levels] == ["commune", "province", "central"]
    assert [lv.code for lv in rs.scoring_levels] == ["province", "central"]
    commune = rs.level("commune")
    assert commune.scores is False and commune.check_working_days == 15
    assert rs.next_level("commune").code == "province"  # type: ignore[union-attr]
    assert rs.next_level("province").code == "central"  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as exc:
        rs.level("district")
    assert exc.value.key == "error.unknown_level"


def test_qd148_forwarding() -> None:
    rs = get_ruleset("qd148-2023")
    assert rs.forwards("district", 70) is True
    assert rs.forwards("district", 69.99) is False
    assert rs.forwards("province", 90) is True
    assert rs.forwards("province", 89.5) is False
    assert rs.forwards("central", 100) is False


def test_qd26_forwarding() -> None:
    rs = get_ruleset("qd26-2026")
    assert rs.forwards("province", 90) is True
    assert rs.forwards("province", Decimal("90.00")) is True
    assert rs.forwards("province", 89.5) is False
    assert rs.forwards("province", 89.99) is False
    assert rs.forwards("central", 95) is False


def test_forwarding_checks_points_and_level(ruleset: Ruleset) -> None:
    with pytest.raises(ValidationError) as exc:
        ruleset.forwards("province", 100.01)
    assert exc.value.key == "error.points_range"
    with pytest.raises(ValidationError) as exc:
        ruleset.forwards("commune", 95)
    assert exc.value.key == "error.level_not_scoring"


@pytest.mark.parametrize(
    ("ruleset_id", "expected"),
    [
        ("qd148-2023", {3: "district", 4: "province", 5: "central"}),
        ("qd26-2026", {3: "province", 4: "province", 5: "central"}),
    ],
)
def test_certifying_level(ruleset_id: str, expected: dict[int, str]) -> None:
    rs = get_ruleset(ruleset_id)
    assert {s: rs.certifying_level(s).code for s in (3, 4, 5)} == expected
    for stars in (1, 2):
        with pytest.raises(ValidationError) as exc:
            rs.certifying_level(stars)
        assert exc.value.key == "error.stars_not_certified"
    for stars in (0, 6):
        with pytest.raises(ValidationError) as exc:
            rs.certifying_level(stars)
        assert exc.value.key == "error.stars_range"


# ---- rulesets by id and date ------------------------------------------------------------------


def test_get_ruleset_and_all() -> None:
    assert [rs.id for rs in all_rulesets()] == list(RULESET_IDS)
    assert get_ruleset("qd148-2023").effective_until == date(2026, 7, 21)
    assert get_ruleset("qd1489-2025").effective_until == date(2026, 7, 21)
    assert get_ruleset("qd26-2026").effective_until is None
    with pytest.raises(ValidationError) as exc:
        get_ruleset("qd1048-2019")
    assert exc.value.key == "error.unknown_ruleset"
    assert exc.value.params == {"ruleset_id": "qd1048-2019"}


@pytest.mark.parametrize(
    ("day", "ruleset_id"),
    [
        (date(2019, 8, 21), "qd148-2023"),
        (date(2023, 2, 24), "qd148-2023"),
        (date(2024, 9, 2), "qd148-2023"),
        (date(2025, 7, 5), "qd148-2023"),
        (date(2025, 7, 6), "qd1489-2025"),
        (date(2025, 9, 10), "qd1489-2025"),
        (date(2026, 5, 10), "qd1489-2025"),
        (date(2026, 5, 21), "qd1489-2025"),
        (date(2026, 5, 22), "qd26-2026"),
        (date(2026, 7, 21), "qd26-2026"),
        (date(2030, 1, 1), "qd26-2026"),
    ],
)
def test_ruleset_for_date(day: date, ruleset_id: str) -> None:
    assert ruleset_for_date(day).id == ruleset_id


@pytest.mark.parametrize(
    ("filed", "on", "attempt", "ruleset_id"),
    [
        (date(2024, 9, 2), date(2024, 12, 1), "new", "qd148-2023"),
        # 1489 amended 148 in place from its first day: a 148 dossier still open follows it.
        (date(2024, 9, 2), date(2025, 9, 1), "new", "qd1489-2025"),
        (date(2026, 5, 10), date(2026, 6, 1), "new", "qd1489-2025"),
        # Art. 11 of 26/2026: 60 days for first-time dossiers, 30 for re-evaluations.
        (date(2026, 5, 10), date(2026, 7, 21), "new", "qd1489-2025"),
        (date(2026, 5, 10), date(2026, 7, 22), "new", "qd26-2026"),
        (date(2026, 5, 10), date(2026, 6, 21), "reevaluation", "qd1489-2025"),
        (date(2026, 5, 10), date(2026, 6, 22), "reevaluation", "qd26-2026"),
        (date(2026, 6, 1), date(2027, 1, 1), "new", "qd26-2026"),
    ],
)
def test_governing_ruleset_follows_the_transition(
    filed: date, on: date, attempt: str, ruleset_id: str
) -> None:
    assert governing_ruleset(filed, on, attempt).id == ruleset_id


def test_validity_dates_are_consistent() -> None:
    old, amended, new = (get_ruleset(i) for i in ("qd148-2023", "qd1489-2025", "qd26-2026"))
    assert old.filings_until is not None and amended.filings_until is not None
    assert old.filings_until + timedelta(days=1) == amended.effective_from
    assert amended.filings_until + timedelta(days=1) == new.effective_from
    assert transition_end("qd1489-2025") == date(2026, 7, 21) == amended.effective_until
    assert transition_end("qd1489-2025", "reevaluation") == date(2026, 6, 21)
    assert transition_end("qd26-2026") is None
    assert not amended.has_district and old.has_district
    assert amended.level("province").certifies == (3, 4)


# ---- certificate dates ------------------------------------------------------------------------


def test_certificate_expiry_and_window() -> None:
    # 2027-03-15 minus 180 days = 2026-09-16; minus 120 days = 2026-11-15.
    rs = get_ruleset("qd26-2026")
    expiry = rs.certificate_expiry(date(2024, 3, 15))
    assert expiry == date(2027, 3, 15)
    assert rs.reevaluation_window(expiry) == (date(2026, 9, 16), date(2026, 11, 15))
    assert rs.reevaluation_decision_days == 45
    assert get_ruleset("qd148-2023").certificate_expiry(date(2024, 3, 15)) == expiry


@pytest.mark.parametrize(
    ("issued", "expiry"),
    [
        (date(2024, 2, 29), date(2027, 2, 28)),
        (date(2025, 2, 28), date(2028, 2, 28)),
        (date(2023, 12, 31), date(2026, 12, 31)),
        (date(2024, 1, 31), date(2027, 1, 31)),
    ],
)
def test_certificate_expiry_clamps_to_month_end(
    ruleset: Ruleset, issued: date, expiry: date
) -> None:
    assert ruleset.certificate_expiry(issued) == expiry


def test_add_months_clamping() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)


def test_qd148_has_no_filing_window() -> None:
    rs = get_ruleset("qd148-2023")
    assert rs.expiry_notice_days == 30
    with pytest.raises(ValidationError) as exc:
        rs.reevaluation_window(date(2026, 3, 1))
    assert exc.value.key == "error.no_reevaluation_window"


def test_qd26_calendar() -> None:
    cal = get_ruleset("qd26-2026").calendar
    assert cal is not None
    first, second = cal.rounds
    assert first.deadlines(2026) == (
        date(2026, 4, 30),
        date(2026, 6, 30),
        date(2026, 7, 30),
        date(2026, 9, 30),
    )
    assert second.deadlines(2026) == (
        date(2026, 10, 30),
        date(2026, 12, 30),
        date(2027, 1, 30),
        date(2027, 3, 30),
    )
    assert get_ruleset("qd148-2023").calendar is None


# ---- dossier requirements ---------------------------------------------------------------------


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_forms_mandatory_for_every_set(attempt: str) -> None:
    for cs in taxonomy().sets:
        docs = _codes(cs.code, attempt)
        assert docs["mau01_registration"] == "mandatory"
        assert docs["mau02_self_assessment"] == "mandatory"
        assert docs["business_registration"] == "mandatory"


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_food_safety_certificate(attempt: str) -> None:
    for code in FOOD_AND_DRINK:
        assert _codes(code, attempt)["food_safety_certificate"] == "knockout"
    for code in range(18, 27):
        assert "food_safety_certificate" not in _codes(code, attempt)


def test_samples_except_tourism() -> None:
    for code in range(1, 26):
        assert _codes(code, "new")["samples"] == "mandatory"
    assert "samples" not in _codes(26, "new")


def test_herbal_knockouts() -> None:
    for code in (18, 19, 20):
        docs = _codes(code, "new")
        assert docs["herbal_gmp"] == "knockout"
        assert docs["quality_declaration"] == "knockout"
        assert docs["lab_test_report"] == "mandatory"
    assert _codes(1, "new")["quality_declaration"] == "evidence"
    assert "herbal_gmp" not in _codes(1, "new")


def test_lab_test_report_for_food_drink_herbal_only() -> None:
    for code in range(1, 21):
        assert _codes(code, "new")["lab_test_report"] == "mandatory"
    for code in range(21, 27):
        assert "lab_test_report" not in _codes(code, "new")


def test_production_licence_for_alcohol_only() -> None:
    assert _codes(14, "new")["production_licence"] == "knockout"
    assert _codes(15, "new")["production_licence"] == "knockout"
    assert "production_licence" not in _codes(16, "new")


def test_attempt_extras() -> None:
    new, upgrade, reeval = (_codes(5, a) for a in ("new", "upgrade", "reevaluation"))
    extras = {"upgrade_changes", "reevaluation_changes", "previous_certificate"}
    assert not extras & set(new)
    assert upgrade["upgrade_changes"] == "mandatory"
    assert "reevaluation_changes" not in upgrade
    assert reeval["reevaluation_changes"] == "mandatory"
    assert reeval["previous_certificate"] == "mandatory"
    assert "upgrade_changes" not in reeval


def test_requirements_are_ordered_and_blocking_is_consistent() -> None:
    for attempt in ATTEMPTS:
        for cs in taxonomy().sets:
            reqs = requirements_for(cs.code, attempt)
            assert [r.order for r in reqs] == sorted(r.order for r in reqs)
            for r in reqs:
                assert r.blocking is (r.kind in ("mandatory", "knockout"))
    assert requirements_for(1, "new") == requirements_for(1, "new")


def test_requirements_refuse_unknown_input() -> None:
    with pytest.raises(ValidationError) as exc:
        requirements_for(1, "renewal")
    assert exc.value.key == "error.unknown_attempt"
    with pytest.raises(ValidationError) as exc:
        requirements_for(27, "new")
    assert exc.value.key == "error.unknown_criteria_set"


# ---- catalog keys -----------------------------------------------------------------------------


def test_catalog_keys_cover_the_data() -> None:
    keys = catalog_keys()
    tax = taxonomy()
    assert {"sector.I", "group.I.1", "set.1", "set.26", "sector_1048.1"} <= keys
    assert {s.label_key for s in tax.sectors} | {g.label_key for g in tax.groups} <= keys
    assert {"level.commune", "level.district", "level.province", "level.central"} <= keys
    assert {"ruleset.qd148-2023", "ruleset.qd26-2026"} <= keys
    for attempt in ATTEMPTS:
        for cs in tax.sets:
            for r in requirements_for(cs.code, attempt):
                assert {r.label_key, r.hint_key, f"doc_kind.{r.kind}"} <= keys
    assert set(ERROR_KEYS) <= keys


def test_every_marked_key_in_the_package_is_a_catalog_key() -> None:
    package = Path(__file__).resolve().parent.parent / "ocop_core" / "rules"
    marked = {
        key
        for path in package.glob("*.py")
        for key in re.findall(r'N_\("([^"]+)"\)', path.read_text(encoding="utf-8"))
    }
    assert marked
    assert marked <= catalog_keys()


def test_three_star_minimums_are_marked_per_set() -> None:
    def minimums(set_code: int) -> set[str]:
        return {r.code for r in requirements_for(set_code, "new") if r.min_stars == 3}

    story = {"intellectual_property", "distribution_contracts", "product_story"}
    # Food: the quality declaration and the legal label are 3-star minimums too.
    assert minimums(4) == story | {"quality_declaration", "label_packaging"}
    # Herbal: the quality declaration is a knock-out there, not a star minimum.
    assert "quality_declaration" not in minimums(18) and "label_packaging" in minimums(18)
    # Tourism services have no label.
    assert minimums(26) == story
    assert all(not r.blocking for r in requirements_for(4, "new") if r.min_stars)
