"""Writing tables as .xlsx: Vietnamese headers, dates as real dates, numbers as numbers, the
header row frozen and filters on. Write-only mode streams rows, so 20,000 rows stay cheap."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet.worksheet import Worksheet

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "dd/mm/yyyy"


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"  # text | int | float | date
    width: int = 16


def _header(ws: Worksheet, columns: Sequence[Column]) -> list[WriteOnlyCell]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBDD")
    wrap = Alignment(wrap_text=True, vertical="top")
    cells = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=c.header)
        cell.font, cell.fill, cell.alignment = bold, fill, wrap
        cells.append(cell)
    return cells


def _value(ws: Worksheet, column: Column, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column.kind == "date" and isinstance(value, date):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if column.kind == "int":
        return int(value)
    if column.kind == "float":
        return float(value)
    return str(value)


def workbook_bytes(
    title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, total: int
) -> bytes:
    """One sheet named ``title``; ``total`` is the number of rows (the filter range needs it)."""
    # openpyxl is imported where a workbook is written (here and in _header/_value): loading it
    # costs every start of `ocop-bot` ~60 ms, and most starts never write a sheet.
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = c.width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{total + 1}"
    ws.append(_header(ws, columns))
    for row in rows:
        ws.append([_value(ws, c, v) for c, v in zip(columns, row, strict=True)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
