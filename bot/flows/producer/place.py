"""Where the producer works: one question, answered with a commune name, a province name, or
both ("binh lu", "binh lu lai chau", "Lai Châu"). The province is guessed from the commune; a
list is offered only when the name is shared, and never longer than a phone screen.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz

from bot.flows.engine import Answer, FlowContext, Reask
from bot.flows.producer import old_places as old
from bot.flows.types import Choice, Reply
from ocop_core.admin_units import current_provinces, search_communes
from ocop_core.i18n import N_
from ocop_core.models import Commune
from ocop_core.text import fold

MAX_LIST = 8  # options on one screen
PROVINCE_SCORE = 90
_PREFIXES = ("tinh ", "thanh pho ", "tp ")


def _reg(fc: FlowContext) -> dict[str, Any]:
    return fc.data.setdefault("reg", {})


def province_in(text: str) -> tuple[str | None, str]:
    """A current province named in ``text`` (at its end or as the whole text) and the rest."""
    folded = fold(text)
    for code, name in current_provinces():
        plain = fold(name)
        for prefix in _PREFIXES:
            plain = plain.removeprefix(prefix)
        if folded == plain or fuzz.ratio(folded, plain) >= PROVINCE_SCORE:
            return code, ""
        if folded.endswith(" " + plain):
            return code, folded.removesuffix(" " + plain).strip()
    return None, folded


async def ask_place(fc: FlowContext) -> Reply:
    return Reply(fc.t(N_("place.ask")))


async def got_place(fc: FlowContext, answer: Answer) -> str:
    """A commune anywhere in the country, or a province first and then its commune."""
    text = answer.require_text(80)
    province, rest = province_in(text)
    if province is None and (moved := old.old_province(fc, text)) is not None:
        (province, why), rest = moved, ""  # "Hà Nam" → Ninh Bình since 2025
        fc.say(N_("place.old_now"), explanation=why)
    if province is not None and not rest:
        _reg(fc)["province"] = province
        return "commune_search"
    return await _search(fc, province, rest or text)


async def ask_commune_search(fc: FlowContext) -> Reply:
    name = dict(current_provinces()).get(_reg(fc).get("province", ""), "")
    return Reply(fc.t(N_("place.ask_commune"), province=name))


async def got_commune_search(fc: FlowContext, answer: Answer) -> str:
    return await _search(fc, _reg(fc).get("province"), answer.require_text(80))


async def _search(fc: FlowContext, province: str | None, query: str) -> str:
    found = await search_communes(fc.s, province, query, limit=MAX_LIST * 8)
    whole = [c for c in found if f" {_base(query)} " in f" {c.name_ascii} "]
    current = whole or found  # "binh lu" is Bình Lư, not Bình Lục
    names = dict(current_provinces())
    hits = [[c.code, _label(c, province, names), ""] for c in current]
    known = {c.code for c in current}
    for code, label, why in await old.candidates(fc, province, query, with_districts=not hits):
        if code not in known:
            known.add(code)
            hits.append([code, label, why])
    if not hits:
        raise Reask(N_("reg.reask.commune_not_found"), query=query)
    if len(hits) > MAX_LIST:  # "xa tan" matches dozens: narrow it, do not list them
        raise Reask(N_("place.too_many"), query=query, count=len(hits))
    if len(hits) == 1:
        if hits[0][2]:
            fc.say(N_("place.old_now"), explanation=hits[0][2])
        commune = await fc.s.get(Commune, hits[0][0])
        if commune is not None:
            return _chosen(fc, commune)
    for why in dict.fromkeys(h[2] for h in hits if h[2]):
        fc.say(N_("place.old_now"), explanation=why)
    fc.data["commune_hits"] = [[code, label] for code, label, _why in hits]
    return "commune_pick"


def _base(query: str) -> str:
    """The name without a unit word ("xa binh lu" → "binh lu")."""
    words = fold(query).split()
    while words and words[0] in {"xa", "phuong", "thi", "tran", "dac", "khu"}:
        words = words[1:]
    return " ".join(words)


def _label(c: Commune, province: str | None, names: dict[str, str]) -> str:
    return c.name if province else f"{c.name} · {names.get(c.province_code, '')}"


def _chosen(fc: FlowContext, commune: Commune) -> str:
    names = dict(current_provinces())
    _reg(fc).update(
        commune=commune.code,
        province=commune.province_code,
        commune_name=f"{commune.name}, {names.get(commune.province_code, '')}",
    )
    fc.data.pop("commune_hits", None)
    return "summary" if fc.data.get("_editing") else "product_name"


async def ask_commune_pick(fc: FlowContext) -> Reply:
    hits = fc.data.get("commune_hits") or []
    return Reply(
        fc.t(N_("reg.ask.commune_pick")),
        tuple(Choice(f"com:{code}", name) for code, name in hits),
        columns=2,
    )


async def got_commune_pick(fc: FlowContext, answer: Answer) -> str:
    if answer.choice is None:  # typed another name: search again
        return await _search(fc, _reg(fc).get("province"), answer.require_text(80))
    code = answer.choice.removeprefix("com:")
    if code not in {c for c, _n in fc.data.get("commune_hits") or []}:
        raise Reask(N_("flow.reask.pick_one"))
    commune = await fc.s.get(Commune, code)
    if commune is None:
        raise Reask(N_("flow.reask.pick_one"))
    return _chosen(fc, commune)
