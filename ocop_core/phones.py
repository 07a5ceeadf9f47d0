"""Vietnamese mobile numbers as people type them: 0912 345 678, +84 912345678, 84-912-345-678."""

from __future__ import annotations

import re

# Mobile prefixes after the 2018 renumbering: 03x, 05x, 07x, 08x, 09x (10 digits with the 0).
_MOBILE = re.compile(r"^0[35789]\d{8}$")


def normalise_vn_mobile(text: str) -> str | None:
    """The number in national form (``0912345678``), or None if it is not a Vietnamese mobile."""
    digits = re.sub(r"[\s.\-()]", "", text.strip())
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _MOBILE.match(digits) else None
