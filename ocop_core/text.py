"""Text folding for matching what people type against names and labels: no accents, lower
case, single spaces. Shared by place search, choice matching and intent recognition."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without Vietnamese accents: "Tam Đường" → "tam duong"."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return " ".join(
        "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").lower().split()
    )
