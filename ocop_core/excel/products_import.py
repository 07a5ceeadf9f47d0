"""Loading the province's certified products of earlier years from its "danh sách sản phẩm OCOP".

Each row becomes a certified dossier with its certificate, so expiry and re-evaluation reminders
fire for it. The file is checked before openpyxl touches it (a zip with a workbook in it, of
bounded unpacked size: no zip bombs) and read in read-only streaming mode with a row cap. Every
row is validated first; one bad row refuses the whole file, with the row numbers, and nothing is
stored. Old addresses ("xã Nhân Thịnh, huyện Lý Nhân, tỉnh Hà Nam") go to today's commune through
the pre-2025 units lookup.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core import receipts
from ocop_core.admin_units import fold
from ocop_core.authz import Actor
from ocop_core.clock import local_today
from ocop_core.errors import DomainError, Forbidden
from ocop_core.i18n import N_
from ocop_core.lifecycle import Stage
from ocop_core.models import (
    Account,
    Commune,
    Dossier,
    DossierEvent,
    Producer,
    ProducerKind,
    Province,
    Role,
)
from ocop_core.phones import normalise_vn_mobile
from ocop_core.rules import ruleset_for_date, taxonomy
from ocop_core.services.context import CoreContext

MAX_FILE_BYTES = 10 << 20
MAX_UNPACKED_BYTES = 200 << 20
MAX_RATIO = 200  # unpacked / packed for any one member: more is a bomb, not a spreadsheet
MAX_MEMBERS = 5_000
MAX_ROWS = 20_000
MAX_ERRORS = 200  # reported; the count says how many more

# Folded header → field. The export writes the first spelling of each.
HEADERS: dict[str, str] = {
    "stt": "stt",
    "ten san pham": "product",
    "san pham": "product",
    "chu the": "producer",
    "chu the ocop": "producer",
    "dia chi (xa)": "address",
    "dia chi": "address",
    "xa": "address",
    "tinh": "province",
    "nhom/bo tieu chi": "criteria",
    "bo tieu chi": "criteria",
    "nhom san pham": "criteria",
    "diem": "points",
    "so sao": "stars",
    "hang sao": "stars",
    "so quyet dinh": "number",
    "so giay chung nhan": "number",
    "ngay quyet dinh": "issued",
    "ngay cap": "issued",
    "ngay het han": "expiry",
    "ma xa": "commune_code",
    "dien thoai": "phone",
    "so dien thoai": "phone",
}
REQUIRED = ("product", "producer", "address", "criteria", "stars", "number", "issued")
_PREFIXES = ("thi tran ", "phuong ", "xa ", "dac khu ", "tt ", "p ", "x ")


class SheetRefused(DomainError):
    """The file as a whole cannot be read (not a spreadsheet, too big, a bomb, no header)."""


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet's own row number (header = 1)
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProductRow:
    row: int
    product: str
    producer: str
    commune_code: str
    province_code: str
    criteria_set: int
    points: float | None
    stars: int
    number: str
    issued: date
    expiry: date
    address: str
    phone: str | None = None


@dataclass
class ImportReport:
    rows: list[ProductRow]
    errors: list[RowError]
    total_errors: int = 0
    created: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


# -- the file ----------------------------------------------------------------------------------


def check_package(data: bytes) -> None:
    """Refuse what is not a modest .xlsx before any XML is parsed."""
    if len(data) > MAX_FILE_BYTES:
        raise SheetRefused(N_("desk.import.too_big"), mb=MAX_FILE_BYTES >> 20)
    if not data.startswith(b"PK\x03\x04"):
        raise SheetRefused(N_("desk.import.not_xlsx"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
            names = {m.filename for m in members}
    except (zipfile.BadZipFile, ValueError, OSError):
        raise SheetRefused(N_("desk.import.not_xlsx")) from None
    if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
        raise SheetRefused(N_("desk.import.not_xlsx"))
    if len(members) > MAX_MEMBERS:
        raise SheetRefused(N_("desk.import.bomb"))
    total = 0
    for m in members:
        total += m.file_size
        if m.file_size > 1 << 20 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise SheetRefused(N_("desk.import.bomb"))
    if total > MAX_UNPACKED_BYTES:
        raise SheetRefused(N_("desk.import.bomb"))


def read_rows(data: bytes) -> tuple[dict[str, int], list[tuple[int, tuple[Any, ...]]]]:
    """The header map (field → column index) and the non-empty data rows with their numbers."""
    from openpyxl import load_workbook

    check_package(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken file
        raise SheetRefused(N_("desk.import.not_xlsx")) from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None) or ()
        columns: dict[str, int] = {}
        for i, cell in enumerate(header):
            name = HEADERS.get(" ".join(fold(str(cell or "")).split()))
            if name and name not in columns:
                columns[name] = i
        missing = [f for f in REQUIRED if f not in columns]
        if missing:
            raise SheetRefused(
                N_("desk.import.missing_columns"),
                columns=[f"desk.import.col.{m}" for m in missing],
            )
        out = []
        for number, values in enumerate(rows, start=2):
            if not any(v not in (None, "") for v in values):
                continue
            if len(out) >= MAX_ROWS:
                raise SheetRefused(N_("desk.import.too_many_rows"), limit=f"{MAX_ROWS:,}")
            out.append((number, values))
        return columns, out
    finally:
        wb.close()


# -- one row -----------------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def _text(values: tuple[Any, ...], columns: dict[str, int], name: str, limit: int) -> str:
    i = columns.get(name)
    raw = values[i] if i is not None and i < len(values) else None
    value = " ".join(str(raw).split()) if raw is not None else ""
    if value.endswith(".0") and isinstance(raw, float):
        value = value[:-2]
    if len(value) > limit:
        raise _Bad(N_("desk.import.too_long"), column=f"desk.import.col.{name}", limit=limit)
    return value


def _date(value: Any, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise _Bad(N_("desk.import.bad_date"), column=f"desk.import.col.{name}", value=text[:20])


def _criteria(text: str) -> int:
    m = re.match(r"\s*(?:bo\s*)?(\d{1,2})\b", fold(text))
    codes = {cs.code for cs in taxonomy().sets}
    if m and int(m.group(1)) in codes:
        return int(m.group(1))
    wanted = fold(text)
    for cs in taxonomy().sets:
        if wanted and fold(cs.name_vi) == wanted:
            return cs.code
    raise _Bad(N_("desk.import.unknown_set"), value=text[:40])


def _stars_points(values: tuple[Any, ...], columns: dict[str, int]) -> tuple[int, float | None]:
    stars_raw = _text(values, columns, "stars", 10).replace("★", "").replace("*", "").strip()
    try:
        stars = int(float(stars_raw.replace(",", ".")))
    except ValueError:
        raise _Bad(N_("desk.import.bad_stars"), value=stars_raw[:10]) from None
    if stars not in (3, 4, 5):
        raise _Bad(N_("desk.import.bad_stars"), value=stars_raw[:10])
    points_raw = _text(values, columns, "points", 10).replace(",", ".")
    if not points_raw:
        return stars, None
    try:
        points = float(points_raw)
    except ValueError:
        raise _Bad(N_("desk.import.bad_points"), value=points_raw) from None
    if not 0 <= points <= 100:
        raise _Bad(N_("desk.import.bad_points"), value=points_raw)
    return stars, points


def _cell(values: tuple[Any, ...], columns: dict[str, int], name: str) -> Any:
    i = columns.get(name)
    return values[i] if i is not None and i < len(values) else None


# -- places ------------------------------------------------------------------------------------


@dataclass
class Places:
    """Today's communes by folded name within a province, and provinces by folded name."""

    communes: dict[str, Commune]
    by_name: dict[tuple[str, str], list[str]]
    provinces: dict[str, str]

    @classmethod
    async def load(cls, s: AsyncSession) -> Places:
        rows = (await s.exec(select(Commune).where(col(Commune.legacy).is_(False)))).all()
        by_name: dict[tuple[str, str], list[str]] = {}
        for c in rows:
            by_name.setdefault((c.province_code, _bare(c.name)), []).append(c.code)
        provinces = {
            _bare_province(p.name): p.code
            for p in (await s.exec(select(Province).where(col(Province.legacy).is_(False)))).all()
        }
        return cls({c.code: c for c in rows}, by_name, provinces)

    def resolve(self, address: str, province: str, code: str) -> Commune:
        """Today's commune: by code, by today's name in today's province, else by old name."""
        if code:
            found = self.communes.get(code.zfill(5))
            if found is None:
                raise _Bad(N_("desk.import.unknown_commune_code"), code=code[:12])
            return found
        first = address.split(",")[0]
        province_code = self.provinces.get(_bare_province(province)) if province else None
        if province_code is None:
            for part in reversed(address.split(",")[1:]):
                province_code = self.provinces.get(_bare_province(part))
                if province_code:
                    break
        if province_code:
            codes = self.by_name.get((province_code, _bare(first)), [])
            if len(codes) == 1:
                return self.communes[codes[0]]
        return self._old(address, province)

    def _old(self, address: str, province: str) -> Commune:
        """A pre-2025 address: the commune's old name, narrowed by the old district and
        province written after it ("xã Nhân Thịnh, huyện Lý Nhân, tỉnh Hà Nam")."""
        from ocop_core.legacy_units import find_old_places

        first, *rest = [p.strip() for p in address.split(",") if p.strip()]
        context = {_bare_unit(p) for p in [*rest, province] if p}
        hits = [m for m in find_old_places(first, limit=50) if m.level == "commune"]
        if context:
            hits = [
                m
                for m in hits
                if {_bare_unit(m.old_province_name), _bare_unit(m.old_district_name or "")}
                & context
            ]
        targets = {code for m in hits for code in m.new_commune_codes}
        if len(hits) > 1 and len(targets) > 1:
            raise _Bad(N_("desk.import.ambiguous_place"), place=address[:80])
        if len(targets) != 1:
            key = N_("desk.import.split_place") if targets else N_("desk.import.unknown_place")
            raise _Bad(key, place=address[:80])
        found = self.communes.get(next(iter(targets)))
        if found is None:
            raise _Bad(N_("desk.import.unknown_place"), place=address[:80])
        return found


