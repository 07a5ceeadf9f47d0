"""PDF uploads are checked, never rewritten; a dossier's pages are joined into one PDF.

Password policy: a PDF that needs a password to *open* is refused (nobody at the
assessment office could read it). A PDF that only carries owner restrictions (empty user
password; common for e-invoices and PDFs exported by public-service portals) opens in any
viewer without a password, so it is accepted as is.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from ocop_core.errors import ValidationError
from ocop_core.media import keys
from ocop_core.media.sniff import sniff

if TYPE_CHECKING:
    from pypdf import PdfReader

log = logging.getLogger(__name__)

A4_MM = (210.0, 297.0)
PAGE_MARGIN_MM = 8.0


@dataclass(frozen=True, slots=True)
class PdfInfo:
    pages: int
    restricted: bool  # encrypted with an empty user password (opens without one)


def _reader(data: bytes) -> PdfReader:
    from pypdf import PdfReader  # lazy: only PDF uploads and assembly need it

    return PdfReader(io.BytesIO(data), strict=False)


def _unlock(reader: PdfReader) -> bool:
    """Try the empty user password; True if the document can now be read."""
    from pypdf.errors import DependencyError

    try:
        return bool(reader.decrypt(""))
    except (DependencyError, NotImplementedError):
        # AES without the `cryptography` package, or an unknown security handler.
        return False


def inspect_pdf(data: bytes) -> PdfInfo:
    """Page count of a readable PDF; ``ValidationError`` if encrypted or broken."""
    # A truncated upload (connection dropped) has no end-of-file marker; pypdf's lenient
    # mode would rebuild a half document from it, so catch it here.
    if b"%%EOF" not in data[-4096:]:
        raise ValidationError(keys.PDF_CORRUPT)
    try:
        reader = _reader(data)
        restricted = False
        if reader.is_encrypted:
            if not _unlock(reader):
                raise ValidationError(keys.PDF_ENCRYPTED)
            restricted = True
        count = len(reader.pages)
        for page in reader.pages:
            _ = page.mediabox  # forces each page object to resolve
    except ValidationError:
        raise
    except Exception as exc:  # any parser failure on untrusted bytes = corrupt
        raise ValidationError(keys.PDF_CORRUPT) from exc
    if count < 1:
        raise ValidationError(keys.PDF_CORRUPT)
    return PdfInfo(pages=count, restricted=restricted)


def _image_for_fpdf(data: bytes) -> bytes | Image.Image:
    """Our stored pages are plain JPEGs that fpdf2 embeds byte for byte (DCTDecode);
    anything else (a foreign JPEG with an EXIF rotation, PNG...) is handed over decoded."""
    with Image.open(io.BytesIO(data)) as probe:
        rotated = probe.getexif().get(0x0112, 1) not in (1, None)
        if probe.format == "JPEG" and not rotated and probe.mode in ("RGB", "L"):
            return data
        image = ImageOps.exif_transpose(probe)
        image.load()
        return image


def assemble_pdf(pages: list[Path]) -> bytes:
    """Join page images (each on its own A4 page) and PDFs, in order, into one PDF."""
    if not pages:
        raise ValueError("assemble_pdf needs at least one page")
    from fpdf import FPDF
    from pypdf import PdfWriter

    contents = [Path(p).read_bytes() for p in pages]
    kinds = [sniff(c) for c in contents]
    for path, found in zip(pages, kinds, strict=True):
        if not found.accepted:
            raise ValueError(f"not an image or PDF: {path}")

    # 1. Every image onto its own page of one fpdf2 document.
    doc = FPDF(unit="mm", format="A4")
    doc.set_auto_page_break(False)
    doc.set_creator("ocop-bot")
    for data, found in zip(contents, kinds, strict=True):
        if found.kind != "image":
            continue
        source = _image_for_fpdf(data)
        if isinstance(source, bytes):
            with Image.open(io.BytesIO(source)) as probe:
                width, height = probe.size
        else:
            width, height = source.size
        landscape = width > height  # a wide table photographed sideways gets a wide page
        page_w, page_h = (A4_MM[1], A4_MM[0]) if landscape else A4_MM
        doc.add_page(orientation="L" if landscape else "P")
        box_w, box_h = page_w - 2 * PAGE_MARGIN_MM, page_h - 2 * PAGE_MARGIN_MM
        scale = min(box_w / width, box_h / height)
        w_mm, h_mm = width * scale, height * scale
        doc.image(source, x=(page_w - w_mm) / 2, y=(page_h - h_mm) / 2, w=w_mm, h=h_mm)
    images_pdf = _reader(bytes(doc.output())) if doc.pages_count else None

    # 2. Interleave in the original order.
    writer = PdfWriter()
    image_index = 0
    for data, found in zip(contents, kinds, strict=True):
        if found.kind == "image":
            assert images_pdf is not None
            writer.add_page(images_pdf.pages[image_index])
            image_index += 1
            continue
        reader = _reader(data)
        if reader.is_encrypted and not _unlock(reader):
            raise ValidationError(keys.PDF_ENCRYPTED)
        for page in reader.pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
