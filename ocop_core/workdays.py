"""Vietnamese working days: the unit of legal time limits such as the commune's 15-day check.

A working day is Monday to Friday that is not a public holiday, as listed by the maintained
``holidays`` package (Tết, Hùng Kings' day, 30/4, 1/5, National Day, …). Government-announced
day swaps are honoured both ways: the package lists a swapped weekday off as a holiday and the
matching Saturday as a ``weekend_workday``, and counting one without the other would drift by a day.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import holidays

__all__ = ["add_working_days", "holidays_in", "is_working_day", "working_days_between"]


@cache
def _calendar(year: int) -> holidays.HolidayBase:
    # One calendar per year: the package computes lunar holidays per year on demand, and a small
    # per-year cache keeps lookups O(1) without growing one object across every year ever asked.
    # Imported here: the package loads every country's and calendar's tables (~0.1 s), which
    # every start of `ocop-bot` would pay though most commands never count a working day.
    import holidays

    return holidays.country_holidays("VN", years=year)


def holidays_in(year: int) -> dict[date, str]:
    """The public holidays of ``year`` (date → English name), for display and tests."""
    return dict(sorted(_calendar(year).items()))


def is_working_day(d: date) -> bool:
    cal = _calendar(d.year)
    if d.weekday() >= 5:
        # A weekend day counts only when the government moved a working day onto it.
        return d in cal.weekend_workdays
    return d not in cal


def add_working_days(d: date, n: int) -> date:
    """The ``n``-th working day after ``d`` (``n`` > 0) or before it (``n`` < 0).

    ``d`` itself is never counted, whether or not it is a working day; ``n == 0`` returns ``d``.
    """
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    current = d
    while remaining:
        current += step
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """The number of working days in the half-open interval (start, end].

    Negative when ``end`` is before ``start`` (then it counts (end, start]), so that
    ``add_working_days(start, working_days_between(start, end))`` lands on ``end`` whenever ``end``
    is a working day.
    """
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    one = timedelta(days=1)
    while current < end:
        current += one
        if is_working_day(current):
            count += 1
    return count
