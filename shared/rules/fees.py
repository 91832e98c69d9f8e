"""R1 — annual fees.

"one annual fee per certification year, due in the anniversary month (certified 2019-05-14 → fee due
in May 2020, May 2021, …); overdue after the last day of that month. A payment credits the earliest
unpaid fee year; a reversed payment (refund, dispute) uncredits it."

A payment pays the fee years its invoices name; one without invoice numbers pays the earliest open
fee year (:func:`fee_allocation`). Whether its amount and currency were right is decided before it
becomes a fact (``shared.rules.invoices.payment_exception``): a payment fact always pays. Resolving refunds and disputes (which payments are *effective*) is the caller's job
(:func:`shared.rules.status.effective_payment_keys`); this module only counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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


def fee_allocation(
    payments: Iterable[FeePayment],
    certified_on: date,
    as_of: date,
    already_paid: int = 0,
    paid_before: frozenset[int] = frozenset(),
) -> dict[int, FeePayment]:
    """Which payment pays which fee number, over the annual-fee payments paid on/after ``certified_on``
    and known by ``as_of`` (the caller passes only effective ones). Fee numbers up to
    ``already_paid`` are paid by an opening balance, and those in ``paid_before`` by a checkpoint
    (``shared.rules.checkpoint``): no payment takes them.

    Payments are taken in (paid_on, key) order. A payment naming invoices pays exactly those fee
    numbers (a fee named twice stays with the earlier payment: never a second credit); a payment
    without invoice numbers (the legacy flow) then pays the earliest fee number nothing else pays.
    Recertification payments never pay annual fees.
    """
    counted = sorted(
        {
            p.key: p
            for p in payments
            if p.purpose == "annual_fee" and certified_on <= p.paid_on <= as_of and p.recorded_on <= as_of
        }.values(),
        key=lambda p: (p.paid_on, p.key),
    )
    taken = set(range(1, already_paid + 1)) | paid_before
    paid: dict[int, FeePayment] = {}
    for payment in counted:
        for year in payment.fee_years:
            number = fee_number_of_year(certified_on, year)
            if number > 0 and number not in taken:
                paid.setdefault(number, payment)
    number = 1
    for payment in (p for p in counted if not p.fee_years):
        while number in paid or number in taken:
            number += 1
        paid[number] = payment
    return paid


def fee_number_of_year(certified_on: date, year: int) -> int:
    """The fee number whose due month falls in calendar ``year`` (< 1: none)."""
    return year - certified_on.year


def first_unpaid_fee(paid: Iterable[int]) -> int:
    numbers = set(paid)
    return next(n for n in range(1, len(numbers) + 2) if n not in numbers)


def paid_fee_numbers(
    payments: Iterable[FeePayment],
    certified_on: date,
    as_of: date,
    already_paid: int = 0,
    paid_before: frozenset[int] = frozenset(),
) -> set[int]:
    """Fee numbers paid on ``as_of``: those an opening balance or checkpoint covers and those payments pay."""
    allocated = fee_allocation(payments, certified_on, as_of, already_paid, paid_before)
    return set(range(1, already_paid + 1)) | paid_before | set(allocated)


def fee_status(
    certified_on: date,
    annual_fee_cents: int | Callable[[date], int],
    effective_fee_payments: Sequence[FeePayment],
    as_of: date,
    already_paid: int = 0,
    *,
    paid_before: frozenset[int] = frozenset(),
) -> FeeStatus:
    """Fee position on ``as_of``, given the payments that are effective (not reversed).

    ``paid_through`` is the day before the anniversary that ends the last paid year (with no fee
    paid: the day before the first anniversary). ``next_due`` is the month of the earliest unpaid fee;
    ``overdue_since`` is the day after that month when ``as_of`` is past it. ``already_paid``: fee
    years an opening balance covers, counted before the payments. ``annual_fee_cents``: the fee, or
    the fee in force in a given due month (a dated fee schedule); ``amount_due_cents`` is next_due's.
    """
    paid = paid_fee_numbers(effective_fee_payments, certified_on, as_of, already_paid, paid_before)
    next_fee = first_unpaid_fee(paid)
    overdue_from = fee_overdue_from(certified_on, next_fee)
    next_due = fee_due_month(certified_on, next_fee)
    return FeeStatus(
        paid_through=day_before(add_years(certified_on, next_fee)),
        next_due=next_due,
        overdue_since=overdue_from if as_of >= overdue_from else None,
        fees_paid=len(paid),
        amount_due_cents=annual_fee_cents(next_due) if callable(annual_fee_cents) else annual_fee_cents,
    )
