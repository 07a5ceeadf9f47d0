"""Catalog keys used by the media pipeline (errors, re-take hints, file-kind descriptions).

Texts live in the gettext catalogs; this module only names the keys, so that tests and the
catalog linter can check every key is translated.
"""

from __future__ import annotations

from typing import Any

from ocop_core.errors import DomainError
from ocop_core.i18n import N_

# Refusals raised as ``ocop_core.errors.ValidationError``.
FILE_EMPTY = N_("error.file_empty")
FILE_TOO_LARGE = N_("error.file_too_large")  # params: size_mb, limit_mb
FILE_TYPE = N_("error.file_type")  # params: kind (a media.kind.* key), kind_code
IMAGE_CORRUPT = N_("error.image_corrupt")
IMAGE_BOMB = N_("error.image_bomb")  # params: megapixels, limit_megapixels
PDF_CORRUPT = N_("error.pdf_corrupt")
PDF_ENCRYPTED = N_("error.pdf_encrypted")

ERROR_KEYS: frozenset[str] = frozenset(
    {FILE_EMPTY, FILE_TOO_LARGE, FILE_TYPE, IMAGE_CORRUPT, IMAGE_BOMB, PDF_CORRUPT, PDF_ENCRYPTED}
)

# Quality flags -> the hint shown to the producer (what to do, not what is wrong).
FLAG_TOO_SMALL = "too_small"
FLAG_TOO_DARK = "too_dark"
FLAG_TOO_BLURRY = "too_blurry"

HINT_KEYS: dict[str, str] = {
    FLAG_TOO_SMALL: N_("media.hint.too_small"),
    FLAG_TOO_DARK: N_("media.hint.too_dark"),
    FLAG_TOO_BLURRY: N_("media.hint.too_blurry"),
}

# What a refused file looks like, for ``error.file_type``'s ``kind`` parameter.
KIND_CODES: tuple[str, ...] = (
    "text",
    "html",
    "gif",
    "bmp",
    "tiff",
    "svg",
    "avif",
    "jpegxl",
    "zip",
    "word",
    "excel",
    "powerpoint",
    "office",
    "archive",
    "video",
    "audio",
    "program",
    "unknown",
)
KIND_KEYS: dict[str, str] = {code: f"media.kind.{code}" for code in KIND_CODES}


def kind_key(code: str) -> str:
    """The ``media.kind.*`` key describing a refused file kind (``unknown`` if not listed)."""
    return KIND_KEYS.get(code, KIND_KEYS["unknown"])


def catalog_keys() -> set[str]:
    """Every catalog key the media module can emit; all must be translated in vi and en."""
    return set(ERROR_KEYS) | set(HINT_KEYS.values()) | set(KIND_KEYS.values())


def error_text(err: DomainError, locale: str | None = None) -> str:
    """Render a media refusal, translating the nested ``media.kind.*`` parameter first.

    ``error.file_type`` carries ``kind`` as a catalog key (the sentence and the noun are
    translated separately), so a plain ``translate(err.key, **err.params)`` would print
    the raw key.
    """
    from ocop_core.i18n import translate  # lazy: Babel is only needed when rendering

    params: dict[str, Any] = dict(err.params)
    for name, value in params.items():
        if isinstance(value, str) and value.startswith("media.kind."):
            params[name] = translate(value, locale)
    return translate(err.key, locale, **params)
