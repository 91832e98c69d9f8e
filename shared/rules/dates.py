"""Calendar helpers for the rules. Pure: no clock reads, every date is an argument."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_iso_date(text: str) -> date:
    """A calendar date written exactly ``YYYY-MM-DD`` (ValueError otherwise). ``date.fromisoformat``
    alone also takes ``20230501`` and ``2023-W18-1``: not the documented format."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD")
    return date.fromisoformat(text)


def _date_text_only(value: Any) -> Any:
    """pydantic's lax ``date`` takes a number (Unix seconds: ``0`` is 1970-01-01) and a datetime at
    midnight; a date in our inputs is a ``YYYY-MM-DD`` string and nothing else."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # built in code, not parsed from input
    if isinstance(value, str):
        return parse_iso_date(value)
    raise ValueError("a date must be a string written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_date_text_only)]
"""A ``date`` field of a model validated from input: only ``YYYY-MM-DD`` text (or a date object)."""


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
