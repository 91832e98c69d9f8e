"""R2 cycle windows and R3 activity acceptance, employment cut-off, per-category tallies and caps."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_helpers import EMP, PE, POLICY, ce, cert, d, fees_paid_on_time, make_policy, recert

from shared.rules.cycles import (
    REASON_BEFORE_CYCLE_START,
    REASON_IN_FUTURE,
    CreditedActivity,
    cycle_containing,
    cycle_number,
    tally,
)
from shared.rules.models import Reason, Standing
from shared.rules.policy import Category
from shared.rules.status import decide_activity, evaluate

EMPLOYMENT_REASON = "employment points only claimable through 2020-12-31"


@pytest.mark.parametrize(
    ("certified_on", "n", "start", "end"),
    [
        ("2019-05-14", 1, "2019-05-14", "2022-05-13"),
        ("2019-05-14", 2, "2022-05-14", "2025-05-13"),
        ("2019-05-14", 3, "2025-05-14", "2028-05-13"),
        ("2019-01-01", 1, "2019-01-01", "2021-12-31"),
        # Feb-29 certification: bounds always computed from the original date, never drifting
        ("2020-02-29", 1, "2020-02-29", "2023-02-27"),
        ("2020-02-29", 2, "2023-02-28", "2026-02-27"),
        ("2020-02-29", 4, "2029-02-28", "2032-02-28"),
        ("2020-02-29", 5, "2032-02-29", "2035-02-27"),
    ],
)
def test_cycle_number(certified_on: str, n: int, start: str, end: str) -> None:
    cycle = cycle_number(d(certified_on), n, POLICY)
    assert (cycle.number, cycle.start, cycle.end) == (n, d(start), d(end))


@pytest.mark.parametrize(
    ("certified_on", "day", "n"),
    [
        ("2019-05-14", "2019-05-14", 1),  # certification day
        ("2019-05-14", "2022-05-13", 1),  # last day of cycle 1
        ("2019-05-14", "2022-05-14", 2),  # first day of cycle 2
        ("2019-05-14", "2022-05-15", 2),
        ("2019-05-14", "2025-05-13", 2),
        ("2019-05-14", "2025-05-14", 3),
        ("2020-02-29", "2023-02-27", 1),
        ("2020-02-29", "2023-02-28", 2),
        ("2020-02-29", "2032-02-28", 4),
        ("2020-02-29", "2032-02-29", 5),
    ],
)
def test_cycle_containing(certified_on: str, day: str, n: int) -> None:
    cycle = cycle_containing(d(certified_on), d(day), POLICY)
    assert cycle.number == n
    assert cycle.contains(d(day))


def test_cycle_containing_rejects_days_before_certification() -> None:
    with pytest.raises(ValueError, match="before the certification date"):
        cycle_containing(d("2019-05-14"), d("2019-05-13"), POLICY)


def test_cycle_length_is_configurable() -> None:
    cycle = cycle_number(d("2019-05-14"), 2, make_policy(cycle_years=2))
    assert (cycle.start, cycle.end) == (d("2021-05-14"), d("2023-05-13"))


@settings(max_examples=200, deadline=None)
@given(
    certified_on=st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    offset=st.integers(min_value=0, max_value=40 * 366),
)
def test_cycles_tile_the_calendar(certified_on: date, offset: int) -> None:
    day = certified_on + timedelta(days=offset)
    cycle = cycle_containing(certified_on, day, POLICY)
    assert cycle.start <= day <= cycle.end
    assert cycle == cycle_number(certified_on, cycle.number, POLICY)
    following = cycle_number(certified_on, cycle.number + 1, POLICY)
    assert following.start == cycle.end + timedelta(days=1)
    if cycle.number > 1:
        assert cycle_number(certified_on, cycle.number - 1, POLICY).end == cycle.start - timedelta(days=1)


# ------------------------------------------------------------ decide_activity (R3)
# certified 2019-05-14: cycle 1 = 2019-05-14..2022-05-13; its late window ends 2022-08-11 (day 90).

CERT = cert("2019-05-14")


@pytest.mark.parametrize(
    ("as_of", "completed_on", "category", "reason", "cycle_start"),
    [
        # inside cycle 1
        ("2021-01-10", "2019-05-13", PE, REASON_BEFORE_CYCLE_START, "2019-05-14"),  # before certification
        ("2021-01-10", "2019-05-14", PE, None, "2019-05-14"),
        ("2021-01-10", "2021-01-10", PE, None, "2019-05-14"),
        ("2021-01-10", "2021-01-11", PE, REASON_IN_FUTURE, "2019-05-14"),
        # employment cut-off 2020-12-31
        ("2021-01-10", "2020-12-30", EMP, None, "2019-05-14"),
        ("2021-01-10", "2020-12-31", EMP, None, "2019-05-14"),
        ("2021-01-10", "2021-01-01", EMP, EMPLOYMENT_REASON, "2019-05-14"),
        ("2021-01-10", "2021-01-01", PE, None, "2019-05-14"),
        # cycle 2 has started but cycle 1's late window is open (through 2022-08-11)
        ("2022-05-14", "2022-05-13", PE, None, "2019-05-14"),
        ("2022-08-11", "2022-05-13", PE, None, "2019-05-14"),  # day 90
        ("2022-08-11", "2019-05-14", PE, None, "2019-05-14"),
        ("2022-08-11", "2019-05-13", PE, REASON_BEFORE_CYCLE_START, "2019-05-14"),
        ("2022-08-11", "2022-05-14", PE, None, "2022-05-14"),
        # window closed (day 91): the ended cycle can no longer be reported
        ("2022-08-12", "2022-05-13", PE, REASON_BEFORE_CYCLE_START, "2022-05-14"),
        ("2022-08-12", "2022-05-14", PE, None, "2022-05-14"),
        ("2022-08-12", "2022-08-12", PE, None, "2022-05-14"),
        ("2022-08-12", "2022-08-13", PE, REASON_IN_FUTURE, "2022-05-14"),
        ("2022-08-12", "2022-06-01", EMP, EMPLOYMENT_REASON, "2022-05-14"),
    ],
)
def test_decide_activity(
    as_of: str, completed_on: str, category: Category, reason: str | None, cycle_start: str
) -> None:
    decision = decide_activity(CERT, [], d(completed_on), category, d(as_of), POLICY)
    assert decision.accepted is (reason is None)
    assert decision.reason == reason
    assert decision.cycle_start == d(cycle_start)


def test_employment_cutoff_message_uses_policy_date() -> None:
    policy = make_policy(employment_points_until=date(2019, 6, 30))
    decision = decide_activity(CERT, [], d("2019-07-01"), EMP, d("2019-08-01"), policy)
    assert decision.reason == "employment points only claimable through 2019-06-30"
    assert decide_activity(CERT, [], d("2019-06-30"), EMP, d("2019-08-01"), policy).accepted


def test_late_window_length_is_configurable() -> None:
    policy = make_policy(late_reporting_days=30)
    # cycle 1 ends 2022-05-13: day 30 is 2022-06-12
    assert decide_activity(CERT, [], d("2022-05-13"), PE, d("2022-06-12"), policy).accepted
    assert not decide_activity(CERT, [], d("2022-05-13"), PE, d("2022-06-13"), policy).accepted


@pytest.mark.parametrize(
    ("completed_on", "as_of", "accepted"),
    [
        ("2024-03-09", "2024-06-01", False),  # before the recertification date: old epoch
        ("2024-03-10", "2024-06-01", True),
        ("2024-03-10", "2024-03-09", False),  # recertification not yet completed on as_of: future
    ],
)
def test_decide_activity_after_recertification(completed_on: str, as_of: str, accepted: bool) -> None:
    old = cert("2010-01-01")
    facts = [recert("rc1", "2024-03-10")]
    decision = decide_activity(old, facts, d(completed_on), PE, d(as_of), POLICY)
    assert decision.accepted is accepted


def test_decide_activity_before_certification_date() -> None:
    future = cert("2025-01-01")
    decision = decide_activity(future, [], d("2024-11-01"), PE, d("2024-12-01"), POLICY)
    assert decision.reason == REASON_BEFORE_CYCLE_START
    assert decision.cycle_start == d("2025-01-01")


# ------------------------------------------------------------ tallies and caps


def _act(
    key: str, completed_on: str, points: str, category: Category = PE, recorded_on: str | None = None
) -> CreditedActivity:
    return CreditedActivity(
        key=key,
        completed_on=d(completed_on),
        recorded_on=d(recorded_on or completed_on),
        points=Decimal(points),
        category=category,
    )


CYCLE1 = cycle_number(d("2019-05-14"), 1, POLICY)


def test_tally_lists_every_category() -> None:
    result = tally([], CYCLE1, POLICY)
    assert result.earned == 0
    assert result.by_category == {c.value: Decimal(0) for c in Category}


@pytest.mark.parametrize(
    ("caps", "points", "earned", "employment"),
    [
        ({}, ["15", "10"], "25", "15"),  # default: no caps
        ({EMP: Decimal(10)}, ["9.5", "10"], "19.5", "9.5"),  # under the cap
        ({EMP: Decimal(10)}, ["10", "10"], "20", "10"),  # at the cap
        ({EMP: Decimal(10)}, ["10.5", "10"], "20", "10"),  # just over
        ({EMP: Decimal(10)}, ["40", "10"], "20", "10"),
        ({PE: Decimal(5)}, ["15", "10"], "20", "15"),  # the cap applies to its own category only
    ],
)
def test_category_caps(
    caps: dict[Category, Decimal], points: list[str], earned: str, employment: str
) -> None:
    policy = make_policy(category_caps=caps)
    activities = [_act("e", "2020-01-01", points[0], EMP), _act("p", "2020-01-01", points[1], PE)]
    result = tally(activities, CYCLE1, policy)
    assert result.earned == Decimal(earned)
    assert result.by_category["employment"] == Decimal(employment)
    assert sum(result.by_category.values()) == result.earned


@pytest.mark.parametrize(
    ("completed_on", "recorded_on", "category", "counts"),
    [
        ("2019-05-13", None, PE, False),  # before cycle start
        ("2019-05-14", None, PE, True),
        ("2022-05-13", None, PE, True),  # last day
        ("2022-05-14", None, PE, False),  # next cycle: no carry-over either way
        ("2022-05-13", "2022-08-11", PE, True),  # recorded on day 90 of the late window
        ("2022-05-13", "2022-08-12", PE, False),  # day 91
        ("2020-12-31", None, EMP, True),
        ("2021-01-01", None, EMP, False),
    ],
)
def test_tally_window(completed_on: str, recorded_on: str | None, category: Category, counts: bool) -> None:
    result = tally([_act("a", completed_on, "7", category, recorded_on)], CYCLE1, POLICY)
    assert result.earned == (Decimal(7) if counts else Decimal(0))


def test_tally_counts_a_key_once() -> None:
    result = tally(
        [_act("a", "2020-01-01", "7"), _act("a", "2020-01-01", "7", recorded_on="2020-01-02")], CYCLE1, POLICY
    )
    assert result.earned == Decimal(7)


def test_no_carry_over_of_excess_points() -> None:
    facts = [ce("c1", "2020-01-01", 60)]
    # cycle 1 shows the excess; cycle 2 (from 2022-05-14) starts at zero
    assert evaluate(CERT, facts, d("2022-05-13"), POLICY).ccp.earned == 60
    status = evaluate(CERT, facts, d("2022-05-14"), POLICY)
    assert (status.ccp.cycle_number, status.ccp.earned, status.ccp.remaining) == (2, 0, 30)


def test_category_caps_apply_in_evaluate() -> None:
    policy = make_policy(category_caps={EMP: Decimal(10)})
    facts = [
        ce("e1", "2019-06-01", 25, EMP),
        ce("p1", "2019-07-01", 15, PE),
        *fees_paid_on_time("2019-05-14", 3),
    ]
    status = evaluate(CERT, facts, d("2020-01-01"), policy)
    assert status.ccp.by_category["employment"] == 10
    assert status.ccp.earned == 25
    assert status.ccp.remaining == 5
    # short after the cap -> ccp_incomplete in the late window even though 40 points were logged
    status = evaluate(CERT, facts, d("2022-05-14"), policy)
    assert (status.status, status.reasons) == (Standing.DELINQUENT, (Reason.CCP_INCOMPLETE,))
    assert evaluate(CERT, facts, d("2022-05-14"), POLICY).status is Standing.ACTIVE  # uncapped: 40 >= 30


def test_a_same_day_recertification_does_not_move_the_cycle_a_completion_is_judged_in() -> None:
    """An exam passed 2021-06-29 and recorded 2021-07-02 opens a cycle on 06-29. A completion of
    06-22 reported on 07-02 is judged in the cycle known the day before (accepted, as it would be had
    it arrived before the exam result); reported on 07-03 it is before the new cycle's start."""
    passed = recert("exam", "2021-06-29", "2021-07-02")
    same_day = decide_activity(CERT, [passed], d("2021-06-22"), PE, d("2021-07-02"), POLICY)
    assert (same_day.accepted, same_day.cycle_start) == (True, d("2019-05-14"))
    assert same_day == decide_activity(CERT, [], d("2021-06-22"), PE, d("2021-07-02"), POLICY)
    next_day = decide_activity(CERT, [passed], d("2021-06-22"), PE, d("2021-07-03"), POLICY)
    assert (next_day.reason, next_day.cycle_start) == (REASON_BEFORE_CYCLE_START, d("2021-06-29"))
