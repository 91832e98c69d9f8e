"""R4-R8 through evaluate(): auto-roll, late documentation, standing, lapse, recertification paths."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from rules_helpers import (
    EMP,
    PE,
    POLICY,
    activity,
    ce,
    cert,
    d,
    decided,
    drawn,
    fees_paid_on_time,
    make_policy,
    pay,
    recert,
    reverse,
    void,
    withdraw,
)

from shared.rules.models import Fact, Reason, RecertMethod, Standing
from shared.rules.status import (
    effective_certified_on,
    evaluate,
    fee_paid_since,
    recertified_from,
    standing_history,
    unmapped_activity_ids,
)

ACTIVE, DELINQUENT, LAPSED = Standing.ACTIVE, Standing.DELINQUENT, Standing.LAPSED
FEE_OVERDUE, CCP_INCOMPLETE = Reason.FEE_OVERDUE, Reason.CCP_INCOMPLETE
FEE_LAPSE, CCP_LAPSE = Reason.FEE_UNPAID_3_YEARS, Reason.CCP_NOT_DOCUMENTED
AUDIT_FAILED, AUDIT_MISSED = Reason.AUDIT_FAILED, Reason.AUDIT_DEADLINE_MISSED
BOTH = (RecertMethod.CCP, RecertMethod.EXAM)
EXAM_ONLY = (RecertMethod.EXAM,)

# Certified 2010-03-10: cycle 1 = 2010-03-10..2013-03-09, late window through 2013-06-07 (day 90),
# cycle 2 = 2013-03-10..2016-03-09. All fees paid on time unless a test says otherwise.
C2010 = cert("2010-03-10")
FEES_2010 = fees_paid_on_time("2010-03-10", 20)


def _d(value: str | None) -> date | None:
    return d(value) if value else None


# ------------------------------------------------------------ R4 auto-roll and R5 late window


@pytest.mark.parametrize(
    ("points", "as_of", "status", "reasons", "shown_cycle", "earned", "lapsed_on"),
    [
        # enough points: the certification rolls into cycle 2 on the day after cycle 1 ends
        (30, "2013-03-09", ACTIVE, (), 1, 30, None),
        (30, "2013-03-10", ACTIVE, (), 2, 0, None),
        (30, "2013-06-07", ACTIVE, (), 2, 0, None),
        (30, "2013-06-08", ACTIVE, (), 2, 0, None),
        (45, "2013-06-08", ACTIVE, (), 2, 0, None),
        # short by 10: fine until the cycle ends, delinquent during the 90-day window, then lapsed
        (20, "2013-03-09", ACTIVE, (), 1, 20, None),
        (20, "2013-03-10", DELINQUENT, (CCP_INCOMPLETE,), 1, 20, None),  # window day 1
        (20, "2013-06-07", DELINQUENT, (CCP_INCOMPLETE,), 1, 20, None),  # window day 90
        (20, "2013-06-08", LAPSED, (CCP_LAPSE,), 2, 0, "2013-06-08"),  # day 91
        (20, "2014-01-01", LAPSED, (CCP_LAPSE,), 2, 0, "2013-06-08"),
        (29.5, "2013-06-08", LAPSED, (CCP_LAPSE,), 2, 0, "2013-06-08"),
    ],
)
def test_cycle_end_roll_and_late_window(
    points: float,
    as_of: str,
    status: Standing,
    reasons: tuple[Reason, ...],
    shown_cycle: int,
    earned: int,
    lapsed_on: str | None,
) -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", str(points))]
    result = evaluate(C2010, facts, d(as_of), POLICY)
    assert (result.status, result.reasons, result.lapsed_on) == (status, reasons, _d(lapsed_on))
    assert result.ccp.cycle_number == shown_cycle
    assert result.ccp.earned == earned
    assert result.ccp.remaining == max(Decimal(0), 30 - result.ccp.earned)


def test_ccp_status_during_window_reports_the_ended_cycle() -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", 20), ce("c2", "2013-04-01", 5)]
    ccp = evaluate(C2010, facts, d("2013-04-15"), POLICY).ccp
    assert (ccp.cycle_number, ccp.cycle_start, ccp.cycle_end) == (1, d("2010-03-10"), d("2013-03-09"))
    assert (ccp.earned, ccp.remaining, ccp.required, ccp.mandatory) == (20, 10, 30, True)
    assert ccp.by_category["professional_education"] == 20
    assert set(ccp.by_category) == {
        "professional_education",
        "formal_education",
        "employment",
        "authorship",
        "instructional_presentation",
        "organizational_participation",
    }


@pytest.mark.parametrize(
    ("completed_on", "recorded_on", "as_of", "status"),
    [
        ("2013-03-01", "2013-06-07", "2013-06-06", DELINQUENT),  # not recorded yet
        ("2013-03-01", "2013-06-07", "2013-06-07", ACTIVE),  # recorded on day 90: counts
        ("2013-03-01", "2013-06-07", "2013-06-08", ACTIVE),
        ("2013-03-01", "2013-06-08", "2013-06-08", LAPSED),  # recorded on day 91: too late
        ("2013-03-09", "2013-03-20", "2013-06-08", ACTIVE),  # last day of the cycle
        ("2013-03-10", "2013-03-20", "2013-06-08", LAPSED),  # earned in cycle 2: no help for cycle 1
    ],
)
def test_late_documentation(completed_on: str, recorded_on: str, as_of: str, status: Standing) -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", 20), ce("late", completed_on, 10, recorded_on=recorded_on)]
    assert evaluate(C2010, facts, d(as_of), POLICY).status is status


@pytest.mark.parametrize(("as_of", "status"), [("2013-04-08", DELINQUENT), ("2013-04-09", LAPSED)])
def test_late_window_is_configurable(as_of: str, status: Standing) -> None:
    policy = make_policy(late_reporting_days=30)  # 2013-03-09 + 30 days = 2013-04-08
    facts = [*FEES_2010, ce("c1", "2011-01-01", 20)]
    assert evaluate(C2010, facts, d(as_of), policy).status is status


# ------------------------------------------------------------ R6 standing


def test_fee_overdue_and_ccp_incomplete_together() -> None:
    facts = [ce("c1", "2011-01-01", 20)]
    result = evaluate(C2010, facts, d("2013-03-10"), POLICY)
    assert (result.status, result.reasons) == (DELINQUENT, (FEE_OVERDUE, CCP_INCOMPLETE))
    assert result.recertification.required is False
    assert result.recertification.allowed_methods == ()


def test_before_certification_date_is_active_in_cycle_one() -> None:
    result = evaluate(cert("2025-01-01"), [], d("2024-06-01"), POLICY)
    assert (result.status, result.ccp.cycle_number, result.fees.overdue_since) == (ACTIVE, 1, None)


# ------------------------------------------------------------ R7(a) fee lapse
# Certified 2019-05-14 with cycle 1 documented: fee 1 overdue from 2020-06-01, lapse on 2023-06-01.

C2019 = cert("2019-05-14")
CCP_2019 = [ce("c1", "2020-01-01", 30)]


@pytest.mark.parametrize(
    ("facts", "as_of", "status", "reasons", "lapsed_on"),
    [
        pytest.param([], "2023-05-31", DELINQUENT, (FEE_OVERDUE,), None, id="day-before-3-years"),
        pytest.param([], "2023-06-01", LAPSED, (FEE_LAPSE,), "2023-06-01", id="3-years-overdue"),
        pytest.param([], "2023-06-02", LAPSED, (FEE_LAPSE,), "2023-06-01", id="day-after"),
        pytest.param(
            [pay("p1", "2023-05-31")],
            "2023-06-01",
            DELINQUENT,
            (FEE_OVERDUE,),
            None,
            id="paid-day-before-lapse",
        ),
        pytest.param(
            [pay("p1", "2023-05-31")],
            "2024-05-31",
            DELINQUENT,
            (FEE_OVERDUE,),
            None,
            id="fee-2-not-yet-3-years",
        ),
        pytest.param(
            [pay("p1", "2023-05-31")], "2024-06-01", LAPSED, (FEE_LAPSE,), "2024-06-01", id="fee-2-lapses"
        ),
        pytest.param(
            [pay("p1", "2023-06-01")],
            "2023-06-01",
            LAPSED,
            (FEE_LAPSE,),
            "2023-06-01",
            id="paid-on-lapse-day",
        ),
        pytest.param(
            [pay("p1", "2023-06-02")],
            "2023-07-01",
            LAPSED,
            (FEE_LAPSE,),
            "2023-06-01",
            id="paid-after-lapse-sticky",
        ),
        pytest.param(
            [pay("p1", "2023-05-30", "2023-06-01")],
            "2023-06-01",
            DELINQUENT,
            (FEE_OVERDUE,),
            None,
            id="paid-before-recorded-on-lapse-day",
        ),
        pytest.param(
            [pay("p1", "2023-05-30", "2023-06-02")],
            "2023-06-02",
            LAPSED,
            (FEE_LAPSE,),
            "2023-06-01",
            id="paid-before-recorded-after-lapse-day",
        ),
        pytest.param(
            [pay("p1", "2020-05-20"), reverse("re1", "p1", "2020-07-01", reason="dispute")],
            "2023-06-01",
            LAPSED,
            (FEE_LAPSE,),
            "2023-06-01",
            id="disputed-payment-does-not-count",
        ),
        pytest.param(
            [
                pay("p1", "2020-05-20"),
                reverse("re1", "p1", "2020-07-01", reason="dispute"),
                withdraw("w1", "re1", "2020-09-01"),
            ],
            "2023-06-01",
            DELINQUENT,
            (FEE_OVERDUE,),
            None,
            id="dispute-won-counts-again",
        ),
        pytest.param(
            [
                pay("p1", "2020-05-20"),
                reverse("re1", "p1", "2023-05-01", reason="dispute"),
                withdraw("w1", "re1", "2023-05-31"),
            ],
            "2023-06-15",
            DELINQUENT,
            (FEE_OVERDUE,),
            None,
            id="dispute-won-day-before-lapse-day",
        ),
        pytest.param(
            [
                pay("p1", "2020-05-20"),
                reverse("re1", "p1", "2023-05-01", reason="dispute"),
                withdraw("w1", "re1", "2023-06-02"),
            ],
            "2023-06-15",
            LAPSED,
            (FEE_LAPSE,),
            "2023-06-01",
            id="dispute-won-after-lapse-day-stays-lapsed",
        ),
        pytest.param(
            [pay("p1", "2023-05-01"), reverse("re1", "p1", "2023-08-15")],
            "2023-08-14",
            DELINQUENT,
            (FEE_OVERDUE,),
            None,
            id="late-payment-before-refund",
        ),
        pytest.param(
            [pay("p1", "2023-05-01"), reverse("re1", "p1", "2023-08-15")],
            "2023-08-15",
            LAPSED,
            (FEE_LAPSE,),
            "2023-08-15",
            id="refund-of-late-payment-lapses-when-recorded",
        ),
    ],
)
def test_fee_lapse(
    facts: list[Fact], as_of: str, status: Standing, reasons: tuple[Reason, ...], lapsed_on: str | None
) -> None:
    result = evaluate(C2019, [*CCP_2019, *facts], d(as_of), POLICY)
    assert (result.status, result.reasons, result.lapsed_on) == (status, reasons, _d(lapsed_on))
    assert result.recertification.required is (status is LAPSED)


def test_sticky_fee_lapse_still_reports_fees_paid() -> None:
    catch_up = [pay(f"p{n}", "2023-06-02") for n in range(1, 6)]  # fees 1-5, a day after the lapse
    result = evaluate(C2019, [*CCP_2019, *catch_up], d("2023-07-01"), POLICY)
    assert (result.status, result.lapsed_on) == (LAPSED, d("2023-06-01"))
    assert result.fees.fees_paid == 5
    assert result.fees.overdue_since is None


@pytest.mark.parametrize(("as_of", "status"), [("2022-05-31", DELINQUENT), ("2022-06-01", LAPSED)])
def test_fee_lapse_threshold_is_configurable(as_of: str, status: Standing) -> None:
    policy = make_policy(lapse_after_overdue_years=2)
    assert evaluate(C2019, CCP_2019, d(as_of), policy).status is status


@pytest.mark.parametrize(("as_of", "status"), [("2024-02-29", DELINQUENT), ("2024-03-01", LAPSED)])
def test_fee_lapse_for_feb_29_certification(as_of: str, status: Standing) -> None:
    # fee 1 due February 2021, overdue from 2021-03-01, lapses 2024-03-01
    result = evaluate(cert("2020-02-29"), [ce("c1", "2021-01-01", 30)], d(as_of), POLICY)
    assert result.status is status


# ------------------------------------------------------------ R7(a)/(b) CCP lapse and the 2006 cut-off


@pytest.mark.parametrize(
    ("certified_on", "as_of", "status", "mandatory"),
    [
        ("2005-12-31", "2009-06-01", ACTIVE, False),
        ("2006-01-01", "2009-06-01", LAPSED, True),
        ("2006-01-02", "2009-06-01", LAPSED, True),
        ("2005-12-31", "2009-01-15", ACTIVE, False),  # in the late window: no ccp_incomplete either
        ("2006-01-01", "2009-01-15", DELINQUENT, True),
    ],
)
def test_ccp_mandatory_only_from_2006(
    certified_on: str, as_of: str, status: Standing, mandatory: bool
) -> None:
    result = evaluate(cert(certified_on), fees_paid_on_time(certified_on, 5), d(as_of), POLICY)
    assert result.status is status
    assert result.ccp.mandatory is mandatory
    assert result.reasons == {ACTIVE: (), LAPSED: (CCP_LAPSE,), DELINQUENT: (CCP_INCOMPLETE,)}[status]


def test_voluntary_ccp_still_shows_progress() -> None:
    result = evaluate(
        cert("2005-06-15"),
        [*fees_paid_on_time("2005-06-15", 3), ce("c1", "2006-01-01", 12)],
        d("2007-01-01"),
        POLICY,
    )
    assert (result.ccp.mandatory, result.ccp.earned, result.ccp.remaining) == (False, 12, 18)


@pytest.mark.parametrize(("as_of", "status"), [("2009-06-30", DELINQUENT), ("2009-07-01", LAPSED)])
def test_fee_rule_applies_before_2006(as_of: str, status: Standing) -> None:
    # certified 2005-06-15: fee 1 overdue from 2006-07-01, lapse 2009-07-01
    result = evaluate(cert("2005-06-15"), [], d(as_of), POLICY)
    assert result.status is status
    assert result.reasons == ((FEE_OVERDUE,) if status is DELINQUENT else (FEE_LAPSE,))


def test_ccp_mandatory_cutoff_is_configurable() -> None:
    policy = make_policy(ccp_mandatory_from=date(2010, 3, 11))
    facts = FEES_2010
    assert evaluate(C2010, facts, d("2014-01-01"), policy).status is ACTIVE
    assert evaluate(C2010, facts, d("2014-01-01"), POLICY).status is LAPSED


@pytest.mark.parametrize(
    ("void_on", "as_of", "status", "lapsed_on"),
    [
        ("2011-06-01", "2011-05-31", ACTIVE, None),
        ("2011-06-01", "2011-06-01", ACTIVE, None),  # cycle 1 still running: nothing outstanding yet
        ("2013-04-01", "2013-03-31", ACTIVE, None),
        ("2013-04-01", "2013-04-01", DELINQUENT, None),  # void inside the window
        ("2013-04-01", "2013-06-08", LAPSED, "2013-06-08"),
        ("2013-09-01", "2013-08-31", ACTIVE, None),  # void after the window closed...
        ("2013-09-01", "2013-09-01", LAPSED, "2013-09-01"),  # ...lapses on the day it is recorded
    ],
)
def test_voided_ce(void_on: str, as_of: str, status: Standing, lapsed_on: str | None) -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", 30), void("v1", "c1", void_on)]
    result = evaluate(C2010, facts, d(as_of), POLICY)
    assert (result.status, result.lapsed_on) == (status, _d(lapsed_on))


def test_void_of_another_completion_changes_nothing() -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", 30), void("v1", "c2", "2011-06-01")]
    assert evaluate(C2010, facts, d("2011-07-01"), POLICY).ccp.earned == 30


# ------------------------------------------------------------ R7(c) audits
# Certified 2019-05-14, fees paid, cycle 1 documented. Audit drawn 2024-01-15, deadline 2024-03-15.

AUDIT_BASE = [*fees_paid_on_time("2019-05-14", 10), ce("c1", "2020-01-01", 30), ce("c2", "2023-01-01", 30)]
A1 = drawn("a1", "2024-01-15", "2024-03-15")


@pytest.mark.parametrize(
    ("facts", "as_of", "status", "reasons", "lapsed_on"),
    [
        pytest.param([A1], "2024-03-15", ACTIVE, (), None, id="deadline-day-no-decision"),
        pytest.param([A1], "2024-03-16", LAPSED, (AUDIT_MISSED,), "2024-03-16", id="deadline-missed"),
        pytest.param(
            [A1, decided("a1", "passed", "2024-03-15")],
            "2024-03-16",
            ACTIVE,
            (),
            None,
            id="passed-on-deadline",
        ),
        pytest.param(
            [A1, decided("a1", "passed", "2024-03-14")], "2025-01-01", ACTIVE, (), None, id="passed-early"
        ),
        pytest.param(
            [A1, decided("a1", "passed", "2024-03-15", "2024-03-16")],
            "2024-03-16",
            ACTIVE,
            (),
            None,
            id="passed-on-deadline-recorded-next-day",
        ),
        pytest.param(
            [A1, decided("a1", "passed", "2024-03-15", "2024-03-17")],
            "2024-03-17",
            LAPSED,
            (AUDIT_MISSED,),
            "2024-03-16",
            id="passed-on-deadline-recorded-too-late",
        ),
        pytest.param(
            [A1, decided("a1", "passed", "2024-03-16")],
            "2024-03-16",
            LAPSED,
            (AUDIT_MISSED,),
            "2024-03-16",
            id="passed-after-deadline",
        ),
        pytest.param(
            [A1, decided("a1", "failed", "2024-02-20")], "2024-02-19", ACTIVE, (), None, id="before-failure"
        ),
        pytest.param(
            [A1, decided("a1", "failed", "2024-02-20")],
            "2024-02-20",
            LAPSED,
            (AUDIT_FAILED,),
            "2024-02-20",
            id="failed",
        ),
        pytest.param(
            [A1, decided("a1", "failed", "2024-02-20", "2024-02-25")],
            "2024-02-24",
            ACTIVE,
            (),
            None,
            id="failure-recorded-after-as-of",
        ),
        pytest.param(
            [A1, decided("a1", "failed", "2024-02-20", "2024-02-25")],
            "2024-02-25",
            LAPSED,
            (AUDIT_FAILED,),
            "2024-02-20",
            id="failure-dated-on-decision",
        ),
        pytest.param(
            [A1, decided("a1", "failed", "2024-03-20")],
            "2024-03-20",
            LAPSED,
            (AUDIT_MISSED,),
            "2024-03-16",
            id="earliest-condition-wins",
        ),
        pytest.param(
            [drawn("a2", "2024-01-15", "2024-03-15", credential="AHI")],
            "2024-06-01",
            ACTIVE,
            (),
            None,
            id="other-credentials-audit",
        ),
        pytest.param(
            [decided("a3", "failed", "2024-02-20", credential="AHI")],
            "2024-06-01",
            ACTIVE,
            (),
            None,
            id="other-credentials-failure",
        ),
    ],
)
def test_audit(
    facts: list[Fact], as_of: str, status: Standing, reasons: tuple[Reason, ...], lapsed_on: str | None
) -> None:
    result = evaluate(C2019, [*AUDIT_BASE, *facts], d(as_of), POLICY)
    assert (result.status, result.reasons, result.lapsed_on) == (status, reasons, _d(lapsed_on))


def test_simultaneous_lapse_reasons_are_all_reported() -> None:
    facts = [*CCP_2019, decided("a1", "failed", "2023-06-01")]  # fee lapse day, too
    result = evaluate(C2019, facts, d("2023-06-01"), POLICY)
    assert result.reasons == (FEE_LAPSE, AUDIT_FAILED)
    assert result.lapsed_on == d("2023-06-01")


# ------------------------------------------------------------ R8 recertification paths


@pytest.mark.parametrize(
    ("failed_on", "as_of", "methods"),
    [
        ("2014-02-20", "2014-02-20", BOTH),
        ("2014-02-20", "2024-02-19", BOTH),  # 10 years minus a day
        ("2014-02-20", "2024-02-20", EXAM_ONLY),  # exactly 10 years: CCP path closed
        ("2014-02-20", "2024-02-21", EXAM_ONLY),
        ("2012-02-29", "2022-02-27", BOTH),  # lapsed on Feb 29: 10 years later is Feb 28
        ("2012-02-29", "2022-02-28", EXAM_ONLY),
    ],
)
def test_recertification_paths(failed_on: str, as_of: str, methods: tuple[RecertMethod, ...]) -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", 30), decided("a1", "failed", failed_on)]
    result = evaluate(C2010, facts, d(as_of), POLICY)
    assert result.lapsed_on == d(failed_on)
    assert result.recertification.required is True
    assert result.recertification.allowed_methods == methods


def test_recertification_window_is_configurable() -> None:
    facts = [*FEES_2010, ce("c1", "2011-01-01", 30), decided("a1", "failed", "2012-01-10")]
    policy = make_policy(ccp_recert_max_lapsed_years=5)
    assert evaluate(C2010, facts, d("2017-01-09"), policy).recertification.allowed_methods == BOTH
    assert evaluate(C2010, facts, d("2017-01-10"), policy).recertification.allowed_methods == EXAM_ONLY


# ------------------------------------------------------------ recertification restarts everything
# C2010 with no fees and no CE lapses on 2013-06-08 (cycle 1 undocumented); recertified 2020-09-15.

RECERT = recert("rc1", "2020-09-15")


@pytest.mark.parametrize(
    ("extra", "as_of", "status", "fees_paid", "earned"),
    [
        pytest.param([], "2020-09-14", LAPSED, 0, 0, id="day-before"),
        pytest.param([], "2020-09-15", ACTIVE, 0, 0, id="recertification-day"),
        pytest.param([pay("old", "2020-09-14")], "2020-09-15", ACTIVE, 0, 0, id="fee-before-epoch-ignored"),
        pytest.param([pay("new", "2020-09-15")], "2020-09-15", ACTIVE, 1, 0, id="fee-in-epoch"),
        pytest.param(
            [pay("rf", "2020-09-01", purpose="recertification")],
            "2020-09-15",
            ACTIVE,
            0,
            0,
            id="recert-fee-not-annual",
        ),
        pytest.param([ce("x", "2020-09-14", 30)], "2020-10-01", ACTIVE, 0, 0, id="ce-before-epoch-ignored"),
        pytest.param([ce("x", "2020-09-15", 30)], "2020-10-01", ACTIVE, 0, 30, id="ce-in-epoch"),
        pytest.param(
            [decided("a1", "failed", "2015-01-10"), drawn("a2", "2020-08-01", "2020-10-01")],
            "2021-01-01",
            ACTIVE,
            0,
            0,
            id="old-audits-ignored",
        ),
        pytest.param([], "2021-10-01", DELINQUENT, 0, 0, id="new-fee-anniversary"),
        pytest.param([], "2023-12-13", DELINQUENT, 0, 0, id="new-cycle-window-day-90"),
        pytest.param([], "2023-12-14", LAPSED, 0, 0, id="new-epoch-can-lapse-again"),
    ],
)
def test_recertification(
    extra: list[Fact], as_of: str, status: Standing, fees_paid: int, earned: int
) -> None:
    facts = [RECERT, *extra]
    result = evaluate(C2010, facts, d(as_of), POLICY)
    assert result.status is status
    assert result.fees.fees_paid == fees_paid
    assert result.ccp.earned == earned
    if d(as_of) >= d("2020-09-15"):
        assert result.certified_on == d("2020-09-15")
        assert result.ccp.cycle_start == d("2020-09-15" if d(as_of) < d("2023-12-14") else "2023-09-15")
        assert result.fees.next_due == d(f"{2021 + fees_paid}-09-01")
        assert result.lapsed_on == (d("2023-12-14") if status is LAPSED else None)
    else:
        assert result.certified_on == d("2010-03-10")
        assert result.lapsed_on == d("2013-06-08")


def test_recertification_after_as_of_or_for_another_credential_is_ignored() -> None:
    late = recert("rc1", "2020-09-15", "2020-09-20")
    other = recert("rc2", "2020-09-15", credential="AHI")
    for fact in (late, other):
        result = evaluate(C2010, [fact], d("2020-09-17"), POLICY)
        assert (result.status, result.certified_on) == (LAPSED, d("2010-03-10"))


def test_latest_recertification_wins() -> None:
    facts = [recert("rc1", "2015-01-05"), recert("rc2", "2020-09-15", credential="rma")]
    assert effective_certified_on(C2010, facts, d("2021-01-01"), POLICY) == d("2020-09-15")
    assert effective_certified_on(C2010, facts, d("2020-09-14")) == d("2015-01-05")
    assert effective_certified_on(C2010, [], d("2020-09-14")) == d("2010-03-10")


# A recertification with a fee condition (``fee_cents``) stands while the application's effective
# recertification payments cover it, judged on the facts known on as_of.
FEE_RECERT = RECERT.model_copy(update={"fee_cents": 5000})
RECERT_FEE = pay("rf", "2020-09-01", purpose="recertification", application_id=FEE_RECERT.application_id)


@pytest.mark.parametrize(
    ("extra", "as_of", "status", "certified_on"),
    [
        pytest.param([RECERT_FEE], "2020-10-01", ACTIVE, "2020-09-15", id="fee-paid"),
        pytest.param(
            [RECERT_FEE, reverse("re", "rf", "2020-10-01")],
            "2020-09-30",
            ACTIVE,
            "2020-09-15",
            id="refund-not-known-yet",
        ),
        pytest.param(
            [RECERT_FEE, reverse("re", "rf", "2020-10-01")], "2020-10-01", LAPSED, "2010-03-10", id="refunded"
        ),
        pytest.param(
            [
                RECERT_FEE,
                reverse("dp", "rf", "2020-10-01", reason="dispute"),
                withdraw("w", "dp", "2020-11-01"),
            ],
            "2020-11-01",
            ACTIVE,
            "2020-11-01",
            id="dispute-won-in-force-again-from-that-day",
        ),
        pytest.param(
            [
                RECERT_FEE,
                reverse("re", "rf", "2020-10-01"),
                pay("rf2", "2020-10-05", purpose="recertification", application_id=FEE_RECERT.application_id),
            ],
            "2020-10-05",
            ACTIVE,
            "2020-10-05",
            id="paid-again-in-force-from-the-new-payment",
        ),
        pytest.param(
            [pay("other", "2020-09-01", purpose="recertification")],
            "2020-10-01",
            LAPSED,
            "2010-03-10",
            id="fee-of-another-application",
        ),
    ],
)
def test_recertification_stands_while_its_fee_is_paid(
    extra: list[Fact], as_of: str, status: Standing, certified_on: str
) -> None:
    result = evaluate(C2010, [FEE_RECERT, *extra], d(as_of), POLICY)
    assert (result.status, result.certified_on) == (status, d(certified_on))
    if status is LAPSED:
        assert result.lapsed_on == d("2013-06-08")  # the earlier lapse is in force again
    in_force_from = recertified_from(FEE_RECERT, [FEE_RECERT, *extra], d(as_of))
    assert in_force_from == (d(certified_on) if status is ACTIVE else None)


def test_fee_paid_since_follows_the_recorded_days() -> None:
    facts = [
        RECERT_FEE,
        reverse("dp", "rf", "2020-10-01", reason="dispute"),
        withdraw("w", "dp", "2020-11-01"),
    ]
    app_id = FEE_RECERT.application_id
    assert fee_paid_since(facts, app_id, 5000, d("2020-09-30")) == d("2020-09-01")
    assert fee_paid_since(facts, app_id, 5000, d("2020-10-15")) is None
    assert fee_paid_since(facts, app_id, 5000, d("2020-11-01")) == d("2020-11-01")
    assert fee_paid_since(facts, app_id, 5001, d("2020-11-01")) is None  # never fully paid


def test_recertification_without_fee_condition_stands_regardless_of_payments() -> None:
    """Facts written before the rule carry no fee (``fee_cents`` 0)."""
    assert evaluate(C2010, [RECERT], d("2020-10-01"), POLICY).status is ACTIVE


# ------------------------------------------------------------ CE resolution and visibility


@pytest.mark.parametrize(
    ("completion", "catalog", "earned"),
    [
        pytest.param(
            ce("u", "2011-01-01", None, None, activity_id="course-9"), None, 0, id="unmapped-no-catalog"
        ),
        pytest.param(
            ce("u", "2011-01-01", None, None, activity_id="course-9"),
            {"course-9": activity("course-9", 12)},
            12,
            id="unmapped-resolved-by-catalog",
        ),
        pytest.param(
            ce("u", "2011-01-01", None, None, activity_id="course-9"),
            {"course-8": activity("course-8", 12)},
            0,
            id="catalog-lacks-activity",
        ),
        pytest.param(
            ce("u", "2011-01-01", 5, PE, activity_id="course-9"),
            {"course-9": activity("course-9", 12)},
            5,
            id="explicit-points-win",
        ),
        pytest.param(
            ce("u", "2011-01-01", None, EMP, activity_id="course-9"),
            {"course-9": activity("course-9", 12)},
            12,
            id="points-from-catalog-category-kept",
        ),
        pytest.param(
            ce("u", "2021-01-01", None, None, activity_id="job"),
            {"job": activity("job", 12, EMP)},
            0,
            id="catalog-employment-after-cutoff",
        ),
    ],
)
def test_catalog_resolution(completion: Fact, catalog: dict | None, earned: int) -> None:
    c = cert("2019-05-14") if completion.completed_on.year > 2020 else C2010  # type: ignore[union-attr]
    result = evaluate(c, [completion], completion.completed_on, POLICY, catalog)  # type: ignore[union-attr]
    assert result.ccp.earned == earned


def test_unmapped_activity_ids() -> None:
    facts = [
        ce("a", "2011-01-01", None, None, activity_id="course-1"),
        ce("b", "2011-01-01", None, PE, activity_id="course-2"),
        ce("c", "2011-01-01", 3, PE, activity_id="course-3"),
        pay("p", "2011-01-01"),
    ]
    assert unmapped_activity_ids(facts) == {"course-1", "course-2"}


def test_ce_counts_for_every_certification_of_the_member() -> None:
    facts = [ce("c1", "2020-01-01", 30)]
    for code in ("RMA", "AHI", "MLS"):
        result = evaluate(cert("2019-05-14", code), facts, d("2020-02-01"), POLICY)
        assert result.ccp.earned == 30
        assert result.ccp.required == {"RMA": 30, "AHI": 30, "MLS": 45}[code]


@pytest.mark.parametrize(("as_of", "earned"), [("2020-01-31", 0), ("2020-02-01", 30)])
def test_ce_recorded_after_as_of_is_ignored(as_of: str, earned: int) -> None:
    facts = [ce("c1", "2020-01-01", 30, recorded_on="2020-02-01")]
    assert evaluate(C2019, facts, d(as_of), POLICY).ccp.earned == earned


def test_same_completion_redelivered_counts_once() -> None:
    facts = [ce("c1", "2020-01-01", 20), ce("c1", "2020-01-01", 20, recorded_on="2020-01-05")]
    assert evaluate(C2019, facts, d("2020-02-01"), POLICY).ccp.earned == 20


def test_standing_history_has_every_change_in_a_range_with_its_day() -> None:
    """Lapsed (fees), recertified, lapsed again (failed audit): three changes, each on its own day."""
    facts = [ce("c1", "2020-01-10"), recert("rc1", "2023-06-05"), decided("au1", "failed", "2023-06-10")]
    history = standing_history(cert("2019-05-14"), facts, d("2023-05-20"), d("2023-06-12"), POLICY)
    assert [(day, s.status, s.lapsed_on) for day, s in history] == [
        (d("2023-05-20"), Standing.DELINQUENT, None),
        (d("2023-06-01"), Standing.LAPSED, d("2023-06-01")),
        (d("2023-06-05"), Standing.ACTIVE, None),
        (d("2023-06-10"), Standing.LAPSED, d("2023-06-10")),
    ]
    assert history[-1][1] == evaluate(cert("2019-05-14"), facts, d("2023-06-12"), POLICY)
    one_day = standing_history(cert("2019-05-14"), facts, d("2023-06-12"), d("2023-06-12"), POLICY)
    assert one_day == [(d("2023-06-12"), history[-1][1])]
