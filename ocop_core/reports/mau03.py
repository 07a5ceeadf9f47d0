"""The commune's assessment report (Mẫu 03) as a PDF, in the shape of a Vietnamese official letter.

The form is an administrative document, so its wording is Vietnamese whatever the officer's chat
language; the data labels (documents, criteria set) come from the ``vi`` catalog. Text is NFC
normalised: a decomposed "ệ" typed on some phones would otherwise draw as "ê" plus a loose dot.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ocop_core.reports.fonts import report_font

TITLE = "BÁO CÁO ĐÁNH GIÁ CỦA UBND XÃ"
SUBTITLE = "Về sản phẩm đề nghị đánh giá, phân hạng sản phẩm OCOP (Mẫu 03)"
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
FAMILY = "body"


@dataclass(frozen=True)
class CriterionLine:
    label: str
    met: bool
    note: str = ""


@dataclass(frozen=True)
class DocumentLine:
    label: str
    kind: str  # "Bắt buộc", "Loại trừ"…
    pages: int


@dataclass(frozen=True)
class Mau03Data:
    commune_name: str
    province_name: str
    receipt_code: str
    producer_name: str
    producer_kind: str
    representative: str
    address: str
    phone: str
    product_name: str
    criteria_set: str
    attempt: str
    checked_on: date
    officer: str
    legal_basis: str
    criteria: list[CriterionLine] = field(default_factory=list)
    documents: list[DocumentLine] = field(default_factory=list)


def _t(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(str(text).split()))


class _Report(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        self.cell(0, 5, f"{self.page_no()}/{{nb}}", align="C")


def _place(commune_name: str) -> str:
    """ "Xã Bình Lư" → "Bình Lư": the place name that opens the date line."""
    for prefix in ("Xã ", "Phường ", "Đặc khu ", "Thị trấn "):
        if commune_name.startswith(prefix):
            return commune_name.removeprefix(prefix)
    return commune_name


def render_mau03(data: Mau03Data) -> bytes:
    font = report_font()
    pdf = _Report(format="A4")
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font(FAMILY, "", str(font.regular))
    pdf.add_font(FAMILY, "B", str(font.bold))
    pdf.set_title(TITLE)
    pdf.set_lang("vi")
    pdf.set_creator("ocop-bot")
    # A fixed creation date: the same check renders the same file.
    pdf.set_creation_date(datetime(*data.checked_on.timetuple()[:3], tzinfo=UTC))
    pdf.add_page()
    _letterhead(pdf, data)
    _heading(pdf)
    _general(pdf, data)
    _documents(pdf, data)
    _criteria(pdf, data)
    _conclusion(pdf, data)
    _signatures(pdf, data)
    return bytes(pdf.output())


def _letterhead(pdf: FPDF, data: Mau03Data) -> None:
    left, right = 70.0, 105.0
    y = pdf.get_y()
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(left, 5.5, "ỦY BAN NHÂN DÂN", align="C")
    pdf.cell(right, 5.5, NATION, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(left, 5.5, _t(data.commune_name).upper(), align="C")
    pdf.cell(right, 5.5, MOTTO, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.line(pdf.l_margin + 20, y + 12, pdf.l_margin + left - 20, y + 12)
    pdf.line(pdf.l_margin + left + 20, y + 12, pdf.l_margin + left + right - 20, y + 12)
    pdf.ln(4)
    pdf.set_font(FAMILY, "", 11)
    pdf.cell(left, 5.5, "Số: …/BC-UBND", align="C")
    d = data.checked_on
    when = f"{_t(_place(data.commune_name))}, ngày {d.day:02d} tháng {d.month:02d} năm {d.year}"
    pdf.cell(right, 5.5, when, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)


def _heading(pdf: FPDF) -> None:
    pdf.set_font(FAMILY, "B", 14)
    pdf.cell(0, 7, TITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 11.5)
    pdf.cell(0, 6, SUBTITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _section(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FAMILY, "B", 11.5)
    pdf.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 11)


def _line(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(48, 6, label)
    pdf.set_font(FAMILY, "", 11)
    pdf.multi_cell(0, 6, _t(value) or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _general(pdf: FPDF, data: Mau03Data) -> None:
    _section(pdf, "I. THÔNG TIN CHUNG")
    _line(pdf, "Mã hồ sơ:", data.receipt_code)
    _line(pdf, "Chủ thể OCOP:", f"{data.producer_name} ({data.producer_kind})")
    _line(pdf, "Người đại diện:", data.representative)
    _line(pdf, "Địa chỉ:", data.address or f"{data.commune_name}, {data.province_name}")
    _line(pdf, "Điện thoại:", data.phone)
    _line(pdf, "Sản phẩm:", data.product_name)
    _line(pdf, "Bộ sản phẩm:", data.criteria_set)
    _line(pdf, "Hình thức:", data.attempt)


def _documents(pdf: FPDF, data: Mau03Data) -> None:
    _section(pdf, "II. KIỂM TRA THÀNH PHẦN HỒ SƠ")
    with pdf.table(
        col_widths=(10, 95, 30, 40),
        text_align=("CENTER", "LEFT", "CENTER", "CENTER"),
        line_height=6,
    ) as table:
        header = table.row()
        for cell in ("TT", "Thành phần hồ sơ", "Loại", "Kết quả"):
            header.cell(cell)
        for n, doc in enumerate(data.documents, start=1):
            row = table.row()
            row.cell(str(n))
            row.cell(_t(doc.label))
            row.cell(_t(doc.kind))
            row.cell(f"Có ({doc.pages} trang)" if doc.pages else "Còn thiếu")


def _criteria(pdf: FPDF, data: Mau03Data) -> None:
    _section(pdf, "III. ĐÁNH GIÁ CÁC TIÊU CHÍ ĐỊA PHƯƠNG")
    with pdf.table(
        col_widths=(10, 62, 28, 75),
        text_align=("CENTER", "LEFT", "CENTER", "LEFT"),
        line_height=6,
    ) as table:
        header = table.row()
        for cell in ("TT", "Tiêu chí", "Kết quả", "Nhận xét"):
            header.cell(cell)
        for n, item in enumerate(data.criteria, start=1):
            row = table.row()
            row.cell(str(n))
            row.cell(_t(item.label))
            row.cell("Đạt" if item.met else "Không đạt")
            row.cell(_t(item.note) or "—")


def _conclusion(pdf: FPDF, data: Mau03Data) -> None:
    _section(pdf, "IV. KẾT LUẬN")
    met = sum(1 for c in data.criteria if c.met)
    missing = [d.label for d in data.documents if not d.pages]
    text = f"Sản phẩm đáp ứng {met}/{len(data.criteria)} tiêu chí địa phương. "
    if missing:
        text += "Hồ sơ còn thiếu: " + "; ".join(_t(m) for m in missing) + ". "
    else:
        text += "Hồ sơ có đủ các thành phần bắt buộc. "
    text += f"Căn cứ: {_t(data.legal_basis)}."
    pdf.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _signatures(pdf: FPDF, data: Mau03Data) -> None:
    pdf.ln(6)
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(half, 6, "NGƯỜI KIỂM TRA", align="C")
    pdf.cell(half, 6, "TM. ỦY BAN NHÂN DÂN", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 10)
    pdf.cell(half, 5, "(Ký, ghi rõ họ tên)", align="C")
    pdf.cell(half, 5, "(Ký tên, đóng dấu)", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(22)
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(half, 6, _t(data.officer), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
