"""R1: one annual fee per certification year, due in the anniversary month, overdue after it."""

from __future__ import annotations

import pytest
from rules_helpers import POLICY, ce, cert, d, pay, reverse, withdraw

from shared.rules.fees import fee_due_month, fee_overdue_from, fee_status
from shared.rules.models import Reason, Standing
from shared.rules.status import evaluate


@pytest.mark.parametrize(
    ("certified_on", "n", "due"),
    [
        ("2019-05-14", 1, "2020-05-01"),
        ("2019-05-14", 2, "2021-05-01"),
        ("2019-05-01", 1, "2020-05-01"),
        ("2019-05-31", 1, "2020-05-01"),
        ("2020-02-29", 1, "2021-02-01"),
        ("2020-02-29", 4, "2024-02-01"),
        ("2019-12-31", 1, "2020-12-01"),
    ],
)
def test_fee_due_month(certified_on: str, n: int, due: str) -> None:
    assert fee_due_month(d(certified_on), n) == d(due)


def test_fee_number_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fee number"):
        fee_due_month(d("2019-05-14"), 0)


@pytest.mark.parametrize(
    ("certified_on", "n", "overdue_from"),
    [
        ("2019-05-14", 1, "2020-06-01"),
        ("2020-02-29", 1, "2021-03-01"),  # Feb 2021 has 28 days
        ("2020-02-29", 4, "2024-03-01"),  # Feb 2024 has 29 days
        ("2019-12-02", 1, "2021-01-01"),  # December fee -> overdue from New Year
    ],
)
def test_fee_overdue_from(certified_on: str, n: int, overdue_from: str) -> None:
    assert fee_overdue_from(d(certified_on), n) == d(overdue_from)


# as_of around the end of the first anniversary month (certified 2019-05-14, no fee paid)
@pytest.mark.parametrize(
    ("as_of", "overdue_since"),
    [
        ("2020-04-30", None),
        ("2020-05-01", None),
        ("2020-05-31", None),  # last day of the anniversary month: due, not overdue
        ("2020-06-01", "2020-06-01"),  # day after: overdue
        ("2020-06-02", "2020-06-01"),
        ("2022-01-01", "2020-06-01"),
    ],
)
def test_first_fee_overdue_after_anniversary_month(as_of: str, overdue_since: str | None) -> None:
    status = fee_status(d("2019-05-14"), 5000, [], d(as_of))
    assert status.overdue_since == (d(overdue_since) if overdue_since else None)
    assert status.fees_paid == 0
    assert status.next_due == d("2020-05-01")
    assert status.paid_through == d("2020-05-13")
    assert status.amount_due_cents == 5000


@pytest.mark.parametrize(
    ("certified_on", "payments", "as_of", "paid_through", "next_due", "overdue_since"),
    [
        ("2019-05-14", 1, "2021-05-31", "2021-05-13", "2021-05-01", None),
        ("2019-05-14", 1, "2021-06-01", "2021-05-13", "2021-05-01", "2021-06-01"),
        ("2019-05-14", 2, "2021-06-01", "2022-05-13", "2022-05-01", None),
        # Feb-29 certification: anniversaries fall on Feb 28 in common years
        ("2020-02-29", 0, "2021-02-28", "2021-02-27", "2021-02-01", None),
        ("2020-02-29", 0, "2021-03-01", "2021-02-27", "2021-02-01", "2021-03-01"),
        ("2020-02-29", 2, "2023-03-01", "2023-02-27", "2023-02-01", "2023-03-01"),
        ("2020-02-29", 3, "2024-02-29", "2024-02-28", "2024-02-01", None),
        ("2020-02-29", 3, "2024-03-01", "2024-02-28", "2024-02-01", "2024-03-01"),
        ("2020-02-29", 4, "2024-03-01", "2025-02-27", "2025-02-01", None),
    ],
)
def test_paid_through_advances_one_year_per_fee(
    certified_on: str, payments: int, as_of: str, paid_through: str, next_due: str, overdue_since: str | None
) -> None:
    paid = [pay(f"p{i}", certified_on) for i in range(payments)]
    status = fee_status(d(certified_on), 5000, paid, d(as_of))
    assert status.fees_paid == payments
    assert status.paid_through == d(paid_through)
    assert status.next_due == d(next_due)
    assert status.overdue_since == (d(overdue_since) if overdue_since else None)


