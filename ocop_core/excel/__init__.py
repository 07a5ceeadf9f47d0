"""Excel in and out (openpyxl): the desk's tables as .xlsx, and the provincial product list
("danh sách sản phẩm OCOP") both ways."""

from ocop_core.excel.sheets import XLSX_MIME, Column, workbook_bytes

__all__ = ["XLSX_MIME", "Column", "workbook_bytes"]
