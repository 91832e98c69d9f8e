from __future__ import annotations

from datetime import date

import pytest
from rules_helpers import d

from shared.rules.dates import add_years, day_after, day_before, first_of_month, last_of_month


@pytest.mark.parametrize(
    ("start", "years", "expected"),
    [
        ("2019-05-14", 1, "2020-05-14"),
        ("2019-05-14", 3, "2022-05-14"),
        ("2020-02-29", 1, "2021-02-28"),  # Feb 29 -> Feb 28 in a common year
        ("2020-02-29", 3, "2023-02-28"),
        ("2020-02-29", 4, "2024-02-29"),  # leap again: no drift
        ("2020-02-29", -1, "2019-02-28"),
        ("2020-02-28", 1, "2021-02-28"),
        ("2021-03-01", 3, "2024-03-01"),
        ("1999-12-31", 1, "2000-12-31"),
    ],
)
def test_add_years(start: str, years: int, expected: str) -> None:
    assert add_years(d(start), years) == d(expected)


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        ("2024-02-10", "2024-02-01", "2024-02-29"),
        ("2023-02-28", "2023-02-01", "2023-02-28"),
        ("2020-04-30", "2020-04-01", "2020-04-30"),
        ("2020-12-01", "2020-12-01", "2020-12-31"),
    ],
)
def test_month_bounds(day: str, first: str, last: str) -> None:
    assert first_of_month(d(day)) == d(first)
    assert last_of_month(d(day)) == d(last)


def test_day_after_and_before_cross_month_and_year() -> None:
    assert day_after(date(2020, 12, 31)) == date(2021, 1, 1)
    assert day_before(date(2024, 3, 1)) == date(2024, 2, 29)
