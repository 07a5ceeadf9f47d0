"""Pre-2025 administrative units (generated from ``vietnamadminunits``) and where they are today."""

from __future__ import annotations

import pytest

from ocop_core.admin_units import current_communes, current_provinces
from ocop_core.legacy_units import (
    find_old_places,
    old_communes,
    old_communes_of,
    old_province_codes_of,
    old_province_successor,
)


def test_every_old_unit_maps_to_todays_communes_and_every_commune_has_a_past() -> None:
    today = {code for code, _name, _province in current_communes()}
    successors = {code for unit in old_communes() for code in unit.new_codes}
    assert len(old_communes()) > 10_000
    assert successors == today  # nothing points nowhere, every commune of today has a past


def test_63_old_provinces_go_to_the_34_of_today() -> None:
    successor = old_province_successor()
    assert len(successor) == 63
    assert set(successor.values()) == {code for code, _name in current_provinces()}
    assert (
        successor["35"] == successor["36"] == successor["37"] == "37"
    )  # Hà Nam, Nam Định → Ninh Bình
    assert successor["12"] == "12"  # Lai Châu unchanged


def test_binh_lu_was_the_town_of_tam_duong() -> None:
    names = {unit.name for unit in old_communes_of("03390")}
    assert names == {"Thị trấn Tam Đường", "Xã Bình Lư", "Xã Sơn Bình"}
    assert old_province_codes_of("03390") == ("12",)


def test_a_former_ha_nam_commune_knows_its_old_province() -> None:
    (hit,) = find_old_places("xa nhan thinh")
    assert (hit.level, hit.old_name, hit.old_district_name) == (
        "commune",
        "Xã Nhân Thịnh",
        "Huyện Lý Nhân",
    )
    assert hit.new_province_code == "37"
    assert old_province_codes_of(hit.new_commune_codes[0]) == ("35",)


@pytest.mark.parametrize(
    "typed", ["tam duong", "Tam Duong", "tam đường", "TAM ĐƯỜNG", "tam duongg"]
)
def test_tam_duong_however_typed(typed: str) -> None:
    hits = find_old_places(typed, province="12")
    assert [(h.level, h.old_name) for h in hits] == [
        ("district", "Huyện Tam Đường"),
        ("commune", "Thị trấn Tam Đường"),
    ]
    assert hits[1].new_commune_codes == ("03390",)
    assert "03390" in hits[0].new_commune_codes  # a district offers its successor communes


def test_accents_rank_the_spelled_unit_first() -> None:
    assert find_old_places("Tam Đường")[0].old_name == "Huyện Tam Đường"
    assert find_old_places("Tam Dương")[0].old_name == "Huyện Tam Dương"


@pytest.mark.parametrize("typed", ["ha nam", "Hà Nam", "tinh ha nam", "tỉnh Hà Nam"])
def test_ha_nam_is_ninh_binh_now(typed: str) -> None:
    hit = find_old_places(typed)[0]
    assert (hit.level, hit.old_name, hit.new_province_code) == ("province", "Tỉnh Hà Nam", "37")


@pytest.mark.parametrize("typed", ["", "   ", "🙂🙂", "x", "huyện", "a" * 4000, "zzzzqqqq"])
def test_nonsense_finds_nothing(typed: str) -> None:
    assert find_old_places(typed) == []


def test_the_table_is_what_the_generator_makes() -> None:
    """Regenerating from the installed package gives the committed rows (skipped without it)."""
    pytest.importorskip("vietnamadminunits")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "gen_legacy_units.py"
    spec = importlib.util.spec_from_file_location("gen_legacy_units", path)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    rows, problems = generator.build_rows(generator._package_dir())
    assert problems == []
    assert [r["old_code"] for r in rows] == [u.code for u in old_communes()]
    assert [tuple(r["new_codes"].split()) for r in rows] == [u.new_codes for u in old_communes()]
