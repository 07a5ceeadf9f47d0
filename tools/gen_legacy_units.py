#!/usr/bin/env python3
"""Generate ``ocop_core/data/legacy_units.csv.gz`` from the ``vietnamadminunits`` package (MIT).

The table lists every commune, ward and town as it was before 1/7/2025 (10,000-odd units of the
63 old provinces) with today's commune code(s) its territory went to. The runtime reads only the
generated file, so the project does not depend on the package (and its geo dependencies) at run
time; regenerate after upgrading the package:

    .venv/bin/pip install 'vietnamadminunits>=1.0.4,<2'
    .venv/bin/python tools/gen_legacy_units.py

Mapping source: the package's own 2025 converter tables (``converter_2025.json``): old units that
went whole into one new commune, and old units divided between several new ones. Old codes come from
its dataset. Today's communes are written with the codes of the ``vietnam-provinces`` package, the
project's source for current units: the two packages disagree on about 130 current codes, so each of
today's communes is matched by province and name, not by code.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ocop_core" / "data" / "legacy_units.csv.gz"
COLUMNS = (
    "old_code",
    "old_name",
    "district_code",
    "district_name",
    "province_code",
    "province_name",
    "new_codes",
)


def _key(text: str) -> str:
    """The package's key form: accent-free, lower case, no spaces ("Xã Bình Lư" → "xabinhlu")."""
    text = text.replace("Đ", "D").replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return "".join(text.lower().split())


def _package_dir() -> Path:
    try:
        import vietnamadminunits  # optional: generator only
    except ImportError:
        sys.exit("install it first: pip install 'vietnamadminunits>=1.0.4,<2'")
    return Path(vietnamadminunits.__file__).resolve().parent


def _exact(name: str) -> str:
    name = unicodedata.normalize("NFC", name.replace("’", "'").replace("–", "-"))
    return "".join(name.lower().split())


class _CurrentCodes:
    """Today's commune codes from ``vietnam-provinces``, looked up by province and name: the exact
    name first ("Cẩm Giang" and "Cẩm Giàng" are two communes of one province), then the name
    without accents when only one commune of the province has it (the packages place tone marks
    differently: "Thuỷ"/"Thủy", "Hoà"/"Hòa")."""

    def __init__(self) -> None:
        from vietnam_provinces import Ward  # a runtime dependency

        self.exact: dict[tuple[str, str], str] = {}
        self.folded: dict[tuple[str, str], list[str]] = defaultdict(list)
        for ward in Ward.iter_all():
            province, code = f"{int(ward.province_code):02d}", f"{int(ward.code):05d}"
            self.exact[(province, _exact(ward.name))] = code
            self.folded[(province, _key(ward.name.replace("’", "'")))].append(code)

    def get(self, province: str, name: str) -> str | None:
        province = f"{int(province):02d}"
        code = self.exact.get((province, _exact(name)))
        if code is None:
            candidates = self.folded.get((province, _key(name)), [])
            code = candidates[0] if len(candidates) == 1 else None
        return code


def _load(pkg: Path) -> tuple[dict, dict, dict]:
    db = sqlite3.connect(pkg / "data" / "dataset.db")
    db.row_factory = sqlite3.Row
    current = _CurrentCodes()
    new_units = {
        (r["provinceKey"], r["wardKey"]): current.get(r["provinceCode"], r["ward"])
        for r in db.execute("SELECT provinceKey, wardKey, ward, provinceCode FROM admin_units")
    }
    old_units = {
        f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}": dict(r)
        for r in db.execute(
            "SELECT province, district, ward, provinceCode, districtCode, wardCode,"
            " provinceKey, districtKey, wardKey FROM admin_units_legacy"
        )
    }
    converter = json.loads((pkg / "data" / "converter_2025.json").read_text("utf-8"))
    return new_units, old_units, converter


def _successors(new_units: dict, converter: dict) -> tuple[dict[str, set[str]], list[str]]:
    """Old unit key → today's commune codes, and the keys the package names but cannot resolve."""
    result: dict[str, set[str]] = defaultdict(set)
    missing: list[str] = []

    def add(new_province: str, new_ward: str, old_key: str) -> None:
        code = new_units.get((new_province, new_ward)) or new_units.get(
            (new_province, _key(new_ward))
        )
        if code is None:
            missing.append(f"{new_province}/{new_ward}")
            return
        result[old_key].add(code)

    for new_province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward, old_keys in wards.items():
            for old_key in old_keys:
                add(new_province, new_ward, old_key)
    for new_province, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, targets in olds.items():
            for target in targets:
                add(new_province, target["newWardKey"], old_key)
    return result, missing


def build_rows(pkg: Path) -> tuple[list[dict[str, str]], list[str]]:
    new_units, old_units, converter = _load(pkg)
    successors, problems = _successors(new_units, converter)
    rows: list[dict[str, str]] = []
    for key, old in sorted(old_units.items(), key=lambda kv: (kv[1]["wardCode"] or "", kv[0])):
        codes = successors.get(key)
        if not codes:
            problems.append(f"no successor: {key}")
            continue
        rows.append(
            {
                "old_code": old["wardCode"] or "",
                "old_name": old["ward"] or "",
                "district_code": old["districtCode"],
                "district_name": old["district"],
                "province_code": old["provinceCode"],
                "province_name": old["province"],
                "new_codes": " ".join(sorted(codes)),
            }
        )
    return rows, problems


def main() -> int:
    rows, problems = build_rows(_package_dir())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    # mtime=0: the same input gives the same bytes, so regenerating leaves git clean.
    OUT.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8"), mtime=0))
    print(f"{len(rows)} old units written to {OUT.relative_to(Path.cwd())}")
    for problem in problems:
        print("skipped:", problem)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
