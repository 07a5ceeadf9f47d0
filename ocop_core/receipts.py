"""Receipt codes (mã hồ sơ): short enough to type on a phone, carrying province and year.

Canonical form ``PPYY-XXXXX``: the province code, the year's last two digits, and five random
Crockford base-32 symbols (no I, L, O, U, so nothing is misread). People may type it in any case,
with or without the dash or spaces, and with O/I/L in place of 0/1: ``normalise`` maps all of it.
Uniqueness comes from the database's unique index; the caller retries on a collision.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LEN = 5
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_PREFIX = re.compile(r"^(L?\d{2})(\d{2})")


def new_code(province_code: str, year: int, randbelow: Callable[[int], int] | None = None) -> str:
    pick = randbelow or secrets.randbelow
    tail = "".join(ALPHABET[pick(len(ALPHABET))] for _ in range(RANDOM_LEN))
    return f"{province_code.upper()}{year % 100:02d}-{tail}"


def normalise(text: str) -> str | None:
    """The canonical code for what a person typed, or None if it cannot be one."""
    raw = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    legacy = raw.startswith("L")
    body = raw[1:] if legacy else raw
    if len(body) != 4 + RANDOM_LEN or not body[:4].isdigit():
        return None
    tail = body[4:].translate(_CONFUSABLE)
    if any(ch not in ALPHABET for ch in tail):
        return None
    return f"{'L' if legacy else ''}{body[:4]}-{tail}"


def looks_like_code(text: str) -> bool:
    return normalise(text) is not None
