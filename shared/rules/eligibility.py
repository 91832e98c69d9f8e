"""Exam eligibility: which of a credential's CURRENT eligibility routes an applicant's answers meet.

The seed: "You must meet CURRENT eligibility criteria, not those at initial certification". Criteria
are data (``shared/config/eligibility.json``, one list of routes per credential); this module only
interprets them. Pure: ``as_of`` is an argument.

Route kinds:

* ``program`` - graduated from an accredited program within ``within_years`` of ``as_of``;
* ``work`` - ``years`` of full-time work experience in the field within the last ``within_years``;
* ``military`` - completed a military medical training program (within ``within_years`` if set);
* ``instructor`` - ``years`` of instructor experience within the last ``within_years``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.rules.dates import IsoDate, add_years

_DAYS_PER_YEAR = 365.25


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class EligibilityRoute(_Frozen):
    id: str = Field(min_length=1)
    kind: Literal["program", "work", "military", "instructor"]
    title: str
    years: float = Field(default=0, ge=0)  # experience needed (work, instructor)
    within_years: int | None = Field(default=None, ge=1)  # look-back window


class Period(_Frozen):
    start: IsoDate
    end: IsoDate | None = Field(default=None, description="None while ongoing")
    full_time: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class ProgramAnswer(_Frozen):
    accredited: bool
    graduated_on: IsoDate


class MilitaryAnswer(_Frozen):
    completed_on: IsoDate
    program: str = Field(default="", max_length=200)


class EligibilityAnswers(_Frozen):
    """What an applicant tells the eligibility assistant; every part is optional."""

    program: ProgramAnswer | None = None
    work: list[Period] = Field(default_factory=list, max_length=50)
    military: MilitaryAnswer | None = None
    instructor: list[Period] = Field(default_factory=list, max_length=50)


class RouteResult(_Frozen):
    route: str
    title: str
    met: bool
    missing: list[str]


class EligibilityResult(_Frozen):
    credential: str
    as_of: date
    eligible: bool
    met_routes: list[str]
    routes: list[RouteResult]


def years_within(
    periods: Iterable[Period], window_start: date, as_of: date, *, full_time_only: bool
) -> float:
    """Years covered by ``periods`` inside ``[window_start, as_of]``; overlapping periods count once."""
    spans: list[tuple[date, date]] = []
    for p in periods:
        if full_time_only and not p.full_time:
            continue
        start, end = max(p.start, window_start), min(p.end or as_of, as_of)
        if end >= start:
            spans.append((start, end))
    days = 0
    current: tuple[date, date] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                days += (current[1] - current[0]).days + 1
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        days += (current[1] - current[0]).days + 1
    return round(days / _DAYS_PER_YEAR, 2)


def _window_start(route: EligibilityRoute, as_of: date) -> date:
    return add_years(as_of, -route.within_years) if route.within_years else date.min


def _assess_route(route: EligibilityRoute, answers: EligibilityAnswers, as_of: date) -> list[str]:
    """What is missing for one route (empty: met)."""
    since = _window_start(route, as_of)
    window = f" within the last {route.within_years} years" if route.within_years else ""
    if route.kind == "program":
        program = answers.program
        if program is None:
            return [f"graduation from an accredited program{window}"]
        missing = []
        if not program.accredited:
            missing.append("the program must be accredited")
        if not since <= program.graduated_on <= as_of:
            missing.append(f"graduation must be{window or ' in the past'} (graduated {program.graduated_on})")
        return missing
    if route.kind == "military":
        military = answers.military
        if military is None:
            return [f"completion of a military medical training program{window}"]
        if not since <= military.completed_on <= as_of:
            return [f"military training must be completed{window or ' in the past'}"]
        return []
    periods = answers.work if route.kind == "work" else answers.instructor
    have = years_within(periods, since, as_of, full_time_only=route.kind == "work")
    if have + 1e-9 >= route.years:
        return []
    what = "full-time work experience" if route.kind == "work" else "instructor experience"
    return [f"{route.years:g} years of {what}{window} (have {have:g})"]


def assess(
    credential: str, routes: Sequence[EligibilityRoute], answers: EligibilityAnswers, as_of: date
) -> EligibilityResult:
    """Which routes the answers meet on ``as_of``, and what is missing for each of the others."""
    results = [
        RouteResult(route=r.id, title=r.title, met=not missing, missing=missing)
        for r in routes
        for missing in [_assess_route(r, answers, as_of)]
    ]
    met = [r.route for r in results if r.met]
    return EligibilityResult(
        credential=credential, as_of=as_of, eligible=bool(met), met_routes=met, routes=results
    )
