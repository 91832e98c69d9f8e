"""The eligibility assistant: each route of the CURRENT criteria, as data, for every credential."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.config.integrations import eligibility_criteria
from shared.config.settings import Settings
from shared.rules.eligibility import EligibilityAnswers, Period, assess, years_within
from tests.helpers import call_api

TODAY = date(2026, 5, 1)
RMA = eligibility_criteria()["RMA"]


def check(answers: dict[str, Any], credential: str = "RMA") -> dict[str, Any]:
    result = assess(
        credential, eligibility_criteria()[credential], EligibilityAnswers.model_validate(answers), TODAY
    )
    return {r.route: (r.met, r.missing) for r in result.routes} | {"_met": result.met_routes}


def test_every_catalog_credential_has_criteria() -> None:
    assert set(eligibility_criteria()) == set(Settings().policy().credentials)


def test_nothing_answered_meets_nothing_and_says_what_is_missing() -> None:
    found = check({})
    assert found["_met"] == []
    assert found["program"] == (False, ["graduation from an accredited program within the last 4 years"])
    assert found["work"] == (False, ["3 years of full-time work experience within the last 7 years (have 0)"])
    assert found["military"][0] is False
    assert found["instructor"][0] is False


@pytest.mark.parametrize(
    ("graduated_on", "accredited", "met"),
    [
        ("2022-05-01", True, True),
        ("2022-04-30", True, False),
        ("2025-06-01", False, False),
        ("2026-06-01", True, False),
    ],
)
def test_program_route_graduation_within_n_years(graduated_on: str, accredited: bool, met: bool) -> None:
    found = check({"program": {"accredited": accredited, "graduated_on": graduated_on}})
    assert found["program"][0] is met
    if not accredited:
        assert "the program must be accredited" in found["program"][1]


def test_work_route_counts_full_time_years_inside_the_window_once() -> None:
    enough = check({"work": [{"start": "2023-04-01", "end": None}]})
    assert enough["work"] == (True, [])
    part_time = check({"work": [{"start": "2020-01-01", "full_time": False}]})
    assert part_time["work"][0] is False
    too_old = check({"work": [{"start": "2010-01-01", "end": "2018-12-31"}]})  # outside the last 7 years
    assert too_old["work"][0] is False
    overlapping = check(
        {"work": [{"start": "2024-01-01", "end": "2025-06-30"}, {"start": "2024-06-01", "end": "2025-06-30"}]}
    )
    assert overlapping["work"][0] is False
    assert "have 1.5" in overlapping["work"][1][0]


def test_military_route() -> None:
    assert check({"military": {"completed_on": "2023-01-10", "program": "68W"}})["military"] == (True, [])
    assert check({"military": {"completed_on": "2015-01-10"}})["military"][0] is False


def test_instructor_route() -> None:
    assert check({"instructor": [{"start": "2019-01-01"}]})["instructor"] == (True, [])
    assert check({"instructor": [{"start": "2024-01-01"}]})["instructor"][0] is False


def test_criteria_differ_per_credential() -> None:
    one_year = {"work": [{"start": "2025-01-01"}]}
    assert check(one_year, "RPT")["work"][0] is True
    assert check(one_year, "RMA")["work"][0] is False
    assert check(one_year, "MLS")["work"][0] is False
    assert "program" not in check({}, "AHI")


def test_years_within_clips_to_the_window() -> None:
    periods = [Period(start=date(2018, 1, 1), end=date(2021, 12, 31))]
    assert years_within(periods, date(2020, 1, 1), TODAY, full_time_only=True) == 2.0


def test_assistant_route(aws: dict[str, Any], business_date: Any) -> None:
    business_date("2026-05-01")
    answer = call_api("POST", "/eligibility/rma", {"military": {"completed_on": "2024-02-01"}})
    assert answer.status == 200
    assert answer.body["credential"] == "RMA"
    assert answer.body["eligible"] is True
    assert answer.body["met_routes"] == ["military"]
    assert call_api("POST", "/eligibility/MT", {}).body["credential"] == "MLS"  # aliases resolve
    assert call_api("POST", "/eligibility/XYZ", {}).status == 400
    bad = call_api("POST", "/eligibility/RMA", {"work": [{"start": "2024-01-01", "end": "2023-01-01"}]})
    assert bad.status == 400
