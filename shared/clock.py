"""The business clock: the one place that turns "now" into a business date.

Business dates are calendar dates in the configured zone (BUSINESS_TIMEZONE). Tests and the local
stack move the clock by setting ``STAYCERT_BUSINESS_DATE`` (ISO date); production leaves it unset.
Signature timestamp checks must use ``wall_clock_seconds`` instead - they are about real time.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_DATE_ENV = "STAYCERT_BUSINESS_DATE"


def business_today(zone: ZoneInfo) -> date:
    override = os.environ.get(BUSINESS_DATE_ENV)
    if override:
        return date.fromisoformat(override)
    return datetime.now(zone).date()


def business_date_of(moment: datetime, zone: ZoneInfo) -> date:
    """The business date of an aware timestamp (e.g. a Stripe ``created`` or an xAPI ``timestamp``).

    Total: a moment whose local date falls outside what ``date`` holds (``0001-01-01T00:00:00Z`` west
    of Greenwich, ``9999-12-31T23:00:00Z`` east of it) is clamped to ``date.min`` / ``date.max`` - the
    rules then reject it as before the cycle / in the future instead of the handler failing."""
    try:
        return moment.astimezone(zone).date()
    except OverflowError:
        return date.min if moment.year == 1 else date.max


def wall_clock_seconds() -> int:
    return int(time.time())
