"""Generated documents (PDF): the commune's Mẫu 03 report. Pure rendering, no database."""

from __future__ import annotations

from ocop_core.reports.fonts import FontFiles, report_font
from ocop_core.reports.mau03 import TITLE, CriterionLine, DocumentLine, Mau03Data, render_mau03

__all__ = [
    "TITLE",
    "CriterionLine",
    "DocumentLine",
    "FontFiles",
    "Mau03Data",
    "render_mau03",
    "report_font",
]
