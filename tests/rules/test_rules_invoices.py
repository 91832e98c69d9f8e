"""Invoices and reconciliation in the pure rules core: which fee years a payment pays, the invoice
list derived from the facts, and the exact-money check."""

from __future__ import annotations

import itertools

import pytest
from rules_helpers import POLICY, cert, d, pay, reverse, withdraw

from shared.rules.fees import fee_allocation
from shared.rules.invoices import ExceptionReason, InvoiceStatus, invoices_for, payment_exception
from shared.rules.models import Fact
from shared.rules.policy import FeeChange
from shared.rules.status import evaluate

RMA = POLICY.credential("RMA")


def statuses(facts: list[Fact], as_of: str, certified_on: str = "2021-06-14") -> dict[int, str]:
    return {
        i.fee_year: i.status.value for i in invoices_for("m", cert(certified_on), facts, d(as_of), POLICY)
    }


def test_named_invoices_pay_exactly_those_years_and_legacy_fills_the_earliest_gap() -> None:
    facts = [pay("pi_b", "2024-08-01", fee_years=(2023, 2024)), pay("pi_legacy", "2024-08-02")]
    paid = fee_allocation(facts, d("2021-06-14"), d("2024-08-20"))
    assert {n: p.key for n, p in paid.items()} == {2: "pi_b", 3: "pi_b", 1: "pi_legacy"}
    assert statuses(facts, "2024-08-20") == {2022: "paid", 2023: "paid", 2024: "paid"}


def test_a_fee_year_named_twice_is_paid_once_by_the_earlier_payment() -> None:
    facts = [
        pay("pi_late", "2024-08-05", fee_years=(2022,)),
        pay("pi_early", "2024-08-01", fee_years=(2022,)),
    ]
    [(number, payment)] = fee_allocation(facts, d("2021-06-14"), d("2024-08-20")).items()
    assert (number, payment.key) == (1, "pi_early")
    assert evaluate(cert("2021-06-14"), facts, d("2024-08-20"), POLICY).fees.fees_paid == 1


def test_statuses_open_overdue_refunded_disputed_void() -> None:
    assert statuses([], "2022-06-20") == {2022: "open"}
    assert statuses([], "2022-07-01") == {2022: "overdue"}
    both = pay("pi_a", "2024-08-01", fee_years=(2022, 2023))
    assert statuses([both, reverse("re_1", "pi_a", "2024-08-10")], "2024-08-20") == {
        2022: "refunded",
        2023: "refunded",
        2024: "overdue",
    }
    disputed = reverse("dp_1", "pi_a", "2024-08-10", reason="dispute")
    assert statuses([both, disputed], "2024-08-20")[2022] == "disputed"
    assert (
        statuses([both, disputed, withdraw("dp_1-won", "dp_1", "2024-08-12")], "2024-08-20")[2022] == "paid"
    )
    # never paid: fee lapse on 2025-07-01 (CCP voluntary before 2006 keeps the example to fees)
    assert set(statuses([], "2025-07-02", certified_on="2004-06-14").values()) == {"void"}


def test_paid_ahead_invoices_are_listed_and_numbers_are_deterministic() -> None:
    ahead = pay("pi_a", "2022-06-20", fee_years=(2022, 2023))
    listed = invoices_for("m-1", cert("2021-06-14"), [ahead], d("2022-06-20"), POLICY)
    assert [(i.number, i.status, i.amount_cents, i.currency) for i in listed] == [
        ("m-1-RMA-2022", InvoiceStatus.PAID, 5000, "usd"),
        ("m-1-RMA-2023", InvoiceStatus.PAID, 5000, "usd"),
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "count", "already_paid", "reason"),
    [
        (5000, "usd", 1, False, None),
        (15000, "USD", 3, False, None),
        (5000, "usd", 0, False, None),  # legacy: one fee year
        (1, "usd", 1, False, ExceptionReason.UNDERPAYMENT),
        (0, "usd", 0, False, ExceptionReason.UNDERPAYMENT),
        (10000, "usd", 3, False, ExceptionReason.UNDERPAYMENT),
        (5001, "usd", 1, False, ExceptionReason.OVERPAYMENT),
        (5000, "eur", 1, False, ExceptionReason.WRONG_CURRENCY),
        (5000, "", 1, False, ExceptionReason.WRONG_CURRENCY),
        (5000, "usd", 1, True, ExceptionReason.ALREADY_PAID),
    ],
)
def test_payment_exception(
    amount: int, currency: str, count: int, already_paid: bool, reason: ExceptionReason | None
) -> None:
    fees = [RMA.annual_fee_on(d("2024-06-01"))] * max(count, 1)  # legacy (0): the one fee year it pays
    assert payment_exception(fees, amount, currency, already_paid) == reason


SCHEDULED = RMA.model_copy(update={"fees": (FeeChange.model_validate({"from": "2023-07", "cents": 6500}),)})


def test_each_invoice_costs_the_fee_in_force_in_its_due_month() -> None:
    policy = POLICY.model_copy(update={"credentials": {**POLICY.credentials, "RMA": SCHEDULED}})
    listed = invoices_for("m", cert("2021-06-14"), [], d("2024-06-20"), policy)
    # due June 2022 and June 2023 (before the July 2023 change), June 2024 (after it)
    assert [(i.fee_year, i.amount_cents) for i in listed] == [(2022, 5000), (2023, 5000), (2024, 6500)]
    assert evaluate(cert("2021-06-14"), [], d("2024-06-20"), policy).fees.amount_due_cents == 5000
    paid = [pay("pi_a", "2024-06-20", fee_years=(2022, 2023))]
    assert evaluate(cert("2021-06-14"), paid, d("2024-06-20"), policy).fees.amount_due_cents == 6500


def test_a_fee_schedule_is_a_list_of_months_in_order() -> None:
    assert SCHEDULED.annual_fee_on(d("2023-06-30")).cents == 5000
    assert SCHEDULED.annual_fee_on(d("2023-07-01")).cents == 6500
    for bad in ("2023-7", "2023-13", "2023-07-01", "2023-07\n", 202307, 86400, d("2023-07-02")):
        with pytest.raises(ValueError, match="from"):
            FeeChange.model_validate({"from": bad, "cents": 1})
    with pytest.raises(ValueError, match="increasing month order"):
        RMA.model_validate(
            {**RMA.model_dump(), "fees": [{"from": "2024-01", "cents": 1}, {"from": "2023-01", "cents": 2}]}
        )


def test_invoices_do_not_depend_on_fact_order() -> None:
    facts = [
        pay("pi_a", "2024-08-01", fee_years=(2022, 2023)),
        pay("pi_b", "2024-08-02"),
        reverse("re_1", "pi_a", "2024-08-10"),
        pay("pi_c", "2024-08-11", fee_years=(2022,)),
    ]
    seen = {
        tuple(sorted(statuses(list(order), "2024-08-20").items())) for order in itertools.permutations(facts)
    }
    # pi_a is refunded; pi_c pays 2022 again; the legacy pi_b pays the earliest year left: 2023
    assert seen == {((2022, "paid"), (2023, "paid"), (2024, "overdue"))}
