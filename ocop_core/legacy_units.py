"""Administrative units as they were before 1/7/2025, and where each one is today.

Producers, officers and old certificates still say "thị trấn Tam Đường, huyện Tam Đường" or "tỉnh
Hà Nam"; the 2025 reform merged communes, abolished districts and took 63 provinces to 34. The table
behind this module is generated from the maintained ``vietnamadminunits`` package by
``tools/gen_legacy_units.py`` (never typed by hand): each pre-2025 commune with its district,
province and today's commune code(s).

Pure functions over an in-memory index built once per process (~10,000 rows).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz, process

from ocop_core.admin_units import fold

__all__ = [
    "OldCommune",
    "OldPlaceMatch",
    "find_old_places",
    "old_communes",
    "old_communes_of",
    "old_province_codes_of",
    "old_province_successor",
]

_DATA_FILE = Path(__file__).resolve().parent / "data" / "legacy_units.csv.gz"

# Unit-type words people put before a name ("huyện Tam Đường", "tp Lai Châu"); removed before
# matching so "tam duong" and "huyen tam duong" find the same units.
_TYPE_WORDS = re.compile(
    r"^(?:(?:tinh|thanh pho|tp\.?|huyen|quan|thi xa|tx\.?|thi tran|tt\.?|xa|phuong|p\.?)\s+)+"
)
_LEVEL_ORDER = {"province": 0, "district": 1, "commune": 2}
_FUZZY_CUTOFF = 85.0


@dataclass(frozen=True, slots=True)
class OldCommune:
    """A commune, ward or town as it was before 1/7/2025."""

    code: str  # pre-2025 commune code, 5 digits ("" for the island districts that had none)
    name: str  # "Thị trấn Tam Đường"
    district_code: str  # pre-2025 district code, 3 digits
    district_name: str  # "Huyện Tam Đường"
    province_code: str  # pre-2025 province code, 2 digits ("35" = Hà Nam)
    province_name: str  # "Tỉnh Hà Nam"
    new_codes: tuple[str, ...]  # today's commune code(s) its territory went to


@dataclass(frozen=True, slots=True)
class OldPlaceMatch:
    """One hit of an old-name search."""

    level: str  # "province" | "district" | "commune"
    old_name: str  # the old unit's full name
    old_province_name: str
    old_district_name: str | None
    new_province_code: str  # today's province (2 digits)
    new_commune_codes: tuple[str, ...]  # today's communes covering it (empty for a province)
    score: float


def _short(name: str) -> str:
    """Folded name without its unit type: "Thị trấn Tam Đường" → "tam duong"."""
    return _TYPE_WORDS.sub("", fold(name)).strip()


@cache
def old_communes() -> tuple[OldCommune, ...]:
    """Every pre-2025 commune, from the generated table."""
    text = gzip.decompress(_DATA_FILE.read_bytes()).decode("utf-8")
    return tuple(
        OldCommune(
            code=row["old_code"],
            name=row["old_name"],
            district_code=row["district_code"],
            district_name=row["district_name"],
            province_code=row["province_code"],
            province_name=row["province_name"],
            new_codes=tuple(row["new_codes"].split()),
        )
        for row in csv.DictReader(io.StringIO(text))
    )


@cache
def _by_new_code() -> dict[str, tuple[OldCommune, ...]]:
    index: dict[str, list[OldCommune]] = defaultdict(list)
    for unit in old_communes():
        for code in unit.new_codes:
            index[code].append(unit)
    return {code: tuple(units) for code, units in index.items()}


def old_communes_of(commune_code: str) -> tuple[OldCommune, ...]:
    """The pre-2025 communes whose territory (all or part) forms today's commune."""
    return _by_new_code().get(commune_code, ())


def old_province_codes_of(commune_code: str) -> tuple[str, ...]:
    """Pre-2025 province code(s) of today's commune, e.g. ("35",) for a former Hà Nam commune."""
    return tuple(sorted({unit.province_code for unit in old_communes_of(commune_code)}))


