"""``ocop-bot commune find NAME [--province CODE]``: today's communes for a name, old or new.

The same lookup the conversation uses: a commune of today by its name, or a province, district or
commune as it was before 1/7/2025 and the commune(s) of today that cover it.
"""

from __future__ import annotations

import argparse

from bot.cli.common import print_rows
from bot.settings import Settings
from ocop_core import legacy_units
from ocop_core.admin_units import current_communes, current_provinces
from ocop_core.text import fold


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    commune = sub.add_parser("commune", help="communes, old and new").add_subparsers(
        dest="commune_cmd", required=True
    )
    find = commune.add_parser("find", help="today's communes for a name (also pre-2025 names)")
    find.add_argument("name", help='a commune, district or province name, e.g. "tam duong"')
    find.add_argument("--province", default=None, help="today's province code, e.g. 12")
    find.add_argument("--limit", type=int, default=20)
    find.set_defaults(func=run)  # a pure lookup: no database needed


def run(args: argparse.Namespace, settings: Settings) -> int:
    rows = [["code", "commune today", "province today", "old name (before 1/7/2025)"]]
    rows += _current(args.name, args.province)
    rows += _old(args.name, args.province, args.limit)
    if len(rows) == 1:
        print(f'No commune found for "{args.name}".')
        return 1
    print_rows(rows)
    return 0


def _current(name: str, province: str | None) -> list[list[str]]:
    """Communes of today whose name holds every word typed."""
    words = fold(name).split()
    provinces = dict(current_provinces())
    return [
        [code, commune, provinces.get(prov, prov), "-"]
        for code, commune, prov in current_communes()
        if (province is None or prov == province) and all(w in fold(commune).split() for w in words)
    ]


def _old(name: str, province: str | None, limit: int) -> list[list[str]]:
    names = {code: (commune, prov) for code, commune, prov in current_communes()}
    provinces = dict(current_provinces())
    rows: list[list[str]] = []
    for hit in legacy_units.find_old_places(name, province=province, limit=limit):
        old = ", ".join(
            x for x in (hit.old_name, hit.old_district_name, hit.old_province_name) if x
        )
        if hit.level == "province" or not hit.new_commune_codes:
            where = provinces.get(hit.new_province_code, hit.new_province_code)
            rows.append([hit.new_province_code, "(whole province)", where, old])
            continue
        for code in hit.new_commune_codes:
            commune, prov = names.get(code, (code, hit.new_province_code))
            rows.append([code, commune, provinces.get(prov, prov), old])
    return rows
