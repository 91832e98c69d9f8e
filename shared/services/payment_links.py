"""Payment links (``POST /members/{id}/payments``): a Stripe Checkout Session for exactly the open
invoices the member asks to pay.

Cost: one Query of the member partition (the invoices are derived from it, as a status read) and one
Stripe call. Nothing is written: the payment is recorded when Stripe's signed webhook says it was
paid, and reconciled there against the invoices named in the session's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from shared.adapters.stripe_checkout import (
    CheckoutRequest,
    CheckoutSession,
    LineItem,
    StripeUnavailable,
)
from shared.errors import Conflict, ServiceUnavailable, Unprocessable
from shared.rules.invoices import Invoice, InvoiceKind, InvoiceStatus
from shared.services.members import MemberService
from shared.services.payment_schemas import PaymentLink, PaymentLinkRequest

PAYABLE = frozenset(
    {InvoiceStatus.OPEN, InvoiceStatus.OVERDUE, InvoiceStatus.REFUNDED, InvoiceStatus.DISPUTED}
)

CreateSession = Callable[[CheckoutRequest], CheckoutSession]


class UnknownInvoice(Unprocessable):
    code = "unknown_invoice"


class InvoiceNotPayable(Conflict):
    code = "invoice_not_payable"


class MixedCredentials(Unprocessable):
    code = "mixed_credentials"


class MixedInvoiceKinds(Unprocessable):
    code = "mixed_invoice_kinds"


class PaymentLinkService:
    def __init__(self, members: MemberService, create_session: CreateSession, portal_url: str) -> None:
        self.members = members
        self.create_session = create_session
        self.portal_url = portal_url

    def create(self, member_id: str, request: PaymentLinkRequest, today: date) -> PaymentLink:
        wanted = list(dict.fromkeys(request.invoices))
        if len(wanted) != len(request.invoices):
            raise UnknownInvoice("an invoice is named twice", field="invoices")
        known = {i.number: i for i in self.members.invoices(member_id, today).invoices}
        chosen: list[Invoice] = []
        for index, number in enumerate(wanted):
            invoice = known.get(number)
            if invoice is None:
                raise UnknownInvoice(f"no invoice {number!r} for this member", field=f"invoices[{index}]")
            if invoice.status not in PAYABLE:
                raise InvoiceNotPayable(
                    f"invoice {number} is {invoice.status.value}",
                    field=f"invoices[{index}]",
                    status=invoice.status,
                )
            chosen.append(invoice)
        if len({i.credential for i in chosen}) > 1:
            raise MixedCredentials(
                "one payment link pays the invoices of one certification", field="invoices"
            )
        first = chosen[0]
        recertification = first.kind is InvoiceKind.RECERTIFICATION
        if len(chosen) > 1 and any(i.kind is InvoiceKind.RECERTIFICATION for i in chosen):
            raise MixedInvoiceKinds(
                "a recertification fee is paid through a link of its own", field="invoices"
            )
        checkout = CheckoutRequest(
            member_id=member_id,
            credential=first.credential,
            currency=first.currency,
            lines=tuple(LineItem(i.number, _line_description(i), i.amount_cents) for i in chosen),
            success_url=f"{self.portal_url}/invoices?paid={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{self.portal_url}/invoices",
            # the metadata the webhook credits a recertification fee by (purpose, application_id)
            purpose=InvoiceKind.RECERTIFICATION.value if recertification else InvoiceKind.ANNUAL_FEE.value,
            application_id=first.application_id if recertification else None,
        )
        try:
            session = self.create_session(checkout)
        except StripeUnavailable as error:
            raise ServiceUnavailable(
                "the payment provider is unavailable, nothing was created: try again", error.retry_after
            ) from error
        return PaymentLink(
            member_id=member_id,
            url=session.url,
            session_id=session.session_id,
            invoices=checkout.invoice_numbers,
            amount_cents=checkout.amount_cents,
            currency=checkout.currency,
        )


def _line_description(invoice: Invoice) -> str:
    if invoice.kind is InvoiceKind.RECERTIFICATION:
        return f"{invoice.credential} recertification fee ({invoice.number})"
    return f"{invoice.credential} annual fee {invoice.fee_year} ({invoice.number})"
