"""Self-reported CE: what a member records on their own (conferences, college courses, employment
before the cut-off, authorship, presentations, committees). Pure: no I/O, no clock.

- Points per unit of each category are configuration (``RulesPolicy.self_report_points``).
- Employment counts only through ``employment_points_until``: a period that runs past it counts the
  whole months up to it, and (per certification) only the months inside the cycle it is tallied for.
- An activity counts for every certification whose cycle contains its date, unless the member
  named one certification (``entry.credential``).
- The same learning counts once: a self-report that duplicates an LMS or provider-file credit is
  kept but counts 0 (``duplicate_of``).
- Corrections are new versions of the activity; the newest one recorded by the evaluated date is the
  activity (``latest_versions``), a version without entry is a withdrawal.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.rules.cycles import Cycle
from shared.rules.dates import day_before
from shared.rules.models import (
    AcademicHours,
    ActivitySpec,
    CeCompletion,
    ContactHours,
    EmploymentPeriod,
    Fact,
    Points,
    PresentationHours,
    Publication,
    RoleTerm,
    SelfReported,
    SelfReportEntry,
)
from shared.rules.policy import Category, RulesPolicy


class Source(StrEnum):
    """Where a CE record came from (the status breakdown and the activities list)."""

    SELF_REPORTED = "self_reported"
    LMS = "lms"
    PROVIDER_FILE = "provider_file"
    OPENING_BALANCE = "opening_balance"  # points brought over from the previous system at cutover
    OTHER = "other"


def source_of(completion: CeCompletion) -> Source:
    if completion.source.startswith("xapi:"):
        return Source.LMS
    if completion.source.startswith("csv:"):
        return Source.PROVIDER_FILE
    return Source.OTHER


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (Jan 31 + 1 -> Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def full_months(first: date, last: date) -> int:
    """Whole months from ``first`` through ``last`` inclusive: 2020-01-01..2020-01-31 is 1,
    2020-01-15..2020-02-13 is 0, 2020-01-15..2020-02-14 is 1."""
    if last < first:
        return 0
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    while months > 0 and day_before(add_months(first, months)) > last:
        months -= 1
    return months


def effective_date(entry: SelfReportEntry, policy: RulesPolicy) -> date:
    """The date the activity counts on: its completion date; for employment the period's last day
    counted, i.e. no later than the employment cut-off."""
    if entry.category is Category.EMPLOYMENT:
        return min(entry.completed_on, policy.employment_points_until)
    return entry.completed_on


def employment_months(entry: SelfReportEntry, policy: RulesPolicy, window: Cycle | None = None) -> int:
    """Whole months of an employment period through the cut-off (and inside ``window`` if given)."""
    assert isinstance(entry.units, EmploymentPeriod)
    first, last = entry.units.started_on, min(entry.completed_on, policy.employment_points_until)
    if window is not None:
        first, last = max(first, window.start), min(last, window.end)
    return full_months(first, last)


def points_of(entry: SelfReportEntry, policy: RulesPolicy, window: Cycle | None = None) -> Decimal:
    """Points of an entry from its units and the configured rates (``window``: the cycle it is
    tallied for, which bounds an employment period)."""
    rates = policy.self_report_points
    units = entry.units
    match units:
        case ContactHours():
            return units.contact_hours * rates.contact_hour
        case AcademicHours():
            if units.semester_hours is not None:
                return units.semester_hours * rates.semester_hour
            return (units.quarter_hours or Decimal(0)) * rates.quarter_hour
        case EmploymentPeriod():
            return employment_months(entry, policy, window) * rates.employment_month
        case Publication():
            return rates.publication[units.publication_type]
        case PresentationHours():
            return units.presentation_hours * rates.presentation_hour
        case RoleTerm():
            return rates.role_term[units.role]
    raise TypeError(f"no points for {type(units).__name__}")  # pragma: no cover - exhaustive


def latest_versions(facts: Iterable[Fact], known_on: date) -> dict[str, SelfReported]:
    """The newest version of each self-reported activity recorded by ``known_on`` (withdrawals
    included: their ``entry`` is None)."""
    newest: dict[str, SelfReported] = {}
    for fact in facts:
        if isinstance(fact, SelfReported) and fact.recorded_on <= known_on:
            kept = newest.get(fact.activity_id)
            if kept is None or (fact.version, fact.model_dump_json()) > (
                kept.version,
                kept.model_dump_json(),
            ):
                newest[fact.activity_id] = fact
    return newest


def versions_of(facts: Iterable[Fact], activity_id: str) -> list[SelfReported]:
    """Every recorded version of one activity, oldest first."""
    found = [f for f in facts if isinstance(f, SelfReported) and f.activity_id == activity_id]
    return sorted(found, key=lambda f: f.version)


def duplicate_of(
    entry: SelfReportEntry, completions: Iterable[CeCompletion], catalog: Mapping[str, ActivitySpec] | None
) -> CeCompletion | None:
    """The LMS or provider-file credit this entry reports again, if any: the same catalog activity,
    the same certificate id, or the same title and provider on the same date. The title and provider
    are the ones kept on the credit when it was recorded; a credit recorded before they were kept
    takes them from the catalog (``catalog``)."""
    wanted = _signature(entry.title, entry.provider)
    for completion in sorted(completions, key=lambda c: c.key):
        if entry.catalog_activity_id is not None and completion.activity_id == entry.catalog_activity_id:
            return completion
        if entry.certificate_id is not None and entry.certificate_id in (
            completion.certificate_id,
            completion.key.rpartition("/")[2] if source_of(completion) is Source.PROVIDER_FILE else None,
        ):
            return completion
        if (
            completion.completed_on == entry.completed_on
            and _title_and_provider(completion, catalog) == wanted
        ):
            return completion
    return None


def _signature(title: str, provider: str) -> tuple[str, str]:
    return title.casefold().strip(), provider.casefold().strip()


def _title_and_provider(
    completion: CeCompletion, catalog: Mapping[str, ActivitySpec] | None
) -> tuple[str, str] | None:
    """The credit's own title and provider, else (a fact recorded before they were kept) the
    catalog's; None when neither knows them."""
    if completion.title is not None and completion.provider is not None:
        return _signature(completion.title, completion.provider)
    spec = (catalog or {}).get(completion.activity_id)
    return None if spec is None else _signature(spec.title, spec.provider_id)


