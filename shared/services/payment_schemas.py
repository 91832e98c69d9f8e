"""Payments on the wire and the answers of the payment service: what a webhook delivery came to, the
staff lists (parked payments, payment exceptions) and their resolution, payment links asked for and
made, and the error codes."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.stripe_events import MAX_INVOICES
from shared.errors import Conflict, NotFound, Unprocessable
from shared.rules.invoices import ExceptionReason

MAX_ATTEMPTS = 4


class WebhookResult(StrEnum):
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    REVERSED = "reversed"
    IGNORED = "ignored"
    PARKED = "parked"
    EXCEPTION = "exception"  # held for staff: wrong amount or currency, invoice unknown or already paid


class Resolution(StrEnum):
    CREDIT = "credit"  # credit the invoices the payment names (staff accept the amount)
    REFUND = "refund"  # staff refund it in Stripe; nothing is credited


class ResolutionRequest(BaseModel):
    """Body of ``POST /admin/payment-exceptions/{payment_key}/resolution`` (and of the console's form)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    action: Resolution
    note: str = Field(min_length=1, max_length=500, description="Why (kept on the member's timeline)")


class PaymentExceptionItem(BaseModel):
    """One entry of ``GET /admin/payment-exceptions``."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    payment_key: str
    member_id: str
    credential: str
    reason: ExceptionReason
    received_on: date
    amount_cents: int
    currency: str
    invoices: list[str]


class UnknownException(NotFound):
    code = "unknown_payment_exception"


class ExceptionResolved(Conflict):
    code = "already_resolved"


class InvoiceAlreadyPaid(Conflict):
    code = "invoice_already_paid"


class CannotCredit(Unprocessable):
    code = "cannot_credit"


class ParkedItem(BaseModel):
    """One entry of ``GET /admin/parked-payments``."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: str  # "payment" (unknown member/credential or unusable metadata) | "reversal" (awaits its payment)
    payment_key: str
    member_id: str | None
    credential: str | None
    reason: str
    received_on: date
    amount_cents: int | None = None


class LostRace(RuntimeError):
    """Too many concurrent changes to one payment key: let Stripe redeliver (a 500)."""


class PaymentLinkRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    invoices: list[str] = Field(
        min_length=1,
        max_length=MAX_INVOICES,
        description="Invoice numbers from GET /members/{member_id}/invoices, all of one certification",
    )


class PaymentLink(BaseModel):
    model_config = ConfigDict(defer_build=True)

    member_id: str
    url: str = Field(description="The Stripe Checkout page the member pays on")
    session_id: str
    invoices: list[str]
    amount_cents: int
    currency: str
