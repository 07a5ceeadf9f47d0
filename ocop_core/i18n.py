"""Message catalogs (gettext .po files under ``locales/``), read with Babel.

The language is chosen per call, never per process. Keys are symbolic msgids such as
``error.points_range``; both catalogs (vi, en) must translate every key.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"


def N_(key: str) -> str:
    """Mark a catalog key for extraction without translating it here."""
    return key


def locales_dir() -> Path:
    override = os.environ.get("OCOP_LOCALES_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "locales"


@cache
def catalog(locale: str) -> dict[str, str]:
    path = locales_dir() / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        po = read_po(fh, locale=locale)
    return {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}


def normalise_locale(locale: str | None) -> str:
    if not locale:
        return DEFAULT_LOCALE
    short = locale.replace("-", "_").split("_")[0].lower()
    return short if short in LOCALES else DEFAULT_LOCALE


def translate(key: str, locale: str | None = None, /, **params: Any) -> str:
    """The text for ``key`` in ``locale``; falls back to Vietnamese, then to the key itself."""
    loc = normalise_locale(locale)
    text = _lookup(key, loc)
    if params:
        values = _Missing({k: _param(v, loc) for k, v in params.items()})
        try:
            return text.format_map(values)
        except (IndexError, ValueError):
            return text
    return text


class _Missing(dict[str, Any]):
    """A placeholder nobody filled shows as "…" rather than breaking the whole message."""

    def __missing__(self, key: str) -> str:
        return "…"


def _lookup(key: str, loc: str) -> str:
    return catalog(loc).get(key) or catalog(DEFAULT_LOCALE).get(key) or key


def _param(value: Any, loc: str) -> Any:
    """Parameters may themselves be catalog keys (a stage, a document): show their text."""
    if isinstance(value, str) and value in catalog(DEFAULT_LOCALE):
        return _lookup(value, loc)
    if isinstance(value, list | tuple):
        return ", ".join(str(_param(v, loc)) for v in value)
    return value
