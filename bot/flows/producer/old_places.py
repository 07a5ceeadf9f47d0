"""Place names of before 1/7/2025, which people will say for years: a former province ("Hà
Nam"), district ("huyện Tam Đường") or commune ("thị trấn Tam Đường", "nhan thinh"), resolved
to today's commune(s) with one line of explanation. The data comes from the maintained
``vietnamadminunits`` package through ``ocop_core.legacy_units``; nothing here is a hand list.
"""

from __future__ import annotations

from bot.flows.engine import FlowContext
from ocop_core import legacy_units
from ocop_core.admin_units import current_provinces
from ocop_core.i18n import N_
from ocop_core.legacy_units import OldPlaceMatch
from ocop_core.models import Commune
from ocop_core.text import fold

CLOSE = 90.0  # a typo away from an old name (when no old name is exactly what was typed)
_UNIT_WORDS = {
    "province": ("tinh", "thanh pho", "tp"),
    "district": ("huyen", "quan", "thi xa", "thanh pho", "tp"),
    "commune": ("xa", "phuong", "thi tran"),
}
Candidate = tuple[str, str, str]  # (today's commune code, label, explanation)


def _plain(name: str, level: str) -> str:
    """An old unit's name without its unit word: "Thị trấn Tam Đường" → "tam duong"."""
    folded = fold(name)
    for word in sorted(_UNIT_WORDS[level], key=len, reverse=True):
        if folded.startswith(word + " "):
            return folded.removeprefix(word + " ")
    return folded


def _named(hits: list[OldPlaceMatch], level: str, typed: str) -> list[OldPlaceMatch]:
    """Hits of ``level`` that are what was typed (unit word or not), else those a typo away."""
    mine = [h for h in hits if h.level == level]
    exact = [h for h in mine if typed in {fold(h.old_name), _plain(h.old_name, level)}]
    return exact or [h for h in mine if h.score >= CLOSE]


def _lower_unit(name: str) -> str:
    """ "Xã Bình Lư" → "xã Bình Lư", as it reads inside a sentence."""
    return name[:1].lower() + name[1:]


def old_province(fc: FlowContext, text: str) -> tuple[str, str] | None:
    """Today's province for a former province's name, with the line that says so."""
    typed = fold(text)
    named = _named(legacy_units.find_old_places(text, limit=10), "province", typed)
    if len({h.new_province_code for h in named}) != 1:
        return None
    hit = named[0]
    new = dict(current_provinces()).get(hit.new_province_code, hit.new_province_code)
    old = hit.old_name.removeprefix("Tỉnh ").removeprefix("Thành phố ")
    return hit.new_province_code, fc.t(N_("place.why_province"), old=old, new=new)


async def candidates(
    fc: FlowContext, province: str | None, query: str, *, with_districts: bool
) -> list[Candidate]:
    """Today's communes for an old commune name; for an old district name (when nothing else
    fits, or "huyện …" was typed) the communes that took its territory."""
    typed = fold(query)
    hits = legacy_units.find_old_places(query, province=province, limit=20)
    wants_district = any(typed.startswith(w + " ") for w in _UNIT_WORDS["district"])
    out: list[Candidate] = []
    if not wants_district:
        for hit in _named(hits, "commune", typed):
            out += await _successors(fc, hit, province, fc.t(N_("place.why_commune")))
    if (not out and with_districts) or wants_district:
        for hit in _named(hits, "district", typed):
            out += await _successors(fc, hit, province, fc.t(N_("place.why_district")))
    return out


async def _successors(
    fc: FlowContext, hit: OldPlaceMatch, province: str | None, how: str
) -> list[Candidate]:
    names = dict(current_provinces())
    out: list[Candidate] = []
    communes = [await fc.s.get(Commune, code) for code in hit.new_commune_codes]
    found = [c for c in communes if c is not None]
    today = ", ".join(_lower_unit(c.name) for c in found)
    why = how.format(old=hit.old_name, new=today, district=hit.old_district_name or "")
    for commune in found:
        label = commune.name
        if province is None:
            label = f"{commune.name} · {names.get(commune.province_code, '')}"
        out.append((commune.code, label, why))
    return out