def _bare_unit(name: str) -> str:
    """A unit's name without its kind: "huyện Lý Nhân" → "ly nhan", "Tỉnh Hà Nam" → "ha nam"."""
    folded = fold(name).strip()
    for prefix in ("thanh pho ", "tinh ", "huyen ", "quan ", "thi xa ", "tp. ", "tp "):
        if folded.startswith(prefix):
            return folded[len(prefix) :].strip()
    return folded


def _bare(name: str) -> str:
    folded = fold(name)
    for prefix in _PREFIXES:
        if folded.startswith(prefix):
            return folded[len(prefix) :].strip()
    return folded.strip()


def _bare_province(name: str) -> str:
    folded = fold(name).strip()
    for prefix in ("thanh pho ", "tinh ", "tp. ", "tp "):
        if folded.startswith(prefix):
            return folded[len(prefix) :].strip()
    return folded


# -- the whole sheet ---------------------------------------------------------------------------


def _parse_row(
    number: int, values: tuple[Any, ...], columns: dict[str, int], places: Places, today: date
) -> ProductRow:
    product = _text(values, columns, "product", 200)
    producer = _text(values, columns, "producer", 200)
    address = _text(values, columns, "address", 300)
    number_text = _text(values, columns, "number", 64)
    for name, value in (("product", product), ("producer", producer), ("address", address)):
        if not value:
            raise _Bad(N_("desk.import.empty"), column=f"desk.import.col.{name}")
    if not number_text:
        raise _Bad(N_("desk.import.empty"), column="desk.import.col.number")
    criteria = _criteria(_text(values, columns, "criteria", 200))
    stars, points = _stars_points(values, columns)
    issued = _date(_cell(values, columns, "issued"), "issued")
    if issued is None:
        raise _Bad(N_("desk.import.empty"), column="desk.import.col.issued")
    if issued > today:
        raise _Bad(N_("desk.import.future_date"), date=issued.strftime("%d/%m/%Y"))
    if issued.year < 2018:
        raise _Bad(N_("desk.import.too_old"), date=issued.strftime("%d/%m/%Y"))
    ruleset = ruleset_for_date(issued)
    if points is not None and ruleset.stars_for(points) != stars:
        raise _Bad(N_("desk.import.points_stars"), points=points, stars=stars)
    expiry = _date(_cell(values, columns, "expiry"), "expiry") or ruleset.certificate_expiry(issued)
    if expiry <= issued:
        raise _Bad(N_("desk.import.expiry_before"), date=expiry.strftime("%d/%m/%Y"))
    commune = places.resolve(
        address,
        _text(values, columns, "province", 120),
        _text(values, columns, "commune_code", 12),
    )
    phone_text = _text(values, columns, "phone", 30)
    phone = normalise_vn_mobile(phone_text) if phone_text else None
    if phone_text and phone is None:
        raise _Bad(N_("desk.import.bad_phone"), value=phone_text)
    return ProductRow(
        number,
        product,
        producer,
        commune.code,
        commune.province_code,
        criteria,
        points,
        stars,
        number_text,
        issued,
        expiry,
        address,
        phone,
    )


