"""The Unicode font for generated PDFs: every Vietnamese letter, installed by the project itself.

First choice is Source Sans Pro from the ``font-source-sans-pro`` wheel (a declared dependency,
SIL OFL 1.1, no dependencies of its own), so a fresh machine needs no system font package. Debian's
``fonts-dejavu-core`` is the fallback for an install that skipped it. fpdf2's built-in core fonts
are Latin-1 only and would drop "ư", "ơ", "ạ"… — never use them for a report.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class FontFiles:
    name: str
    regular: Path
    bold: Path


def _packaged() -> FontFiles | None:
    # find_spec locates the package without running it (its __init__ globs its folder).
    spec = importlib.util.find_spec("font_source_sans_pro")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "files"
    fonts = FontFiles(
        "SourceSansPro",
        folder / "SourceSansPro-Regular.ttf",
        folder / "SourceSansPro-Bold.ttf",
    )
    return fonts if fonts.regular.is_file() and fonts.bold.is_file() else None


def _system() -> FontFiles | None:
    fonts = FontFiles(
        "DejaVuSans", DEJAVU_DIR / "DejaVuSans.ttf", DEJAVU_DIR / "DejaVuSans-Bold.ttf"
    )
    return fonts if fonts.regular.is_file() and fonts.bold.is_file() else None


@cache
def report_font() -> FontFiles:
    found = _packaged() or _system()
    if found is None:
        raise RuntimeError(
            "no Unicode font for PDF reports: install the project (font-source-sans-pro) "
            "or Debian's fonts-dejavu-core"
        )
    return found
