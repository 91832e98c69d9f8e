"""Calendar helpers for the rules. Pure: no clock reads, every date is an argument."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

ONE_DAY = timedelta(days=1)


def add_years(day: date, years: int) -> date:
    """The same month and day ``years`` later (or earlier); Feb 29 becomes Feb 28 in a common year.

    Always computed from the original date, so repeated anniversaries of a Feb-29 date never drift:
    ``add_years(2020-02-29, 1) == 2021-02-28`` but ``add_years(2020-02-29, 4) == 2024-02-29``.
    """
    target = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(target):
        return date(target, 2, 28)
    return day.replace(year=target)


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def last_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def day_after(day: date) -> date:
    return day + ONE_DAY


def day_before(day: date) -> date:
    return day - ONE_DAY
