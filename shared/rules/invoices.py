"""Invoices and reconciliation: what a member owes, derived from the facts, and whether a payment
may credit what it names.

There is no invoice ledger. An annual-fee invoice is fee year *n* of a certification's current epoch
(R1), numbered ``{member}-{credential}-{calendar year of its due month}``; its status follows from
the payment facts through the same :func:`shared.rules.fees.fee_allocation` that R1 counts with, so
the invoice list and the status can never disagree.

A payment becomes a fact only when :func:`payment_exception` finds nothing wrong with it: amount and
currency equal to the named invoices' (or, without invoice numbers, to one annual fee) and none of
them already paid. Anything else is held for staff as a payment exception and credits nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.rules.fees import fee_allocation, fee_due_month, fee_number_of_year, fee_overdue_from
from shared.rules.models import Certification, Fact, FeePayment, PaymentReversal, ReversalWithdrawn
from shared.rules.policy import CredentialSpec, Fee, RulesPolicy
from shared.rules.recert import RecertApplication
from shared.rules.status import effective_payment_keys, evaluate, visible_facts

_YEAR = re.compile(r"[0-9]{4}")


class InvoiceStatus(StrEnum):
    OPEN = "open"  # due month begun, not paid
    OVERDUE = "overdue"  # past its due month (R1), not paid
    PAID = "paid"
    REFUNDED = "refunded"  # the payment that paid it was refunded: owed again
    DISPUTED = "disputed"  # the payment that paid it is disputed (or the dispute was lost)
    VOID = "void"  # not paid and the certification lapsed: recertification, not back fees, restores it


class ExceptionReason(StrEnum):
    """Why a payment was held for staff instead of credited."""

    UNDERPAYMENT = "underpayment"
    OVERPAYMENT = "overpayment"
    WRONG_CURRENCY = "wrong_currency"
    ALREADY_PAID = "already_paid"
    UNKNOWN_INVOICE = "unknown_invoice"


def _reversed(
    payments: Sequence[FeePayment], visible: Sequence[Fact], as_of: date
) -> tuple[set[str], dict[str, str]]:
    """The keys of the payments that stand, and payment key -> "refund" / "dispute" for those a
    reversal (not withdrawn by a dispute won) stands against."""
    reversals = [f for f in visible if isinstance(f, PaymentReversal)]
    withdrawals = [f for f in visible if isinstance(f, ReversalWithdrawn)]
    withdrawn = {w.reversal_key for w in withdrawals}
    return (
        effective_payment_keys(payments, reversals, withdrawals, as_of),
        {r.payment_key: r.reason for r in reversals if r.key not in withdrawn},
    )


class InvoiceKind(StrEnum):
    ANNUAL_FEE = "annual_fee"
    RECERTIFICATION = "recertification"  # the fee of one recertification application


class Invoice(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    number: str
    kind: InvoiceKind = InvoiceKind.ANNUAL_FEE
    credential: str
    fee_year: int  # recertification: the year the application was opened
    due_month: date  # first day of the anniversary month (recertification: of the application's month)
    overdue_from: date | None  # recertification fees are never overdue: None
    amount_cents: int
    currency: str
    status: InvoiceStatus
    paid_on: date | None = None
    payment_key: str | None = None  # the Stripe PaymentIntent (else Invoice, else Checkout Session) id
    application_id: str | None = None  # recertification: the application whose fee it is


_RECERT = re.compile(r"R([0-9]{1,6})")


def recertification_invoice_number(member_id: str, credential: str, application_id: str) -> str:
    """``{member}-{credential}-R{n}`` for application ``{member}.{credential}.{n}``."""
    return f"{member_id}-{credential}-R{application_id.rpartition('.')[2]}"


def application_of(number: str, member_id: str, credential: str) -> str | None:
    """The application id a recertification invoice number names for this member and (canonical)
    credential, else None."""
    prefix = f"{member_id}-{credential}-"
    found = _RECERT.fullmatch(number.removeprefix(prefix)) if number.startswith(prefix) else None
    return None if found is None else f"{member_id}.{credential}.{int(found[1])}"


def recertification_invoice(
    member_id: str,
    application: RecertApplication,
    facts: Sequence[Fact],
    as_of: date,
    policy: RulesPolicy,
) -> Invoice:
    """The invoice of a recertification application's fee (``fee_cents``, copied from the catalog
    when the application was opened). Paid once its effective payments reach the fee (partial
    payments add up, as for completion); reopened (refunded / disputed) when a payment for it is
    reversed; void when the application was rejected unpaid; else open."""
    spec = policy.credential(application.credential)
    visible = visible_facts(facts, as_of)
    payments = sorted(
        (
            f
            for f in visible
            if isinstance(f, FeePayment)
            and f.purpose == "recertification"
            and f.application_id == application.application_id
        ),
        key=lambda p: (p.paid_on, p.key),
    )
    effective, reversed_by = _reversed(payments, visible, as_of)
    paid_by, total = None, 0
    for payment in (p for p in payments if p.key in effective):
        total += payment.amount_cents
        if paid_by is None and total >= application.fee_cents:
            paid_by = payment  # the payment that completed the fee
    reasons = [reversed_by[p.key] for p in payments if p.key in reversed_by]
    if paid_by is not None:
        state = InvoiceStatus.PAID
    elif reasons:
        state = InvoiceStatus.REFUNDED if reasons[-1] == "refund" else InvoiceStatus.DISPUTED
    elif application.status == "rejected":
        state = InvoiceStatus.VOID
    else:
        state = InvoiceStatus.OPEN
    return Invoice(
        number=recertification_invoice_number(member_id, spec.code, application.application_id),
        kind=InvoiceKind.RECERTIFICATION,
        credential=spec.code,
        fee_year=application.opened_on.year,
        due_month=application.opened_on.replace(day=1),
        overdue_from=None,
        amount_cents=application.fee_cents,
        currency=spec.currency,
        status=state,
        paid_on=paid_by.paid_on if paid_by else None,
        payment_key=paid_by.key if paid_by else None,
        application_id=application.application_id,
    )


def invoice_number(member_id: str, credential: str, fee_year: int) -> str:
    return f"{member_id}-{credential}-{fee_year}"


def fee_year_of(number: str, member_id: str, credential: str) -> int | None:
    """The fee year an invoice number names for this member and (canonical) credential, else None."""
    prefix = f"{member_id}-{credential}-"
    rest = number.removeprefix(prefix)
    if rest == number or not _YEAR.fullmatch(rest):
        return None
    return int(rest)


def fee_of_year(spec: CredentialSpec, anniversary_month: int, fee_year: int) -> Fee:
    """The annual fee of the invoice of calendar year ``fee_year``: the catalog's fee in force in its
    due month (the anniversary month, ``anniversary_month``, of that year)."""
    return spec.annual_fee_on(date(fee_year, anniversary_month, 1))


def payment_exception(
    fees: Sequence[Fee],
    amount_cents: int,
    currency: str,
    already_paid: bool,
) -> ExceptionReason | None:
    """Whether a payment may credit the invoices whose fees are ``fees`` (the legacy flow: the one
    fee year it pays). The amount must be exactly the sum of their fees, in their currency."""
    if any(currency.lower() != fee.currency for fee in fees):
        return ExceptionReason.WRONG_CURRENCY
    expected = sum(fee.cents for fee in fees)
    if amount_cents < expected:
        return ExceptionReason.UNDERPAYMENT
    if amount_cents > expected:
        return ExceptionReason.OVERPAYMENT
    return ExceptionReason.ALREADY_PAID if already_paid else None


def invoices_for(
    member_id: str,
    cert: Certification,
    facts: Sequence[Fact],
    as_of: date,
    policy: RulesPolicy,
) -> list[Invoice]:
    """The annual-fee invoices of the certification's current epoch on ``as_of``: every fee year whose
    due month has begun, and any fee year paid ahead of it."""
    status = evaluate(cert, facts, as_of, policy)
    spec = policy.credential(cert.credential)
    start = status.certified_on
    visible = visible_facts(facts, as_of)
    payments = [
        f
        for f in visible
        if isinstance(f, FeePayment)
        and f.purpose == "annual_fee"
        and f.paid_on >= start
        and policy.canonical_code(f.credential) == spec.code
    ]
    effective, reversed_by = _reversed(payments, visible, as_of)
    paid = fee_allocation([p for p in payments if p.key in effective], start, as_of)
    reopened: dict[int, InvoiceStatus] = {}
    for payment in payments:
        reason = reversed_by.get(payment.key)
        for year in payment.fee_years if reason is not None else ():
            reopened[fee_number_of_year(start, year)] = (
                InvoiceStatus.REFUNDED if reason == "refund" else InvoiceStatus.DISPUTED
            )
    numbers, n = set(paid), 1
    while fee_due_month(start, n) <= as_of:
        numbers.add(n)
        n += 1
    invoices = []
    for number in sorted(numbers):
        due = fee_due_month(start, number)
        overdue_from = fee_overdue_from(start, number)
        fee = spec.annual_fee_on(due)
        paid_by = paid.get(number)
        if paid_by is not None:
            state = InvoiceStatus.PAID
        elif number in reopened:
            state = reopened[number]
        elif status.lapsed_on is not None:
            state = InvoiceStatus.VOID
        else:
            state = InvoiceStatus.OVERDUE if as_of >= overdue_from else InvoiceStatus.OPEN
        invoices.append(
            Invoice(
                number=invoice_number(member_id, spec.code, due.year),
                credential=spec.code,
                fee_year=due.year,
                due_month=due,
                overdue_from=overdue_from,
                amount_cents=fee.cents,
                currency=fee.currency,
                status=state,
                paid_on=paid_by.paid_on if paid_by else None,
                payment_key=paid_by.key if paid_by else None,
            )
        )
    return invoices