Parsed = tuple[dict[str, int], list[tuple[int, tuple[Any, ...]]]]


def may_import(actor: Actor) -> bool:
    """Certified products of earlier years are loaded by the province (or an admin)."""
    return actor.role in (Role.PROVINCE, Role.ADMIN)


async def check_sheet(
    s: AsyncSession, ctx: CoreContext, actor: Actor, data: bytes, parsed: Parsed | None = None
) -> ImportReport:
    """Everything the import would create, and every row it cannot take with the reason.
    ``parsed``: ``read_rows(data)`` done beforehand (in a worker thread, off the event loop)."""
    if not may_import(actor):
        raise Forbidden(N_("desk.import.province_only"))
    columns, raw = parsed if parsed is not None else read_rows(data)
    places = await Places.load(s)
    today = local_today(ctx.clock)
    # Row checks are pure CPU work (old-name lookups too): a worker thread keeps the server's
    # event loop, which also answers the chat webhooks, free during a large import.
    rows, errors = await asyncio.to_thread(_check_rows, raw, columns, places, today, actor)
    errors += await _already_known(s, rows)
    errors.sort(key=lambda e: e.row)
    return ImportReport(rows, errors[:MAX_ERRORS], total_errors=len(errors))


def _check_rows(
    raw: list[tuple[int, tuple[Any, ...]]],
    columns: dict[str, int],
    places: Places,
    today: date,
    actor: Actor,
) -> tuple[list[ProductRow], list[RowError]]:
    rows: list[ProductRow] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for number, values in raw:
        try:
            row = _parse_row(number, values, columns, places, today)
        except _Bad as bad:
            errors.append(RowError(number, bad.key, bad.params))
            continue
        if actor.role == Role.PROVINCE and row.province_code != actor.province_code:
            place = {"place": row.address}
            errors.append(RowError(number, N_("desk.import.other_province"), place))
            continue
        seen = first_row.setdefault(fold(row.number), number)
        if seen != number:
            errors.append(RowError(number, N_("desk.import.duplicate_in_sheet"), {"first": seen}))
            continue
        rows.append(row)
    return rows, errors


