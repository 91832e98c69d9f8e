"""R2 — CCP cycle windows; R3 — which activities count and how they are tallied; R5's window.

R2: "CCP cycles are 3 years, the first starting on the certification date; cycle n covers
[start + 3(n-1) years, start + 3n years)."

R3: "Points count only for activities completed inside the cycle being reported: before the cycle
start → rejected ("earned before cycle start"); no carry-over of excess into the next cycle.
Employment points are claimable only for employment through 2020-12-31. Points are tallied per
category (...); per-category caps are configuration (default none)."
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, model_validator

from shared.rules.dates import add_years, day_before
from shared.rules.policy import Category, RulesPolicy

REASON_BEFORE_CYCLE_START = "earned before cycle start"
REASON_IN_FUTURE = "completed in the future"

ZERO = Decimal(0)


class Cycle(BaseModel):
    """CCP cycle ``number`` (1-based). ``end`` is the LAST day, inclusive; the next starts ``end + 1``."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    number: int
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Cycle:
        if self.number < 1 or self.end < self.start:
            raise ValueError("cycle number must be >= 1 and end >= start")
        return self

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def cycle_number(certified_on: date, n: int, policy: RulesPolicy) -> Cycle:
    """Cycle ``n`` (n >= 1). Bounds are computed from ``certified_on`` so Feb-29 starts never drift."""
    if n < 1:
        raise ValueError(f"cycle number must be >= 1, got {n}")
    years = policy.cycle_years
    return Cycle(
        number=n,
        start=add_years(certified_on, years * (n - 1)),
        end=day_before(add_years(certified_on, years * n)),
    )


def cycle_containing(certified_on: date, day: date, policy: RulesPolicy) -> Cycle:
    """The cycle whose window holds ``day``; ``day`` must not be before ``certified_on``."""
    if day < certified_on:
        raise ValueError(f"{day} is before the certification date {certified_on}")
    n = max(1, (day.year - certified_on.year) // policy.cycle_years + 1)
    cycle = cycle_number(certified_on, n, policy)
    while day < cycle.start:
        cycle = cycle_number(certified_on, cycle.number - 1, policy)
    while day > cycle.end:
        cycle = cycle_number(certified_on, cycle.number + 1, policy)
    return cycle


def current_cycle(certified_on: date, as_of: date, policy: RulesPolicy) -> Cycle:
    """The cycle containing ``as_of``; cycle 1 while ``as_of`` precedes the certification date."""
    return cycle_containing(certified_on, max(as_of, certified_on), policy)


def late_window_end(cycle: Cycle, policy: RulesPolicy) -> date:
    """R5: the last day on which points earned inside ``cycle`` may still be recorded."""
    return cycle.end + timedelta(days=policy.late_reporting_days)


def previous_cycle_in_window(certified_on: date, as_of: date, policy: RulesPolicy) -> Cycle | None:
    """The just-ended cycle while R5's late-reporting window after it is open on ``as_of``."""
    current = current_cycle(certified_on, as_of, policy)
    if current.number == 1:
        return None
    previous = cycle_number(certified_on, current.number - 1, policy)
    return previous if as_of <= late_window_end(previous, policy) else None


def reporting_cycle(certified_on: date, as_of: date, policy: RulesPolicy) -> Cycle:
    """The earliest cycle still open for reporting on ``as_of`` (R3's "cycle being reported")."""
    return previous_cycle_in_window(certified_on, as_of, policy) or current_cycle(certified_on, as_of, policy)


def employment_rejection(policy: RulesPolicy) -> str:
    return f"employment points only claimable through {policy.employment_points_until.isoformat()}"


def activity_rejection(
    certified_on: date, completed_on: date, category: Category, as_of: date, policy: RulesPolicy
) -> tuple[str | None, Cycle]:
    """R3 acceptance of one activity reported on ``as_of``: (rejection reason or None, its cycle).

    The cycle returned is the one the activity counts for when accepted, else the earliest cycle
    open for reporting (whose start the member must not precede).
    """
    open_from = reporting_cycle(certified_on, as_of, policy)
    if completed_on > as_of:
        return REASON_IN_FUTURE, open_from
    if completed_on < open_from.start:
        return REASON_BEFORE_CYCLE_START, open_from
    if category is Category.EMPLOYMENT and completed_on > policy.employment_points_until:
        return employment_rejection(policy), open_from
    return None, cycle_containing(certified_on, completed_on, policy)


class CreditedActivity(BaseModel):
    """A CE completion with its points and category resolved (explicit or from the catalog)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    key: str
    completed_on: date
    recorded_on: date
    points: Decimal
    category: Category


class Tally(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    earned: Decimal
    by_category: dict[str, Decimal]


def counts_for_cycle(activity: CreditedActivity, cycle: Cycle, policy: RulesPolicy) -> bool:
    """R3 + R5: completed inside the cycle, recorded by the end of its late window, and (for
    employment) completed through the employment cut-off."""
    if not cycle.contains(activity.completed_on):
        return False
    if activity.recorded_on > late_window_end(cycle, policy):
        return False
    return not (
        activity.category is Category.EMPLOYMENT and activity.completed_on > policy.employment_points_until
    )


def tally(activities: Iterable[CreditedActivity], cycle: Cycle, policy: RulesPolicy) -> Tally:
    """Points for ``cycle``: summed per category, each capped by ``policy.category_caps``.

    Only activities that :func:`counts_for_cycle` are summed, so nothing carries over from another
    cycle. Activities are de-duplicated by key. ``by_category`` holds the capped amounts for every
    category, and ``earned`` is their sum.
    """
    seen: dict[str, CreditedActivity] = {}
    for activity in activities:
        if counts_for_cycle(activity, cycle, policy):
            kept = seen.get(activity.key)
            # Deterministic pick if one key is given twice with different content.
            if kept is None or activity.model_dump_json() < kept.model_dump_json():
                seen[activity.key] = activity
    raw: dict[Category, Decimal] = {c: ZERO for c in Category}
    for activity in seen.values():
        raw[activity.category] += activity.points
    by_category: dict[str, Decimal] = {}
    for cat, points in raw.items():
        cap = policy.category_caps.get(cat)
        by_category[cat.value] = min(points, cap) if cap is not None else points
    return Tally(earned=sum(by_category.values(), ZERO), by_category=by_category)
