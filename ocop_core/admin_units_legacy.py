"""Province codes, current and pre-2025, in one place.

Current provinces (34 since 01/07/2025) come from the maintained ``vietnam-provinces`` package
and are written as 2-digit strings ("12" = Lai Châu). Provinces that no longer exist, or whose code
changed in the 2025 merger, keep their old records readable through a legacy code: "L" + the
pre-2025 code ("L35" = Hà Nam, now part of Ninh Bình "37"). The legacy list is data:
``data/legacy_provinces.toml``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vietnam_provinces import Province

from ocop_core.errors import NotFound
from ocop_core.i18n import N_

__all__ = [
    "LEGACY_PREFIX",
    "LegacyProvince",
    "current_provinces",
    "is_current_code",
    "is_legacy_code",
    "legacy_provinces",
    "province_name",
    "successor",
]

LEGACY_PREFIX = "L"
_DATA_FILE = Path(__file__).resolve().parent / "data" / "legacy_provinces.toml"


@dataclass(frozen=True, slots=True)
class LegacyProvince:
    old_code: str  # the pre-2025 GSO code, e.g. "35"
    name: str  # the pre-2025 name, e.g. "Hà Nam"
    successor: str  # the current province code that took over its territory, e.g. "37"

    @property
    def code(self) -> str:
        """The application code of the old province, e.g. "L35"."""
        return LEGACY_PREFIX + self.old_code


@cache
def current_provinces() -> dict[str, str]:
    """Current province code (2 digits) → official name, from the ``vietnam-provinces`` package."""
    return {f"{int(p.code):02d}": p.name for p in Province.iter_all()}


@cache
def _legacy_by_code() -> dict[str, LegacyProvince]:
    with _DATA_FILE.open("rb") as fh:
        rows = tomllib.load(fh)["province"]
    result: dict[str, LegacyProvince] = {}
    for row in rows:
        item = LegacyProvince(old_code=row["code"], name=row["name"], successor=row["successor"])
        result[item.code] = item
    return result


def legacy_provinces() -> list[LegacyProvince]:
    return list(_legacy_by_code().values())


def is_current_code(code: str) -> bool:
    return code in current_provinces()


def is_legacy_code(code: str) -> bool:
    return code in _legacy_by_code()


def province_name(code: str) -> str | None:
    """The name for a current ("12") or legacy ("L35") province code; ``None`` if unknown."""
    if code in current_provinces():
        return current_provinces()[code]
    legacy = _legacy_by_code().get(code)
    return legacy.name if legacy else None


def successor(code: str) -> str:
    """The current province code for ``code``: itself when current, the successor when legacy."""
    if code in current_provinces():
        return code
    legacy = _legacy_by_code().get(code)
    if legacy is None:
        raise NotFound(N_("error.province_unknown"), code=code)
    return legacy.successor
