"""R1 — annual fees.

"one annual fee per certification year, due in the anniversary month (certified 2019-05-14 → fee due
in May 2020, May 2021, …); overdue after the last day of that month. A payment credits the earliest
unpaid fee year; a reversed payment (refund, dispute) uncredits it."

Fees are counted, not matched: ``n`` effective annual-fee payments mean fees ``1..n`` are paid.
Resolving refunds and disputes (which payments are *effective*) is the caller's job
(:func:`shared.rules.status.effective_payment_keys`); this module only counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from shared.rules.dates import add_years, day_after, day_before, first_of_month, last_of_month
from shared.rules.models import FeePayment, FeeStatus


def fee_due_month(certified_on: date, n: int) -> date:
    """First day of the anniversary month in which fee ``n`` (n >= 1) falls due."""
    if n < 1:
        raise ValueError(f"fee number must be >= 1, got {n}")
    return first_of_month(add_years(certified_on, n))


def fee_overdue_from(certified_on: date, n: int) -> date:
    """The first day on which fee ``n`` is overdue: the day after its anniversary month ends."""
    return day_after(last_of_month(fee_due_month(certified_on, n)))


def fees_covered(certified_on: date, paid_through: date) -> int:
    """Fee years paid by ``paid_through`` (an opening balance): the number of fees ``n`` whose paid
    year, ending the day before anniversary ``n + 1``, ends on or before it (rounded down to a whole
    fee year; 0 while it is still inside the first year, which the certification itself covers)."""
    paid = 0
    while day_before(add_years(certified_on, paid + 2)) <= paid_through:
        paid += 1
    return paid


def count_annual_fees(payments: Iterable[FeePayment], certified_on: date, as_of: date) -> int:
    """Distinct annual-fee payments (by key) paid on/after ``certified_on`` and known by ``as_of``.

    Recertification payments never count as annual fees. The amount is not checked: one settled
    annual-fee payment credits one fee year.
    """
    return len(
        {
            p.key
            for p in payments
            if p.purpose == "annual_fee" and certified_on <= p.paid_on <= as_of and p.recorded_on <= as_of
        }
    )


def fee_status(
    certified_on: date,
    annual_fee_cents: int,
    effective_fee_payments: Sequence[FeePayment],
    as_of: date,
    already_paid: int = 0,
) -> FeeStatus:
    """Fee position on ``as_of``, given the payments that are effective (not reversed).

    ``paid_through`` is the day before the anniversary that ends the last paid year (with no fee
    paid: the day before the first anniversary). ``next_due`` is the month of the earliest unpaid fee;
    ``overdue_since`` is the day after that month when ``as_of`` is past it. ``already_paid``: fee
    years an opening balance covers, counted before the payments.
    """
    paid = already_paid + count_annual_fees(effective_fee_payments, certified_on, as_of)
    next_fee = paid + 1
    overdue_from = fee_overdue_from(certified_on, next_fee)
    return FeeStatus(
        paid_through=day_before(add_years(certified_on, paid + 1)),
        next_due=fee_due_month(certified_on, next_fee),
        overdue_since=overdue_from if as_of >= overdue_from else None,
        fees_paid=paid,
        amount_due_cents=annual_fee_cents,
    )
