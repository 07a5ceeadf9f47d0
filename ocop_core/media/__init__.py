"""Media pipeline for producers' document photos and PDFs (pure core: no transport code).

processed = process_upload(data)          # ValidationError on refusal
if not processed.acceptable: ...          # ask for a re-take, show processed.hints
stored = MediaStore(root).store_processed(processed)
pdf = assemble_pdf([root / p for p in page_paths])
"""

from __future__ import annotations

from ocop_core.media.images import DEFAULT_MAX_PIXELS, LONG_SIDE, TARGET_BYTES, sha256_hex
from ocop_core.media.keys import (
    FLAG_TOO_BLURRY,
    FLAG_TOO_DARK,
    FLAG_TOO_SMALL,
    HINT_KEYS,
    catalog_keys,
    error_text,
)
from ocop_core.media.pdf import assemble_pdf, inspect_pdf
from ocop_core.media.pipeline import ProcessedFile, process_upload
from ocop_core.media.quality import BLOCKING_FLAGS, BLUR_THRESHOLD, DARK_P90, MIN_LONG_SIDE
from ocop_core.media.sniff import DEFAULT_MAX_BYTES, Sniffed, check_upload, sniff
from ocop_core.media.store import MediaStore, StoredFile

__all__ = [
    "BLOCKING_FLAGS",
    "BLUR_THRESHOLD",
    "DARK_P90",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "FLAG_TOO_BLURRY",
    "FLAG_TOO_DARK",
    "FLAG_TOO_SMALL",
    "HINT_KEYS",
    "LONG_SIDE",
    "MIN_LONG_SIDE",
    "TARGET_BYTES",
    "MediaStore",
    "ProcessedFile",
    "Sniffed",
    "StoredFile",
    "assemble_pdf",
    "catalog_keys",
    "check_upload",
    "error_text",
    "inspect_pdf",
    "process_upload",
    "sha256_hex",
    "sniff",
]