async def _already_known(s: AsyncSession, rows: list[ProductRow]) -> list[RowError]:
    numbers = sorted({r.number for r in rows})
    known: set[str] = set()
    for i in range(0, len(numbers), 500):
        stmt = select(Dossier.certificate_number).where(
            col(Dossier.certificate_number).in_(numbers[i : i + 500])
        )
        known |= {n for n in (await s.exec(stmt)).all() if n}
    return [
        RowError(r.row, N_("desk.import.duplicate_known"), {"number": r.number})
        for r in rows
        if r.number in known
    ]


async def import_products(
    s: AsyncSession,
    ctx: CoreContext,
    actor: Actor,
    data: bytes,
    *,
    dry_run: bool = False,
    parsed: Parsed | None = None,
) -> ImportReport:
    """Check the sheet; unless it is a dry run and only if every row is good, store it all in
    the caller's transaction (all or nothing)."""
    report = await check_sheet(s, ctx, actor, data, parsed)
    if dry_run or not report.ok:
        return report
    now = ctx.clock.now()
    producers: dict[tuple[str, str], Producer] = {}
    for row in report.rows:
        key = (fold(row.producer), row.commune_code)
        producer = producers.get(key)
        if producer is None:
            producer = Producer(
                account_id=await _account_with_phone(s, row.phone),
                kind=ProducerKind.OTHER,
                name=row.producer,
                commune_code=row.commune_code,
                address=row.address,
                phone=row.phone,
                created_at=now,
            )
            s.add(producer)
            producers[key] = producer
        await s.flush()
        dossier = _dossier(row, producer.id or 0, now)
        await _insert(s, dossier)
        s.add(
            DossierEvent(
                dossier_id=dossier.id or 0,
                actor_id=actor.account_id,
                action="import",
                to_stage=Stage.CERTIFIED.value,
                data={"row": row.row, "address": row.address},
                at=now,
            )
        )
    await s.flush()
    report.created = len(report.rows)
    return report


async def _account_with_phone(s: AsyncSession, phone: str | None) -> int | None:
    """The chat account that shared this phone number, if exactly one did: the producer then
    gets the certificate's expiry and re-evaluation reminders in chat."""
    if not phone:
        return None
    found = (await s.exec(select(Account.id).where(Account.phone == phone).limit(2))).all()
    return found[0] if len(found) == 1 else None


def _dossier(row: ProductRow, producer_id: int, now: datetime) -> Dossier:
    ruleset = ruleset_for_date(row.issued)
    return Dossier(
        receipt_code="",
        producer_id=producer_id,
        province_code=row.province_code,
        commune_code=row.commune_code,
        product_name=row.product,
        criteria_set=row.criteria_set,
        ruleset=ruleset.id,
        plan_id="import",
        year=row.issued.year,
        stage=Stage.CERTIFIED,
        points=row.points,
        stars=row.stars,
        certificate_number=row.number,
        certificate_date=row.issued,
        certificate_expiry=row.expiry,
        # The sheet knows no filing day; the decision's date stands for it, as a certificate is
        # never dated before its filing day (and the product was not filed on the import's day).
        filed_on=row.issued,
        details={"imported": True},
        created_at=now,
        updated_at=now,
    )


async def _insert(s: AsyncSession, dossier: Dossier) -> None:
    """A fresh receipt code; the unique index decides (as at registration)."""
    from sqlalchemy.exc import IntegrityError

    for _ in range(8):
        dossier.receipt_code = receipts.new_code(dossier.province_code, dossier.year)
        try:
            async with s.begin_nested():
                s.add(dossier)
                await s.flush()
            return
        except IntegrityError:
            dossier.id = None
    raise SheetRefused(N_("error.try_again"))