def test_fee_status_counts_only_distinct_annual_fees_in_the_epoch() -> None:
    payments = [
        pay("p1", "2020-05-02"),
        pay("p1", "2020-05-02", "2020-05-03"),  # same payment delivered again
        pay("r1", "2020-05-02", purpose="recertification"),
        pay("old", "2019-05-13"),  # before the certification date
        pay("later", "2020-05-02", "2020-07-01"),  # recorded after as_of
    ]
    status = fee_status(d("2019-05-14"), 5000, payments, d("2020-06-15"))
    assert status.fees_paid == 1


# ------------------------------------------------------- through evaluate(): reversals, credentials

CERT = cert("2019-05-14")
CCP_DONE = ce("c1", "2019-06-01", 30)


@pytest.mark.parametrize(
    ("facts", "as_of", "fees_paid", "reasons"),
    [
        pytest.param([CCP_DONE], "2020-06-01", 0, (Reason.FEE_OVERDUE,), id="unpaid"),
        pytest.param([CCP_DONE, pay("p1", "2020-05-10")], "2020-06-01", 1, (), id="paid-in-month"),
        pytest.param([CCP_DONE, pay("p1", "2020-06-01")], "2020-06-01", 1, (), id="paid-late-credits-fee-1"),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-06-02")], "2020-06-01", 0, (Reason.FEE_OVERDUE,), id="paid-tomorrow"
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10", "2020-06-02")],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="payment-recorded-after-as-of-ignored",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10"), reverse("re1", "p1", "2020-05-20")],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="refund-uncredits",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10"), reverse("re1", "p1", "2020-05-20", reason="dispute")],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="dispute-uncredits",
        ),
        pytest.param(
            [
                CCP_DONE,
                pay("p1", "2020-05-10"),
                reverse("re1", "p1", "2020-05-20", reason="dispute"),
                withdraw("w1", "re1", "2020-05-30"),
            ],
            "2020-06-01",
            1,
            (),
            id="dispute-won-recredits",
        ),
        pytest.param(
            [
                CCP_DONE,
                pay("p1", "2020-05-10"),
                reverse("re1", "p1", "2020-05-20", reason="dispute"),
                withdraw("w1", "re1", "2020-06-02"),
            ],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="dispute-won-after-as-of-ignored",
        ),
        pytest.param(
            [
                CCP_DONE,
                pay("p1", "2020-05-10"),
                reverse("re1", "p1", "2020-05-20"),
                withdraw("w1", "other-reversal", "2020-05-30"),
            ],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="withdrawal-of-another-reversal",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10"), reverse("re1", "p1", "2020-06-02")],
            "2020-06-01",
            1,
            (),
            id="refund-recorded-after-as-of-ignored",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10"), reverse("re1", "unrelated", "2020-05-20")],
            "2020-06-01",
            1,
            (),
            id="refund-of-another-payment",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10", purpose="recertification")],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="recertification-fee-is-not-an-annual-fee",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10", credential="AHI")],
            "2020-06-01",
            0,
            (Reason.FEE_OVERDUE,),
            id="other-credentials-payment",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10"), pay("p2", "2020-05-11")],
            "2021-06-01",
            2,
            (),
            id="second-payment-credits-next-year",
        ),
        pytest.param(
            [CCP_DONE, pay("p1", "2020-05-10"), pay("p1", "2020-05-10", "2020-05-12")],
            "2021-06-01",
            1,
            (Reason.FEE_OVERDUE,),
            id="same-payment-twice-counts-once",
        ),
    ],
)
def test_fee_standing(facts: list, as_of: str, fees_paid: int, reasons: tuple[Reason, ...]) -> None:
    status = evaluate(CERT, facts, d(as_of), POLICY)
    assert status.fees.fees_paid == fees_paid
    assert status.reasons == reasons
    assert status.status == (Standing.DELINQUENT if reasons else Standing.ACTIVE)


def test_amount_due_is_the_credentials_annual_fee() -> None:
    status = evaluate(cert("2019-05-14", "MLS"), [], d("2019-06-01"), POLICY)
    assert status.fees.amount_due_cents == 9000
    status = evaluate(cert("2019-05-14", "AHI"), [], d("2019-06-01"), POLICY)
    assert status.fees.amount_due_cents == 3000


def test_alias_payment_counts_for_canonical_credential() -> None:
    facts = [pay("p1", "2020-05-10", credential="MT")]
    status = evaluate(cert("2019-05-14", "MLS"), facts, d("2020-06-01"), POLICY)
    assert status.fees.fees_paid == 1
    assert status.credential == "MLS"
    status = evaluate(cert("2019-05-14", "mt"), facts, d("2020-06-01"), POLICY)
    assert status.fees.fees_paid == 1


def test_unknown_credential_raises() -> None:
    with pytest.raises(KeyError):
        evaluate(cert("2019-05-14", "NOPE"), [], d("2020-06-01"), POLICY)
