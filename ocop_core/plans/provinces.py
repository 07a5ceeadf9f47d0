"""Which province a person means: a code ("12"), a legacy code ("L35", "35") or a name typed with
or without accents ("Hà Nam", "ninh binh"). Pre-merger names win for the years they existed."""

from __future__ import annotations

from ocop_core.admin_units import fold
from ocop_core.admin_units_legacy import current_provinces, legacy_provinces, successor
from ocop_core.errors import NotFound
from ocop_core.i18n import N_

__all__ = ["resolve_province"]

# Provinces were merged on 01/07/2025: a plan year up to this one may name a former province.
LAST_LEGACY_YEAR = 2025


def _strip(text: str) -> str:
    folded = fold(text)
    for prefix in ("tinh ", "thanh pho ", "tp. ", "tp "):
        folded = folded.removeprefix(prefix)
    return folded.strip()


def resolve_province(query: str, year: int) -> str:
    """The plan code of the province ``query`` names for ``year``; NotFound when none does."""
    text = query.strip()
    current = current_provinces()
    legacy = {p.code: p for p in legacy_provinces()}
    by_old_number = {p.old_code: p.code for p in legacy.values()}
    if text in current or text.upper() in legacy:
        code = text.upper() if text.upper() in legacy else text
    elif text.isdigit() and text.zfill(2) in by_old_number:
        code = by_old_number[text.zfill(2)]
    elif text.isdigit() and text.zfill(2) in current:
        code = text.zfill(2)
    else:
        code = _by_name(_strip(text), year)
    # A former province after the merger: its territory is planned by its successor.
    if code in legacy and year > LAST_LEGACY_YEAR:
        return successor(code)
    return code


def _by_name(name: str, year: int) -> str:
    old = [p.code for p in legacy_provinces() if _strip(p.name) == name]
    new = [code for code, n in current_provinces().items() if _strip(n) == name]
    ordered = (old + new) if year <= LAST_LEGACY_YEAR else (new + old)
    if not ordered:
        raise NotFound(N_("error.province_unknown"), code=name[:40])
    return ordered[0]
