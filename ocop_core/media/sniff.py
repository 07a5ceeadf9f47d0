"""Decide what an upload really is from its first bytes; the file name is never trusted.

Cheap phones and chat apps routinely send ``document.jpg`` that is a PDF, a HEIC named
``.jpeg``, a voice note or a Word file: only the magic numbers tell.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from typing import Literal

from ocop_core.errors import ValidationError
from ocop_core.media import keys

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MB

AcceptedFormat = Literal["jpeg", "png", "webp", "heif", "pdf"]

MIME: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heif": "image/heic",
    "pdf": "application/pdf",
}

# ISO-BMFF brands (bytes 8..12 and the compatible list) of HEIF still images.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})


@dataclass(frozen=True, slots=True)
class Sniffed:
    """``fmt`` is an accepted format, or (``accepted`` False) a ``media.kind`` code."""

    fmt: str
    accepted: bool

    @property
    def mime(self) -> str | None:
        return MIME.get(self.fmt) if self.accepted else None

    @property
    def kind(self) -> Literal["image", "pdf"] | None:
        if not self.accepted:
            return None
        return "pdf" if self.fmt == "pdf" else "image"


def _ok(fmt: AcceptedFormat) -> Sniffed:
    return Sniffed(fmt, True)


def _no(code: str) -> Sniffed:
    return Sniffed(code, False)


def _iso_bmff(data: bytes) -> Sniffed | None:
    """HEIF/AVIF/MP4/3GP all start with an ``ftyp`` box; the brands tell them apart."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    box_len = int.from_bytes(data[0:4], "big")
    major = data[8:12]
    end = min(max(box_len, 16), len(data), 256)
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if major in _AVIF_BRANDS or (
        major == b"mif1"
        and brands & _AVIF_BRANDS
        and not (brands & (_HEIF_BRANDS - {b"mif1", b"msf1"}))
    ):
        return _no("avif")
    if major in _HEIF_BRANDS or brands & {b"heic", b"heix", b"heim", b"heis"}:
        return _ok("heif")
    if major in _AUDIO_BRANDS:
        return _no("audio")
    # isom, mp41, mp42, qt, 3gp4..3gp6 (cheap phones record 3GP), M4V, ...
    return _no("video")


def _zip_kind(data: bytes) -> str:
    """Office documents are zips; name what it is so the hint can say 'this is Word'."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "zip"
    tops = {n.split("/", 1)[0] for n in names}
    if "word" in tops:
        return "word"
    if "xl" in tops:
        return "excel"
    if "ppt" in tops:
        return "powerpoint"
    if "mimetype" in names or "content.xml" in names:
        return "office"  # OpenDocument
    if "AndroidManifest.xml" in names:
        return "program"
    return "zip"


def _text_kind(head: bytes) -> str | None:
    """Plain text (including HTML/SVG/XML) decodes as UTF-8 with few control characters."""
    sample = head[:4096]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 (Windows Notepad)
        text = sample[: len(sample) // 2 * 2].decode("utf-16", errors="replace")
    else:
        sample = sample.removeprefix(b"\xef\xbb\xbf")
        try:
            text = sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still text.
            if exc.start < len(sample) - 4:
                return None
            text = sample[: exc.start].decode("utf-8")
    if not text:
        return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > len(text) // 100:
        return None
    low = text.lstrip().lower()
    if low.startswith(("<svg", "<?xml")) and "<svg" in low:
        return "svg"
    if low.startswith(("<!doctype html", "<html")):
        return "html"
    return "text"


def sniff(data: bytes) -> Sniffed:
    """Classify ``data`` by its leading bytes only."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return _ok("jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _ok("png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _ok("webp")
    if (bmff := _iso_bmff(data)) is not None:
        return bmff
    # The PDF header may follow a little junk (some scanners and mailers prepend bytes);
    # readers look in the first KiB, so do we.
    if b"%PDF-" in data[:1024]:
        return _ok("pdf")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _no("gif")
    if head.startswith(b"BM"):
        return _no("bmp")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return _no("tiff")
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL "):
        return _no("jpegxl")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _no(_zip_kind(data))
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _no("office")  # legacy .doc/.xls/.ppt
    if head.startswith((b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh")):
        return _no("archive")
    if head.startswith((b"OggS", b"ID3", b"fLaC", b"#!AMR")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    ):
        return _no("audio")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and (text := _text_kind(data)):
        return _no(text)  # a UTF-16 BOM also looks like an MPEG audio frame sync
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return _no("audio")  # MPEG audio frame sync (JPEG's FF D8 was checked above)
    if head.startswith(b"\x1a\x45\xdf\xa3") or (head[:4] == b"RIFF" and head[8:11] == b"AVI"):
        return _no("video")
    if head.startswith((b"MZ", b"\x7fELF", b"dex\n")):
        return _no("program")
    if (text := _text_kind(data)) is not None:
        return _no(text)
    return _no("unknown")


def check_upload(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Sniffed:
    """Size limits and type: return the accepted format or raise ``ValidationError``."""
    if not data:
        raise ValidationError(keys.FILE_EMPTY)
    if len(data) > max_bytes:
        raise ValidationError(
            keys.FILE_TOO_LARGE,
            size_mb=math.ceil(len(data) / MB),  # rounded up: never "20 MB, limit 20 MB"
            limit_mb=_mb(max_bytes),
        )
    found = sniff(data)
    if not found.accepted:
        raise ValidationError(keys.FILE_TYPE, kind=keys.kind_key(found.fmt), kind_code=found.fmt)
    return found


def _mb(n: int) -> int | float:
    """Megabytes as a person reads them: 20, 0.5 (an int when whole, never 19.999999)."""
    value = round(n / MB, 1)
    return int(value) if value == int(value) else value
