"""Self-reported CE in the rules core: points per category, employment cut-off, enter once for every
certification, the same learning counts once, corrections and withdrawals, R5, the projection."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rules_helpers import EMP, PE, POLICY, activity, cert, d, entry, make_policy, reported, void

from shared.rules.models import CeCompletion, Reason
from shared.rules.policy import Category, PublicationType, SelfReportPoints
from shared.rules.self_report import CreditReason, full_months, points_of
from shared.rules.status import activity_credits, change_closed_since, decide_self_report, evaluate

RMA = cert("2019-05-14")  # cycle 1: 2019-05-14..2022-05-13, R5 window through 2022-08-11
RPT = cert("2021-01-10", "RPT")  # cycle 1: 2021-01-10..2024-01-09


def earned(facts: list[Any], as_of: str, certification: Any = RMA, **policy: Any) -> Decimal:
    return evaluate(certification, facts, d(as_of), make_policy(**policy) if policy else POLICY).ccp.earned


def credit(facts: list[Any], record: str, as_of: str, certification: Any = RMA, catalog: Any = None) -> Any:
    return activity_credits(certification, facts, d(as_of), POLICY, catalog)[record]


def lms(key: str, completed_on: str, points: int = 8, **fields: Any) -> CeCompletion:
    return CeCompletion(
        key=key,
        recorded_on=d(completed_on),
        activity_id=fields.pop("activity_id", key),
        completed_on=d(completed_on),
        points=Decimal(points),
        category=PE,
        source=fields.pop("source", "xapi:lms-a"),
        **fields,
    )


@pytest.mark.parametrize(
    ("category", "units", "points"),
    [
        (Category.PROFESSIONAL_EDUCATION, {"contact_hours": "7.5"}, Decimal("7.5")),
        (Category.FORMAL_EDUCATION, {"semester_hours": 3}, Decimal(45)),
        (Category.FORMAL_EDUCATION, {"quarter_hours": 4}, Decimal(40)),
        (Category.INSTRUCTIONAL_PRESENTATION, {"presentation_hours": 2}, Decimal(4)),
        (Category.AUTHORSHIP, {"publication_type": "article"}, Decimal(10)),
        (
            Category.ORGANIZATIONAL_PARTICIPATION,
            {"role": "officer", "term_started_on": "2019-06-01"},
            Decimal(5),
        ),
        (Category.EMPLOYMENT, {"started_on": "2020-01-01"}, Decimal(1)),  # two whole months x 0.5
    ],
)
def test_default_points_per_category(category: Category, units: dict[str, Any], points: Decimal) -> None:
    item = entry(category, "2020-02-29", units)
    assert points_of(item, POLICY) == points
    assert earned([reported("a", item, "2020-03-01")], "2020-03-01") == points


def test_points_per_category_are_configuration() -> None:
    rates = SelfReportPoints(contact_hour=Decimal(2), publication={PublicationType.ARTICLE: Decimal(3)})
    policy = make_policy(self_report_points=rates)
    assert points_of(entry(units={"contact_hours": 8}), policy) == 16
    assert points_of(entry(Category.AUTHORSHIP, units={"publication_type": "article"}), policy) == 3


@pytest.mark.parametrize(
    ("first", "last", "months"),
    [
        ("2020-01-01", "2020-01-31", 1),
        ("2020-01-01", "2020-01-30", 0),
        ("2020-01-15", "2020-02-13", 0),
        ("2020-01-15", "2020-02-14", 1),
        ("2020-01-31", "2020-02-27", 0),  # Jan 31 + 1 month is Feb 29 in 2020: the month ends Feb 28
        ("2020-01-31", "2020-02-28", 1),
        ("2019-06-01", "2020-12-31", 19),
        ("2020-02-01", "2020-01-31", 0),
    ],
)
def test_full_months(first: str, last: str, months: int) -> None:
    assert full_months(d(first), d(last)) == months


def test_employment_spanning_the_cut_off_counts_up_to_it() -> None:
    item = entry(EMP, "2022-03-31", {"started_on": "2019-06-01"})  # 19 whole months through 2020-12-31
    facts = [reported("job", item, "2022-04-01")]
    assert earned(facts, "2022-04-01") == Decimal("9.5")
    assert credit(facts, "self_report:job", "2022-04-01").counted is True
    assert decide_self_report(RMA, [], item, d("2022-04-01"), POLICY).accepted is True


def test_employment_ending_on_the_cut_off_day_counts_and_starting_on_it_does_not() -> None:
    ends = entry(EMP, "2020-12-31", {"started_on": "2020-12-01"})
    starts = entry(EMP, "2021-06-30", {"started_on": "2020-12-31"})
    facts = [reported("ends", ends, "2021-01-05"), reported("starts", starts, "2021-07-01")]
    assert credit(facts, "self_report:ends", "2021-07-01").points == Decimal("0.5")
    zero = credit(facts, "self_report:starts", "2021-07-01")
    assert (zero.points, zero.counted, zero.reason) == (0, False, CreditReason.NO_WHOLE_MONTH)


def test_employment_months_before_the_cycle_start_do_not_count() -> None:
    certification = cert("2020-05-14")
    item = entry(EMP, "2020-12-31", {"started_on": "2019-01-01"})
    # 2020-05-14..2020-12-31 holds 7 whole months (the 8th would end on 2021-01-13)
    assert earned([reported("job", item, "2021-01-02")], "2021-01-02", certification) == Decimal("3.5")


@pytest.mark.parametrize(
    ("completed_on", "cycle_number"),
    [("2019-05-14", 1), ("2022-05-13", 1), ("2022-05-14", 2)],
)
def test_cycle_start_and_end(completed_on: str, cycle_number: int) -> None:
    facts = [reported("a", entry(completed_on=completed_on), completed_on)]
    counted = credit(facts, "self_report:a", "2022-06-01")
    assert (counted.counted, counted.cycle_number) == (True, cycle_number)


def test_before_the_certification_date_counts_nothing() -> None:
    facts = [reported("a", entry(completed_on="2019-05-13"), "2019-05-20")]
    refused = credit(facts, "self_report:a", "2019-05-20")
    assert (refused.counted, refused.reason, refused.cycle_number) == (
        False,
        CreditReason.BEFORE_CERTIFICATION,
        None,
    )
    assert (
        decide_self_report(RMA, [], entry(completed_on="2019-05-13"), d("2019-05-20"), POLICY).accepted
        is False
    )


@pytest.mark.parametrize(("recorded_on", "counts"), [("2022-08-11", True), ("2022-08-12", False)])
def test_r5_late_window(recorded_on: str, counts: bool) -> None:
    item = entry(completed_on="2022-05-01", units={"contact_hours": 30})
    decision = decide_self_report(RMA, [], item, d(recorded_on), POLICY)
    assert decision.accepted is counts
    assert decision.reason == (None if counts else "earned before cycle start")
    facts = [reported("a", item, recorded_on)]
    counted = credit(facts, "self_report:a", "2022-09-01")
    assert (counted.counted, counted.reason) == (counts, None if counts else CreditReason.RECORDED_LATE)
    later = evaluate(RMA, facts, d("2022-09-01"), POLICY)
    assert (Reason.CCP_NOT_DOCUMENTED in later.reasons) is not counts


def test_caps_apply_across_sources() -> None:
    facts = [lms("course", "2020-02-01"), reported("conf", entry(completed_on="2020-03-01"), "2020-03-01")]
    ccp = evaluate(RMA, facts, d("2020-04-01"), make_policy(category_caps={PE: Decimal(10)})).ccp
    assert (ccp.earned, ccp.by_category["professional_education"]) == (10, 10)
    assert (ccp.by_source["lms"], ccp.by_source["self_reported"]) == (8, 8)


@pytest.mark.parametrize(
    ("completion", "fields"),
    [
        (
            lms("https://lms.example.org/c1", "2020-03-01"),
            {"catalog_activity_id": "https://lms.example.org/c1"},
        ),
        (
            lms("acme/CERT-9", "2020-03-01", source="csv:acme/2020-03.csv", certificate_id="CERT-9"),
            {"certificate_id": "CERT-9"},
        ),
        (lms("acme/CERT-7", "2020-03-01", source="csv:acme/2020-03.csv"), {"certificate_id": "CERT-7"}),
        (lms("https://lms.example.org/c2", "2020-03-01"), {"title": "c2", "provider": "prov"}),
    ],
    ids=[
        "lms-same-catalog-activity",
        "csv-same-certificate",
        "csv-certificate-in-key",
        "same-title-provider-date",
    ],
)
def test_a_duplicate_of_another_sources_credit_is_kept_but_counts_zero(
    completion: CeCompletion, fields: dict[str, Any]
) -> None:
    catalog = {"https://lms.example.org/c2": activity("https://lms.example.org/c2", 8)}
    catalog["https://lms.example.org/c2"] = catalog["https://lms.example.org/c2"].model_copy(
        update={"title": "C2"}
    )
    facts = [completion, reported("mine", entry(completed_on="2020-03-01", **fields), "2020-03-05")]
    counted = credit(facts, "self_report:mine", "2020-04-01", catalog=catalog)
    assert (counted.counted, counted.points, counted.reason) == (False, 0, CreditReason.DUPLICATE)
    assert counted.duplicate_of is not None
    assert counted.duplicate_of.endswith(completion.key)
    assert evaluate(RMA, facts, d("2020-04-01"), POLICY, catalog).ccp.earned == 8


def test_the_self_report_counts_again_once_the_lms_credit_is_voided() -> None:
    course = lms("https://lms.example.org/c1", "2020-03-01")
    mine = reported("mine", entry(completed_on="2020-03-01", catalog_activity_id=course.key), "2020-03-05")
    facts = [course, mine, void("v1", course.key, "2020-03-10")]
    assert credit(facts, "self_report:mine", "2020-04-01").counted is True
    assert earned(facts, "2020-04-01") == 8
    assert earned(facts, "2020-03-09") == 8  # before the void: the LMS credit, the self-report 0


def test_enter_once_counts_for_every_certification_with_its_own_cycle() -> None:
    early, late = entry(completed_on="2020-06-01"), entry(completed_on="2021-06-01")
    facts = [reported("early", early, "2020-06-02"), reported("late", late, "2021-06-02")]
    for_rma = activity_credits(RMA, facts, d("2021-07-01"), POLICY)
    for_rpt = activity_credits(RPT, facts, d("2021-07-01"), POLICY)
    assert [for_rma[r].counted for r in ("self_report:early", "self_report:late")] == [True, True]
    assert for_rpt["self_report:early"].reason is CreditReason.BEFORE_CERTIFICATION
    assert (for_rpt["self_report:late"].counted, for_rpt["self_report:late"].cycle_start) == (
        True,
        d("2021-01-10"),
    )
    assert earned(facts, "2021-07-01") == 16
    assert earned(facts, "2021-07-01", RPT) == 8


def test_an_entry_naming_one_certification_counts_only_for_it() -> None:
    facts = [reported("a", entry(completed_on="2021-06-01", credential="rpt"), "2021-06-02")]
    assert earned(facts, "2021-07-01", RPT) == 8
    assert earned(facts, "2021-07-01") == 0
    assert credit(facts, "self_report:a", "2021-07-01").reason is CreditReason.OTHER_CERTIFICATION


def test_corrections_recompute_and_past_dates_see_the_version_then() -> None:
    facts = [
        reported("a", entry(units={"contact_hours": 8}), "2020-03-01"),
        reported("a", entry(units={"contact_hours": 12}), "2020-04-01", version=2),
    ]
    assert earned(facts, "2020-03-31") == 8
    assert earned(facts, "2020-04-01") == 12
    withdrawn = [*facts, reported("a", None, "2020-05-01", version=3)]
    assert earned(withdrawn, "2020-05-01") == 0
    assert "self_report:a" not in activity_credits(RMA, withdrawn, d("2020-05-01"), POLICY)


@pytest.mark.parametrize(("today", "closed"), [("2022-08-11", None), ("2022-08-12", "2022-08-11")])
def test_changes_are_allowed_until_the_late_window_ends(today: str, closed: str | None) -> None:
    item = entry(completed_on="2022-05-13")
    found = change_closed_since(RMA, [], item, d(today), POLICY)
    assert found == (None if closed is None else d(closed))
    assert change_closed_since(RPT, [], item, d(today), POLICY) is None  # before RPT's epoch: never counted


def test_projection_points_needed_and_days_left() -> None:
    facts = [reported("a", entry(completed_on="2020-03-01", units={"contact_hours": 10}), "2020-03-01")]
    running = evaluate(RMA, facts, d("2021-05-14"), POLICY).ccp.projection
    assert running is not None
    assert (running.points_needed, running.earn_by, running.record_by, running.days_left) == (
        20,
        d("2022-05-13"),
        d("2022-08-11"),
        364,
    )
    in_window = evaluate(RMA, facts, d("2022-08-01"), POLICY).ccp.projection
    assert in_window is not None
    assert (in_window.earn_by, in_window.days_left) == (d("2022-05-13"), 10)
