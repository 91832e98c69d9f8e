"""Opening balances: the rules continue from a migrated certification's state on the cutover date."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rules_helpers import EMP, PE, POLICY, ce, cert, d, opening, pay, recert

from shared.rules.fees import fees_covered
from shared.rules.models import (
    CeCompletion,
    Certification,
    CertificationStatus,
    Fact,
    FeePayment,
    OpeningBalance,
    Reason,
    RecertMethod,
    Standing,
)
from shared.rules.opening import BalanceProblem, InvalidOpeningBalance, balance_of, check_opening_balance
from shared.rules.policy import Category
from shared.rules.schedule import notices_due
from shared.rules.status import REASON_BEFORE_CUTOVER, decide_activity, evaluate

TODAY = d("2026-01-01")
CARLA = cert("2004-02-10", "CMAS")  # pre-2006: CCP voluntary
CARLA_BALANCE = opening("2021-10-01", "2022-02-09", "2019-02-10", credential="CMAS")
# post-2006: cycle 2 runs 2019-05-14..2022-05-13, its late window to 2022-08-11
RITA = cert("2016-05-14")
RITA_BALANCE = opening("2021-10-01", "2022-05-13", "2019-05-14", points={PE: 20})


@pytest.mark.parametrize(
    ("paid_through", "fees"),
    [("2020-05-13", 0), ("2020-12-31", 0), ("2021-05-12", 0), ("2021-05-13", 1), ("2030-05-13", 10)],
)
def test_paid_through_counts_whole_fee_years(paid_through: str, fees: int) -> None:
    assert fees_covered(d("2019-05-14"), d(paid_through)) == fees


def test_pre_2006_member_with_fees_paid_arrives_active_and_follows_the_fee_rule() -> None:
    assert evaluate(CARLA, [], d("2021-10-01"), POLICY).status is Standing.LAPSED  # without a balance
    status = evaluate(CARLA, [CARLA_BALANCE], d("2021-10-01"), POLICY)
    assert (status.status, status.fees.paid_through, status.fees.fees_paid) == (
        Standing.ACTIVE,
        d("2022-02-09"),
        17,
    )
    assert status.cutover_on == d("2021-10-01")
    assert not status.ccp.mandatory
    overdue = evaluate(CARLA, [CARLA_BALANCE], d("2022-03-01"), POLICY)
    assert (overdue.status, overdue.reasons) == (Standing.DELINQUENT, (Reason.FEE_OVERDUE,))
    paid = pay("pi1", "2022-02-15", credential="CMAS")
    assert evaluate(CARLA, [CARLA_BALANCE, paid], d("2022-03-01"), POLICY).status is Standing.ACTIVE
    # no CCP lapse for a voluntary certification, years later, fees kept up
    fees = [pay(f"pi{y}", f"{y}-02-01", credential="CMAS") for y in range(2022, 2031)]
    assert evaluate(CARLA, [CARLA_BALANCE, *fees], d("2030-06-01"), POLICY).status is Standing.ACTIVE


def test_post_2006_points_of_the_balance_count_for_its_cycle() -> None:
    status = evaluate(RITA, [RITA_BALANCE], d("2021-10-01"), POLICY)
    assert (status.status, status.ccp.cycle_number, status.ccp.earned, status.ccp.remaining) == (
        Standing.ACTIVE,
        2,
        Decimal(20),
        Decimal(10),
    )
    fee = pay("pi1", "2022-05-01")
    done = [RITA_BALANCE, fee, ce("c1", "2022-01-10", 10)]
    assert evaluate(RITA, done, d("2022-08-12"), POLICY).status is Standing.ACTIVE
    short = evaluate(RITA, [RITA_BALANCE, fee], d("2022-08-12"), POLICY)
    assert (short.status, short.lapsed_on, short.reasons) == (
        Standing.LAPSED,
        d("2022-08-12"),
        (Reason.CCP_NOT_DOCUMENTED,),
    )


def test_history_dated_before_the_cutover_is_the_balance_alone() -> None:
    # a CE completion and a payment dated before the cutover, reported after it, change nothing
    late_ce = ce("c0", "2021-09-01", 10, recorded_on="2021-10-05")
    late_pay = pay("pi0", "2021-09-01", "2021-10-05")
    status = evaluate(RITA, [RITA_BALANCE, late_ce, late_pay], d("2021-10-05"), POLICY)
    assert (status.ccp.earned, status.fees.fees_paid) == (Decimal(20), 5)
    decision = decide_activity(RITA, [RITA_BALANCE], d("2021-09-01"), PE, d("2021-10-05"), POLICY)
    assert (decision.accepted, decision.reason) == (False, REASON_BEFORE_CUTOVER)
    assert decide_activity(RITA, [RITA_BALANCE], d("2021-10-02"), PE, d("2021-10-05"), POLICY).accepted


def test_cutover_inside_the_late_window_continues_the_ended_cycle() -> None:
    short = opening("2022-06-15", "2023-05-13", "2019-05-14", points={PE: 10}, standing=Standing.DELINQUENT)
    status = check_opening_balance(RITA, short, TODAY, POLICY)
    assert (status.status, status.reasons, status.ccp.cycle_number) == (
        Standing.DELINQUENT,
        (Reason.CCP_INCOMPLETE,),
        2,
    )
    assert evaluate(RITA, [short], d("2022-08-12"), POLICY).status is Standing.LAPSED
    # the balance of the new cycle settles the ended one
    settled = opening("2022-06-15", "2023-05-13", "2022-05-14")
    assert check_opening_balance(RITA, settled, TODAY, POLICY).status is Standing.ACTIVE
    assert evaluate(RITA, [settled], d("2022-08-12"), POLICY).status is Standing.ACTIVE


@pytest.mark.parametrize(
    ("lapsed_on", "on", "methods"),
    [
        ("2015-06-01", "2021-10-01", (RecertMethod.CCP, RecertMethod.EXAM)),
        ("2015-06-01", "2025-06-01", (RecertMethod.EXAM,)),
        ("2010-06-01", "2021-10-01", (RecertMethod.EXAM,)),
    ],
)
def test_imported_lapse_measures_r8_from_the_imported_date(
    lapsed_on: str, on: str, methods: tuple[RecertMethod, ...]
) -> None:
    member = cert("2008-03-01")
    balance = opening(
        "2021-10-01",
        "2010-02-28",
        "2020-03-01",
        standing=Standing.LAPSED,
        lapsed_on=lapsed_on,
        lapse_reason=Reason.FEE_UNPAID_3_YEARS,
    )
    assert check_opening_balance(member, balance, TODAY, POLICY).lapsed_on == d(lapsed_on)
    status = evaluate(member, [balance], d(on), POLICY)
    assert (status.status, status.lapsed_on, status.reasons) == (
        Standing.LAPSED,
        d(lapsed_on),
        (Reason.FEE_UNPAID_3_YEARS,),
    )
    assert status.recertification.allowed_methods == methods
    back = evaluate(member, [balance, recert("r1", "2022-03-01")], d("2022-03-02"), POLICY)
    assert (back.status, back.certified_on, back.cutover_on) == (Standing.ACTIVE, d("2022-03-01"), None)


@pytest.mark.parametrize(
    ("member", "balance", "problem"),
    [
        (RITA, opening("2026-01-02", "2027-05-13", "2025-05-14"), BalanceProblem.CUTOVER_IN_FUTURE),
        (RITA, opening("2016-01-01", "2017-05-13", "2016-05-14"), BalanceProblem.CUTOVER_BEFORE_CERTIFIED),
        (
            RITA,
            opening("2021-10-01", "2016-05-13", "2019-05-14"),
            BalanceProblem.PAID_THROUGH_BEFORE_CERTIFIED,
        ),
        (RITA, opening("2021-10-01", "2022-05-13", "2020-01-01"), BalanceProblem.NOT_A_CYCLE),
        (RITA, opening("2021-10-01", "2022-05-13", "2016-05-14"), BalanceProblem.NOT_A_CYCLE),
        (
            RITA,
            opening("2023-10-01", "2024-05-13", "2022-05-14", points={EMP: 5}),
            BalanceProblem.EMPLOYMENT_AFTER_CUTOFF,
        ),
        (
            RITA,
            opening("2021-10-01", "2022-05-13", "2019-05-14", standing=Standing.LAPSED),
            BalanceProblem.LAPSE_DATE_MISSING,
        ),
        (
            RITA,
            opening("2021-10-01", "2022-05-13", "2019-05-14", lapsed_on="2020-01-01"),
            BalanceProblem.LAPSE_DATE_UNEXPECTED,
        ),
        (
            RITA,
            opening(
                "2021-10-01",
                "2022-05-13",
                "2019-05-14",
                standing=Standing.LAPSED,
                lapsed_on="2021-10-02",
                lapse_reason=Reason.CCP_NOT_DOCUMENTED,
            ),
            BalanceProblem.LAPSE_OUT_OF_RANGE,
        ),
        (
            RITA,
            opening(
                "2021-10-01",
                "2022-05-13",
                "2019-05-14",
                standing=Standing.LAPSED,
                lapsed_on="2021-01-02",
                lapse_reason=Reason.FEE_OVERDUE,
            ),
            BalanceProblem.NOT_A_LAPSE_REASON,
        ),
        # fees unpaid since 2012: the 3-year fee lapse passed before the cutover, not "active"
        (
            cert("2010-03-01"),
            opening("2021-10-01", "2012-02-29", "2019-03-01"),
            BalanceProblem.STANDING_MISMATCH,
        ),
        # one fee overdue: delinquent, not active
        (RITA, opening("2021-10-01", "2021-05-13", "2019-05-14"), BalanceProblem.STANDING_MISMATCH),
    ],
)
def test_a_balance_these_rules_could_not_reach_is_refused(
    member: Certification, balance: OpeningBalance, problem: BalanceProblem
) -> None:
    with pytest.raises(InvalidOpeningBalance) as refused:
        check_opening_balance(member, balance, TODAY, POLICY)
    assert refused.value.problem is problem


def test_standing_mismatch_names_what_the_balance_gives() -> None:
    with pytest.raises(InvalidOpeningBalance) as refused:
        check_opening_balance(
            cert("2010-03-01"), opening("2021-10-01", "2012-02-29", "2019-03-01"), TODAY, POLICY
        )
    assert (refused.value.field, refused.value.detail) == ("standing", "they give lapsed (fee_unpaid_lapse)")


def test_no_notice_dated_before_the_cutover() -> None:
    balance = opening("2021-12-20", "2022-02-09", "2019-02-10", credential="CMAS")
    status = evaluate(CARLA, [balance], d("2021-12-20"), POLICY)
    assert notices_due(status, d("2021-12-20"), POLICY) == []
    # the same status without a cutover would owe the renewal notice of 2021-12-03
    before = notices_due(status.model_copy(update={"cutover_on": None}), d("2021-12-20"), POLICY)
    assert [(n.kind, n.on) for n in before] == [("renewal_before", d("2021-12-03"))]
    due = notices_due(evaluate(CARLA, [balance], d("2022-02-01"), POLICY), d("2022-02-01"), POLICY)
    assert [(n.kind, n.period) for n in due] == [("renewal_due", "2022-02")]


# ---------------------------------------------------------------- property: a balance continues exactly


@st.composite
def on_time_history(draw: st.DrawFn) -> tuple[Certification, list[Fact], date, date]:
    """A certification with annual-fee payments and CE completions, each recorded on the day it
    happened (no late facts), a cutover date and a later evaluation date."""
    certified = draw(st.dates(min_value=date(2004, 1, 1), max_value=date(2018, 12, 31)))
    cutover = draw(st.dates(min_value=certified, max_value=date(2024, 12, 31)))
    later = draw(st.dates(min_value=cutover, max_value=date(2030, 12, 31)))
    days = st.dates(min_value=certified, max_value=date(2030, 12, 31))
    payments = [
        pay(f"p{i}", paid_on.isoformat()) for i, paid_on in enumerate(draw(st.lists(days, max_size=14)))
    ]
    completions = [
        ce(f"c{i}", done.isoformat(), draw(st.integers(1, 20)), draw(st.sampled_from(list(Category))))
        for i, done in enumerate(draw(st.lists(days, max_size=8)))
    ]
    return cert(certified.isoformat()), [*payments, *completions], cutover, later


def _facts_from(facts: list[Fact], day: date) -> list[Fact]:
    return [f for f in facts if not isinstance(f, FeePayment | CeCompletion) or _happened(f) >= day]


def _happened(fact: FeePayment | CeCompletion) -> date:
    return fact.paid_on if isinstance(fact, FeePayment) else fact.completed_on


def _essentials(status: CertificationStatus) -> tuple[object, ...]:
    return (
        status.status,
        status.reasons,
        status.lapsed_on,
        status.fees.fees_paid,
        status.fees.overdue_since,
        status.ccp.cycle_number,
        status.ccp.earned,
        status.ccp.by_category,
        status.recertification,
    )


def _balance_continues_exactly(history: tuple[Certification, list[Fact], date, date]) -> None:
    member, facts, cutover, later = history
    # the balance is the state at the end of the day before the cutover: facts dated from the
    # cutover on are this system's
    eve = cutover - timedelta(days=1)
    assume(eve >= member.certified_on)
    before = evaluate(member, facts, eve, POLICY)
    # Outside the property (documented): a lapse with several reasons on one day (a balance names
    # one), and the eve inside the late window of a short ended cycle (the balance carries that
    # cycle's points; points already earned in the new cycle would need a second cycle in it).
    assume(len(before.reasons) <= 1 or before.status is not Standing.LAPSED)
    assume(before.ccp.cycle_end >= eve)
    balance = balance_of(before, cutover)
    alone = evaluate(member, [balance], cutover, POLICY)
    if alone.status is not Standing.LAPSED or balance.standing is Standing.LAPSED:
        # a balance the import would accept, in the standing it gives on the cutover day
        check_opening_balance(member, balance.model_copy(update={"standing": alone.status}), cutover, POLICY)
    continued = evaluate(member, [balance, *_facts_from(facts, cutover)], later, POLICY)
    assert _essentials(continued) == _essentials(evaluate(member, facts, later, POLICY))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(on_time_history())
def test_a_balance_of_the_status_plus_later_facts_equals_all_facts(
    history: tuple[Certification, list[Fact], date, date],
) -> None:
    _balance_continues_exactly(history)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(on_time_history())
def test_a_balance_of_the_status_plus_later_facts_equals_all_facts_slow(
    history: tuple[Certification, list[Fact], date, date],
) -> None:
    _balance_continues_exactly(history)
