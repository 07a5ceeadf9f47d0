"""The desk's tables as workbooks. Headers and values are in Vietnamese: provinces report upward
in Vietnamese whatever language the officer reads the desk in."""

from __future__ import annotations

from collections.abc import Sequence

from ocop_core.admin_units_legacy import province_name
from ocop_core.excel.sheets import Column, workbook_bytes
from ocop_core.i18n import translate
from ocop_core.services.desk import CertificateRow, DossierRow, PlanTargets

# The columns provinces use for their annual "danh sách sản phẩm OCOP"; the import reads the same.
PRODUCT_COLUMNS = (
    Column("STT", "int", 6),
    Column("Tên sản phẩm", "text", 32),
    Column("Chủ thể", "text", 30),
    Column("Địa chỉ (xã)", "text", 28),
    Column("Tỉnh", "text", 18),
    Column("Nhóm/bộ tiêu chí", "text", 36),
    Column("Điểm", "float", 8),
    Column("Số sao", "int", 8),
    Column("Số quyết định", "text", 20),
    Column("Ngày quyết định", "date", 14),
    Column("Ngày hết hạn", "date", 14),
    Column("Mã xã", "text", 8),
)

DOSSIER_COLUMNS = (
    Column("Mã hồ sơ", "text", 14),
    Column("Tên sản phẩm", "text", 32),
    Column("Chủ thể", "text", 30),
    Column("Xã", "text", 24),
    Column("Mã xã", "text", 8),
    Column("Nhóm/bộ tiêu chí", "text", 36),
    Column("Lần đánh giá", "text", 14),
    Column("Năm", "int", 7),
    Column("Giai đoạn", "text", 24),
    Column("Hạn tiếp theo", "date", 14),
    Column("Quá hạn", "text", 9),
    Column("Điểm", "float", 8),
    Column("Số sao", "int", 8),
)

CERTIFICATE_COLUMNS = (
    *PRODUCT_COLUMNS[:-1],
    Column("Mở nộp đánh giá lại", "date", 14),
    Column("Hạn nộp đánh giá lại", "date", 14),
    Column("Tình trạng", "text", 22),
    Column("Mã xã", "text", 8),
)


def criteria_label(code: int) -> str:
    return f"{code} – {translate(f'set.{code}', 'vi')}"


def _product_cells(i: int, r: DossierRow) -> list[object]:
    return [
        i,
        r.product_name,
        r.producer_name,
        r.commune_name,
        province_name(r.province_code) or r.province_code,
        criteria_label(r.criteria_set),
        r.points,
        r.stars,
        r.certificate_number,
        r.certificate_date,
        r.certificate_expiry,
    ]


def products_xlsx(rows: Sequence[DossierRow]) -> bytes:
    """Danh sách sản phẩm OCOP: certified products, one row each."""
    data = ([*_product_cells(i, r), r.commune_code] for i, r in enumerate(rows, start=1))
    return workbook_bytes("Sản phẩm OCOP", PRODUCT_COLUMNS, data, total=len(rows))


def dossiers_xlsx(rows: Sequence[DossierRow]) -> bytes:
    data = (
        [
            r.receipt_code,
            r.product_name,
            r.producer_name,
            r.commune_name,
            r.commune_code,
            criteria_label(r.criteria_set),
            translate(f"attempt.{r.attempt}", "vi"),
            r.year,
            translate(f"stage.{r.stage}", "vi"),
            r.next_due,
            "Có" if r.overdue else "",
            r.points,
            r.stars,
        ]
        for r in rows
    )
    return workbook_bytes("Hồ sơ", DOSSIER_COLUMNS, data, total=len(rows))


def certificates_xlsx(rows: Sequence[CertificateRow]) -> bytes:
    data = (
        [
            *_product_cells(i, c.row),
            c.window_opens,
            c.window_closes,
            translate(f"desk.cert.{c.state}", "vi"),
            c.row.commune_code,
        ]
        for i, c in enumerate(rows, start=1)
    )
    return workbook_bytes("Giấy chứng nhận", CERTIFICATE_COLUMNS, data, total=len(rows))


TARGET_COLUMNS = (
    Column("Kế hoạch", "text", 40),
    Column("Năm", "int", 7),
    Column("Chỉ tiêu", "text", 60),
    Column("Tối thiểu", "float", 10),
    Column("Tối đa", "float", 10),
    Column("Đơn vị", "text", 9),
    Column("Đạt được", "float", 10),
    Column("Căn cứ", "text", 10),
)


def targets_xlsx(plans: Sequence[PlanTargets]) -> bytes:
    """Each plan's targets with what the database shows achieved (empty: not countable)."""
    data = [
        [
            p.plan.title,
            p.plan.year,
            tp.target.title_vi,
            tp.target.min,
            tp.target.max,
            "%" if tp.target.unit == "percent" else "sản phẩm",
            tp.achieved,
            tp.target.source,
        ]
        for p in plans
        for tp in p.progress
    ]
    return workbook_bytes("Chỉ tiêu", TARGET_COLUMNS, data, total=len(data))
