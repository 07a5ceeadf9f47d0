"""``process_upload``: from the bytes a producer sent to the bytes we keep.

Pure and synchronous; transports run it in a worker thread. Refusals are
``ocop_core.errors.ValidationError`` with a catalog key; quality problems are *not*
refusals here: they come back as flags and hints, and ``acceptable`` says whether the
caller should ask for a re-take.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from ocop_core.media import keys
from ocop_core.media.images import (
    DEFAULT_MAX_PIXELS,
    LONG_SIDE,
    TARGET_BYTES,
    process_image,
    sha256_hex,
)
from ocop_core.media.pdf import inspect_pdf
from ocop_core.media.quality import BLOCKING_FLAGS
from ocop_core.media.sniff import DEFAULT_MAX_BYTES, MIME, check_upload

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessedFile:
    kind: Literal["image", "pdf"]
    mime: str  # of ``data``: image/jpeg or application/pdf
    ext: str  # "jpg" or "pdf"
    data: bytes  # what to store: a re-encoded JPEG, or the PDF exactly as received
    original_sha256: str  # of the upload, to notice the same original sent again
    sha256: str  # of ``data``; the store address
    width: int | None  # pixels after rotation and downscaling; None for PDFs
    height: int | None
    pages: int
    flags: list[str] = field(default_factory=list)  # e.g. ["too_blurry"]
    hints: list[str] = field(default_factory=list)  # catalog keys, one per flag
    acceptable: bool = True  # False: ask for a re-take (some flag is blocking)
    source_format: str = ""  # jpeg | png | webp | heif | pdf, as sniffed
    original_width: int | None = None
    original_height: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # for logs and calibration


def process_upload(
    data: bytes,
    *,
    filename: str | None = None,
    declared_mime: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    long_side: int = LONG_SIDE,
    target_bytes: int = TARGET_BYTES,
    progressive: bool = False,
) -> ProcessedFile:
    """Check, normalise and judge one uploaded photo or PDF.

    ``filename`` and ``declared_mime`` are what the chat app claimed; they are never used
    to decide anything (only logged when the bytes disagree, to help support).
    """
    found = check_upload(data, max_bytes=max_bytes)
    original_sha256 = sha256_hex(data)
    if declared_mime and declared_mime.lower() != found.mime:
        log.debug("upload %r declared %s but is %s", filename, declared_mime, found.mime)
    if found.fmt == "pdf":
        info = inspect_pdf(data)
        return ProcessedFile(
            kind="pdf",
            mime=MIME["pdf"],
            ext="pdf",
            data=data,
            original_sha256=original_sha256,
            sha256=original_sha256,
            width=None,
            height=None,
            pages=info.pages,
            source_format="pdf",
            metrics={"restricted": float(info.restricted)},
        )
    image = process_image(
        data,
        found.fmt,
        max_pixels=max_pixels,
        long_side=long_side,
        target_bytes=target_bytes,
        progressive=progressive,
    )
    flags = list(image.quality.flags)
    return ProcessedFile(
        kind="image",
        mime="image/jpeg",
        ext="jpg",
        data=image.data,
        original_sha256=original_sha256,
        sha256=sha256_hex(image.data),
        width=image.width,
        height=image.height,
        pages=1,
        flags=flags,
        hints=[keys.HINT_KEYS[f] for f in flags],
        acceptable=not any(f in BLOCKING_FLAGS for f in flags),
        source_format=found.fmt,
        original_width=image.original_width,
        original_height=image.original_height,
        metrics={**image.quality.metrics, "jpeg_quality": float(image.jpeg_quality)},
    )