@cache
def _commune_province() -> dict[str, str]:
    from ocop_core.admin_units import current_communes  # loaded on first use

    return {code: province for code, _name, province in current_communes()}


@cache
def old_province_successor() -> dict[str, str]:
    """Pre-2025 province code → today's province code (the one that holds its territory)."""
    result: dict[str, str] = {}
    for unit in old_communes():
        if unit.province_code not in result and unit.new_codes:
            result[unit.province_code] = _commune_province()[unit.new_codes[0]]
    return result


@dataclass(frozen=True, slots=True)
class _Entry:
    level: str
    key: str  # folded short name
    accented: str  # the same words, lower case, accents kept
    match: OldPlaceMatch


def _accented(name: str, key: str) -> str:
    """The last words of the lower-case name, as many as its folded short name has."""
    words = unicodedata.normalize("NFC", name).lower().split()
    return " ".join(words[len(words) - len(key.split()) :])


def _entry(level: str, name: str, match: OldPlaceMatch) -> _Entry:
    key = _short(name)
    return _Entry(level, key, _accented(name, key), match)


def _union(units: list[OldCommune]) -> tuple[str, ...]:
    return tuple(sorted({code for unit in units for code in unit.new_codes}))


@cache
def _entries() -> tuple[_Entry, ...]:
    provinces: dict[str, list[OldCommune]] = defaultdict(list)
    districts: dict[tuple[str, str], list[OldCommune]] = defaultdict(list)
    for unit in old_communes():
        provinces[unit.province_code].append(unit)
        districts[(unit.province_code, unit.district_code)].append(unit)
    successor = old_province_successor()
    entries: list[_Entry] = []
    for code, units in provinces.items():
        name = units[0].province_name
        match = OldPlaceMatch("province", name, name, None, successor[code], (), 0.0)
        entries.append(_entry("province", name, match))
    for (code, _district), units in districts.items():
        first = units[0]
        match = OldPlaceMatch(
            "district", first.district_name, first.province_name, None, successor[code],
            _union(units), 0.0,
        )  # fmt: skip
        entries.append(_entry("district", first.district_name, match))
    for unit in old_communes():
        if not unit.name:
            continue
        match = OldPlaceMatch(
            "commune", unit.name, unit.province_name, unit.district_name,
            successor[unit.province_code], unit.new_codes, 0.0,
        )  # fmt: skip
        entries.append(_entry("commune", unit.name, match))
    return tuple(entries)


def _scored(entry: _Entry, score: float) -> OldPlaceMatch:
    m = entry.match
    return OldPlaceMatch(
        m.level, m.old_name, m.old_province_name, m.old_district_name, m.new_province_code,
        m.new_commune_codes, score,
    )  # fmt: skip


def find_old_places(
    query: str, *, province: str | None = None, limit: int = 20
) -> list[OldPlaceMatch]:
    """Old units whose name matches ``query`` (accents, case and unit words optional; small typos
    tolerated), provinces first, then districts, then communes. ``province`` keeps only units
    that are in today's province with that code."""
    key = _short(query)
    if not key:
        return []
    entries = [e for e in _entries() if province is None or e.match.new_province_code == province]
    exact = [e for e in entries if e.key == key]
    if exact:
        # Typed with accents: the unit spelled exactly so ranks above its accent-free namesakes
        # ("Tam Đường" in Lai Châu before "Tam Dương" in Vĩnh Phúc).
        typed = _accented(query, key)
        hits = [_scored(e, 100.0 if e.accented == typed else 99.0) for e in exact]
    else:
        found = process.extract(
            key, [e.key for e in entries], scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF,
            limit=limit,
        )  # fmt: skip
        hits = [_scored(entries[index], score) for _name, score, index in found]
    hits.sort(key=lambda h: (_LEVEL_ORDER[h.level], -h.score, h.old_name))
    return hits[:limit]
