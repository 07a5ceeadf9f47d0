"""The product taxonomy: sectors -> groups -> criteria sets (Appendix I of 26/2026)."""

from __future__ import annotations

from functools import cache
from typing import Literal, Self

from pydantic import Field, model_validator

from ocop_core.errors import ValidationError
from ocop_core.i18n import N_

from ._data import Frozen, read_toml

Ministry = Literal["MAE", "MOIT", "MOH", "MOCST"]


class Sector(Frozen):
    code: str
    name_vi: str
    food_or_drink: bool = False
    herbal: bool = False
    tourism: bool = False

    @property
    def label_key(self) -> str:
        return f"sector.{self.code}"


class Group(Frozen):
    code: str
    sector: str
    name_vi: str

    @property
    def label_key(self) -> str:
        return f"group.{self.code}"


class CriteriaSet(Frozen):
    """One "bộ sản phẩm": the unit that has its own scoring sheet and document rules."""

    code: int = Field(ge=1)
    name_vi: str
    group: str
    sector: str
    ministries: tuple[Ministry, ...] = Field(min_length=1)
    food_or_drink: bool
    herbal: bool
    tourism: bool

    @property
    def label_key(self) -> str:
        return f"set.{self.code}"


class LegacySector(Frozen):
    """A sector name of Decision 1048/2019, printed on old certificates."""

    code: str
    name_vi: str

    @property
    def label_key(self) -> str:
        return f"sector_1048.{self.code}"


class _SetRow(Frozen):
    # A set as written in the TOML: sector and flags come from its group and sector.
    code: int = Field(ge=1)
    group: str
    name_vi: str
    ministries: tuple[Ministry, ...] = Field(min_length=1)


class _TaxonomyFile(Frozen):
    sectors: tuple[Sector, ...]
    groups: tuple[Group, ...]
    sets: tuple[_SetRow, ...]
    sectors_1048: tuple[LegacySector, ...]


def _unique(codes: list[str] | list[int], what: str) -> None:
    if len(set(codes)) != len(codes):
        raise ValueError(f"duplicate {what} codes: {codes}")


class Taxonomy(Frozen):
    sectors: tuple[Sector, ...]
    groups: tuple[Group, ...]
    sets: tuple[CriteriaSet, ...]
    legacy_sectors: tuple[LegacySector, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique([s.code for s in self.sectors], "sector")
        _unique([g.code for g in self.groups], "group")
        _unique([s.code for s in self.sets], "set")
        _unique([s.code for s in self.legacy_sectors], "1048 sector")
        sectors = {s.code: s for s in self.sectors}
        groups = {g.code: g for g in self.groups}
        for g in self.groups:
            if g.sector not in sectors or not g.code.startswith(f"{g.sector}."):
                raise ValueError(f"group {g.code} does not belong to a known sector")
        for cs in self.sets:
            group = groups.get(cs.group)
            if group is None or group.sector != cs.sector:
                raise ValueError(f"set {cs.code}: group {cs.group} is unknown or in another sector")
            sector = sectors[cs.sector]
            flags = (sector.food_or_drink, sector.herbal, sector.tourism)
            if (cs.food_or_drink, cs.herbal, cs.tourism) != flags:
                raise ValueError(f"set {cs.code}: flags differ from sector {sector.code}")
        # Set numbers are how the decision and producers name a set: 1..N with no gap.
        if sorted(s.code for s in self.sets) != list(range(1, len(self.sets) + 1)):
            raise ValueError("criteria set codes must run 1..N without gaps")
        for code in sectors:
            if not any(g.sector == code for g in self.groups):
                raise ValueError(f"sector {code} has no group")
        for code in groups:
            if not any(s.group == code for s in self.sets):
                raise ValueError(f"group {code} has no criteria set")
        return self

    def sector(self, code: str) -> Sector:
        for s in self.sectors:
            if s.code == code:
                return s
        raise ValidationError(N_("error.unknown_sector"), sector=code)

    def group(self, code: str) -> Group:
        for g in self.groups:
            if g.code == code:
                return g
        raise ValidationError(N_("error.unknown_group"), group=code)

    def criteria_set(self, code: int) -> CriteriaSet:
        if not isinstance(code, bool):  # True == 1 in Python; a flag is not a set number
            for s in self.sets:
                if s.code == code:
                    return s
        raise ValidationError(N_("error.unknown_criteria_set"), code=code)

    def groups_in_sector(self, sector_code: str) -> list[Group]:
        self.sector(sector_code)  # unknown sector is an error, not an empty picker
        return [g for g in self.groups if g.sector == sector_code]

    def sets_in_sector(self, sector_code: str) -> list[CriteriaSet]:
        self.sector(sector_code)
        return [s for s in self.sets if s.sector == sector_code]

    def sets_in_group(self, group_code: str) -> list[CriteriaSet]:
        self.group(group_code)
        return [s for s in self.sets if s.group == group_code]


@cache
def taxonomy() -> Taxonomy:
    """The taxonomy, validated once per process."""
    raw = _TaxonomyFile.model_validate(read_toml("taxonomy.toml"))
    sectors = {s.code: s for s in raw.sectors}
    group_sector = {g.code: g.sector for g in raw.groups}
    sets: list[CriteriaSet] = []
    for row in raw.sets:
        sector_code = group_sector.get(row.group, "")
        sector = sectors.get(sector_code)
        if sector is None:
            raise ValueError(f"set {row.code}: unknown group {row.group}")
        sets.append(
            CriteriaSet(
                **row.model_dump(),
                sector=sector_code,
                food_or_drink=sector.food_or_drink,
                herbal=sector.herbal,
                tourism=sector.tourism,
            )
        )
    return Taxonomy(
        sectors=raw.sectors,
        groups=raw.groups,
        sets=tuple(sorted(sets, key=lambda s: s.code)),
        legacy_sectors=raw.sectors_1048,
    )