def applies_to(entry: SelfReportEntry, credential: str, policy: RulesPolicy) -> bool:
    """Whether the entry may count for ``credential`` (it names no certification, or this one)."""
    if entry.credential is None:
        return True
    return policy.canonical_code(entry.credential) == policy.canonical_code(credential)


class CreditReason(StrEnum):
    """Why a CE record counts 0 for a certification."""

    OTHER_CERTIFICATION = "entered for another certification"
    BEFORE_CERTIFICATION = "completed before this certification's current epoch"
    VOIDED = "voided by the LMS"
    NOT_IN_CATALOG = "activity not in the catalog yet"
    DUPLICATE = "duplicate of another record of the same learning"
    EMPLOYMENT_CUT_OFF = "employment points only claimable through the employment cut-off"
    RECORDED_LATE = "recorded after the cycle's late-documentation window"
    IN_FUTURE = "completed in the future"
    NO_WHOLE_MONTH = "no whole month of employment inside the cycle"
    DISALLOWED = "disallowed by the CCP audit"


class ActivityCredit(BaseModel):
    """What one CE record counts for one certification, and why it counts 0 when it does."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    credential: str
    points: Points
    counted: bool
    reason: CreditReason | None = None
    duplicate_of: str | None = None  # the record it duplicates ("{source}:{key}")
    cycle_number: int | None = None
    cycle_start: date | None = None
    cycle_end: date | None = None


def duplicate_catalog_ids(facts: Iterable[Fact]) -> set[str]:
    """Activity ids whose catalog entry (title, provider) is needed to tell whether a self-report
    repeats them: other sources' completions dated on the same day as a self-reported entry that do
    not carry their own title and provider (recorded before they were kept on the fact)."""
    facts = list(facts)
    days = {f.entry.completed_on for f in facts if isinstance(f, SelfReported) and f.entry is not None}
    return {
        f.activity_id
        for f in facts
        if isinstance(f, CeCompletion) and f.completed_on in days and (f.title is None or f.provider is None)
    }
