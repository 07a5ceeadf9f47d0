"""Calendar arithmetic the legal texts rely on."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later, clamped to the end of a shorter month.

    Why clamp: "36 months from 29/02/2024" has no 29/02/2027, and the last day of February is
    the only reading that neither extends nor cuts the period by more than a day.
    """
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last_day))
