"""Old place names (before 1/7/2025) in the conversation and at the operator's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from ocop_core.db import transaction
from ocop_core.models import Dossier
from tests.test_cli import ocop_here
from tests.test_flows import onboard, person
from tests.test_flows import world as world
from tests.transcript import Person

World = dict[str, object]


async def _at_place(w: World) -> Person:
    p = person(w)
    await onboard(p)
    await p.tap("Đăng ký sản phẩm")
    await p.tap("Hợp tác xã")
    await p.say("HTX Ngô Tam Đường")
    assert "Xã/phường nơi sản xuất" in p.text
    return p


async def _finish(p: Person) -> str:
    await p.say("Rượu ngô")
    await p.tap("Đúng")
    await p.tap("Lần đầu")
    await p.tap("Xác nhận")
    assert "Mã hồ sơ của bạn" in p.text
    return p.text


@pytest.mark.parametrize("typed", ["tam duong", "Tam Duong", "tam đường"])
async def test_tam_duong_is_binh_lu_now(world: World, typed: str) -> None:
    p = await _at_place(world)
    await p.say("lai chau")
    await p.say(typed)
    assert "Thị trấn Tam Đường nay thuộc xã Bình Lư" in p.text
    assert "Tên sản phẩm" in p.text  # one answer: the commune is known
    await _finish(p)
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        assert (await s.exec(select(Dossier))).one().commune_code == "03390"


@pytest.mark.parametrize("typed", ["ha nam", "Hà Nam"])
async def test_ha_nam_is_ninh_binh_now(world: World, typed: str) -> None:
    p = await _at_place(world)
    await p.say(typed)
    assert "Hà Nam nay thuộc tỉnh Ninh Bình" in p.text
    assert "Xã/phường nào của Ninh Bình" in p.text
    await p.say("nhan thinh")  # an old commune of Hà Nam
    assert "Xã Nhân Thịnh nay thuộc xã Nhân Hà" in p.text
    await _finish(p)
    async with transaction(world["sessions"]) as s:  # type: ignore[arg-type]
        d = (await s.exec(select(Dossier))).one()
    assert (d.commune_code, d.province_code) == ("13609", "37")


async def test_a_former_district_offers_its_communes(world: World) -> None:
    p = await _at_place(world)
    await p.say("lai chau")
    await p.say("huyện Tam Đường")
    assert "Huyện Tam Đường" in p.text and "cũ nay gồm" in p.text
    assert {"Xã Bình Lư", "Xã Sin Suối Hồ", "Xã Bản Bo", "Phường Tân Phong"} <= set(p.choices)
    await p.tap("Xã Bản Bo")
    assert "Tên sản phẩm" in p.text


async def test_the_whole_country_when_no_province_was_given(world: World) -> None:
    p = await _at_place(world)
    await p.say("tam duong")  # Tam Dương of Phú Thọ today, or the old Tam Đường of Lai Châu
    assert any("Xã Tam Dương · Phú Thọ" in c for c in p.choices)
    assert any("Xã Bình Lư · Lai Châu" in c for c in p.choices)
    await p.tap("Xã Bình Lư")
    assert "Tên sản phẩm" in p.text


def test_operator_finds_communes_by_old_names(tmp_path: Path) -> None:
    done = ocop_here(tmp_path / "var", "commune", "find", "tam duong", "--province", "12")
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    rows = [line for line in done.stdout.splitlines() if line.startswith("03390")]
    assert any("Xã Bình Lư" in r and "Thị trấn Tam Đường" in r for r in rows)
