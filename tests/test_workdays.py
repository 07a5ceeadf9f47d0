"""Vietnamese working days: weekends, Tết, Hùng Kings' day, 30/4 and 1/5, government day swaps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ocop_core.workdays import (
    add_working_days,
    holidays_in,
    is_working_day,
    working_days_between,
)


def test_weekends_are_not_working_days() -> None:
    assert not is_working_day(date(2026, 5, 2))  # Saturday
    assert not is_working_day(date(2026, 5, 3))  # Sunday
    assert is_working_day(date(2026, 5, 4))  # Monday
    assert add_working_days(date(2026, 5, 8), 1) == date(2026, 5, 11)  # Friday → Monday
    assert add_working_days(date(2026, 5, 11), -1) == date(2026, 5, 8)


def test_tet_2027_is_off() -> None:
    tet = [date(2027, 2, 4) + timedelta(days=i) for i in range(7)]  # 04/02 … 10/02/2027
    assert all(d in holidays_in(2027) for d in tet)
    assert not any(is_working_day(d) for d in tet)
    assert is_working_day(date(2027, 2, 3))
    assert is_working_day(date(2027, 2, 11))


def test_fifteen_working_days_across_tet_2027() -> None:
    # Hand count from Fri 29/01/2027: 1–3/2 (3), Tết 4–10/2 off, 11–12/2 (5), 15–19/2 (10),
    # 22–26/2 (15).
    assert add_working_days(date(2027, 1, 29), 15) == date(2027, 2, 26)
    assert working_days_between(date(2027, 1, 29), date(2027, 2, 26)) == 15
    assert add_working_days(date(2027, 2, 26), -15) == date(2027, 1, 29)


def test_reunification_and_labour_day_2026() -> None:
    # 2026: 30/4 Thursday, 1/5 Friday; Hùng Kings' day 26/4 falls on Sunday, observed Monday 27/4.
    assert not is_working_day(date(2026, 4, 30))
    assert not is_working_day(date(2026, 5, 1))
    assert not is_working_day(date(2026, 4, 27))
    assert add_working_days(date(2026, 4, 29), 1) == date(2026, 5, 4)
    assert add_working_days(date(2026, 4, 24), 1) == date(2026, 4, 28)
    assert working_days_between(date(2026, 4, 24), date(2026, 5, 4)) == 3  # 28, 29/4 and 4/5


def test_reunification_and_labour_day_2027() -> None:
    # 2027: 30/4 Friday, 1/5 Saturday observed Monday 3/5; Hùng Kings' day Friday 16/4.
    assert not is_working_day(date(2027, 4, 16))
    assert not is_working_day(date(2027, 4, 30))
    assert not is_working_day(date(2027, 5, 3))
    assert add_working_days(date(2027, 4, 29), 1) == date(2027, 5, 4)
    assert add_working_days(date(2027, 5, 4), -1) == date(2027, 4, 29)
    assert add_working_days(date(2027, 4, 15), 1) == date(2027, 4, 19)


def test_negative_count_goes_back_over_holidays() -> None:
    # 15 working days before 30/4/2027: 29, 28, 27, 26 (4), 23–19/4 (9), 16/4 off, 15–12/4 (13),
    # 9/4 (14), 8/4 (15).
    assert add_working_days(date(2027, 4, 30), -15) == date(2027, 4, 8)
    assert working_days_between(date(2027, 4, 8), date(2027, 4, 30)) == 14  # 30/4 is a holiday
    assert working_days_between(date(2027, 4, 30), date(2027, 4, 8)) == -14


def test_zero_and_same_day() -> None:
    assert add_working_days(date(2027, 2, 6), 0) == date(2027, 2, 6)
    assert working_days_between(date(2027, 2, 6), date(2027, 2, 6)) == 0


def test_government_day_swap_2026() -> None:
    # The package lists Monday 31/8/2026 off in exchange for working Saturday 22/8/2026.
    assert not is_working_day(date(2026, 8, 31))
    assert is_working_day(date(2026, 8, 22))


@pytest.mark.parametrize("n", [1, 5, 15, 40])
def test_add_and_count_agree(n: int) -> None:
    start = date(2026, 12, 20)
    for offset in range(0, 500, 7):
        d = start + timedelta(days=offset)
        forward = add_working_days(d, n)
        assert is_working_day(forward)
        assert working_days_between(d, forward) == n
        backward = add_working_days(d, -n)
        assert is_working_day(backward)
        if is_working_day(d):
            assert working_days_between(backward, d) == n


def test_year_boundary() -> None:
    # 31/12/2026 Thursday, 1/1/2027 Friday holiday → next working day Monday 4/1/2027.
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert working_days_between(date(2026, 12, 30), date(2027, 1, 4)) == 2
