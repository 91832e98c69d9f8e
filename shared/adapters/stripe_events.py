"""Stripe event payloads -> what they mean for us (the one Stripe adapter; no I/O here).

Which events count:

* payments: ``checkout.session.completed`` (only with ``payment_status == "paid"``),
  ``checkout.session.async_payment_succeeded``, ``payment_intent.succeeded``, ``invoice.paid``.
  The member and purpose come from the object's ``metadata`` (``member_id``, ``credential``,
  ``purpose`` = ``annual_fee`` | ``recertification``, optional ``application_id``); an invoice may
  also carry it on its subscription details. ``metadata.invoices`` (comma-separated invoice numbers,
  at most ``MAX_INVOICES``) names the invoices a payment link was made for; without it the payment
  is a legacy one. A payment without ``member_id`` is not ours (the CE store
  shares the Stripe account) and is ignored; one with ``member_id`` but missing or bad fields is
  parked for staff rather than dropped.
* reversals: ``charge.refunded`` when the charge is fully refunded (``refunded: true``),
  ``charge.dispute.created``; ``charge.dispute.closed`` with ``status == "won"`` withdraws the dispute.
  Charges and disputes need no metadata: they name their PaymentIntent, and the payment ledger finds
  the member from it.

Payment key: the PaymentIntent id, else the Invoice id, else the Checkout Session id - so the same
payment seen as a session, an intent and an invoice is one fact. Every other id the object reveals
(a subscription-mode session names only its Invoice; the invoice names its PaymentIntent) is an
``alias``: the ledger checks and writes a pointer for each, so the payment is credited once whichever
of its ids an event is keyed on.

A ``member_id`` that is not a valid member id is parked, never credited. Odd but signed payloads
(wrong JSON types, out-of-range timestamps, ids over 255 characters) are ``MalformedEvent`` (400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.rules.ids import is_member_id

PAYMENT_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
    }
)
REVERSAL_EVENTS = frozenset({"charge.refunded", "charge.dispute.created", "charge.dispute.closed"})
PURPOSES = ("annual_fee", "recertification")
CURRENCY = re.compile(r"[A-Za-z]{3}")  # ISO 4217; anything else is kept as "" (no currency matches it)
MAX_ID_LENGTH = 255  # Stripe ids are far shorter; keeps every key well under DynamoDB's limits
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
# Stripe's largest charge (8 digits of the smallest unit); anything above cannot be a real payment
# and would not even fit a DynamoDB number (38 digits): parked for staff instead of crashing.
MAX_AMOUNT_CENTS = 99_999_999
MAX_INVOICES = 20  # one payment link pays at most this many invoices (keeps the one read under 100 keys)


class MalformedEvent(Exception):
    """The body is not a Stripe event of the shape we need (400 ``malformed_event``, ``shared.http``)."""


@dataclass(frozen=True)
class PaymentSeen:
    """A settled payment. ``problem`` is set when its metadata cannot be used (it gets parked)."""

    event_id: str
    payment_key: str
    member_id: str
    credential: str
    purpose: str
    application_id: str | None
    amount_cents: int
    created: datetime
    problem: str | None = None
    currency: str = ""  # as Stripe sends it (lower case ISO 4217); checked against the invoices'
    invoices: tuple[str, ...] = ()  # ``metadata.invoices``: the invoice numbers it pays (comma separated)
    aliases: tuple[str, ...] = ()  # the payment's other ids (Invoice, PaymentIntent) besides the key


@dataclass(frozen=True)
class ReversalSeen:
    """A refund or dispute (``withdrawn`` False) or a dispute won (``withdrawn`` True)."""

    event_id: str
    payment_key: str
    reversal_key: str
    reason: Literal["refund", "dispute"]
    withdrawn: bool
    created: datetime


@dataclass(frozen=True)
class Ignored:
    event_id: str
    why: str


StripeAction = PaymentSeen | ReversalSeen | Ignored


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id_of(value: Any) -> str | None:
    """An id field that may be a string or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        return None
    if len(value) > MAX_ID_LENGTH:
        raise MalformedEvent(f"ids are at most {MAX_ID_LENGTH} characters")
    return value


def _timestamp(stamp: Any) -> datetime:
    if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 <= stamp <= MAX_TIMESTAMP:
        raise MalformedEvent("object.created must be a unix timestamp")
    return datetime.fromtimestamp(stamp, UTC)


def _created(obj: dict[str, Any], event: dict[str, Any]) -> datetime:
    return _timestamp(obj.get("created", event.get("created")))


def _metadata(obj: dict[str, Any]) -> dict[str, str]:
    """The object's metadata; for invoices also the subscription's (old and new API shapes)."""
    found: dict[str, str] = {}
    sources = [
        _dict(_dict(obj.get("parent")).get("subscription_details")).get("metadata"),
        _dict(obj.get("subscription_details")).get("metadata"),
        obj.get("metadata"),
    ]
    for source in sources:  # later sources win: the object's own metadata last
        if isinstance(source, dict):
            found.update({str(k): str(v) for k, v in source.items() if v is not None})
    return found


def _invoice_payment_intent(obj: dict[str, Any]) -> str | None:
    direct = _id_of(obj.get("payment_intent"))
    if direct:
        return direct
    payments = _dict(obj.get("payments")).get("data")  # API 2025-03-31 and later
    for entry in payments if isinstance(payments, list) else []:
        intent = _id_of(_dict(_dict(entry).get("payment")).get("payment_intent"))
        if intent:
            return intent
    return None


def _payment(event_type: str, obj: dict[str, Any], event: dict[str, Any], event_id: str) -> StripeAction:
    if event_type.startswith("checkout.session."):
        if obj.get("payment_status") != "paid":
            return Ignored(event_id, f"checkout session payment_status={obj.get('payment_status')!r}")
        # the session's own id keys it only when it names neither an intent nor an invoice
        ids = [_id_of(obj.get("payment_intent")), _id_of(obj.get("invoice"))]
        ids = ids if any(ids) else [_id_of(obj)]
        amount = obj.get("amount_total")
    elif event_type == "payment_intent.succeeded":
        ids = [_id_of(obj), _id_of(obj.get("invoice"))]
        amount = obj.get("amount_received", obj.get("amount"))
    else:  # invoice.paid
        ids = [_invoice_payment_intent(obj), _id_of(obj)]
        amount = obj.get("amount_paid")
    if _id_of(obj) is None:
        raise MalformedEvent("data.object.id is missing")
    key, *aliases = [i for i in ids if i is not None]
    metadata = _metadata(obj)
    member_id = metadata.get("member_id", "").strip()
    if not member_id:
        return Ignored(event_id, "no member_id in metadata (not a Stay Certified payment)")
    credential = metadata.get("credential", "").strip()
    purpose = metadata.get("purpose", "").strip()
    problem = None
    if not is_member_id(member_id):
        problem = "metadata.member_id is not a valid member id"
    elif not credential:
        problem = "metadata.credential missing"
    elif purpose not in PURPOSES:
        problem = f"metadata.purpose must be one of {', '.join(PURPOSES)}"
    invoices = tuple(n.strip() for n in metadata.get("invoices", "").split(",") if n.strip())
    if len(invoices) > MAX_INVOICES and problem is None:
        problem = f"metadata.invoices names more than {MAX_INVOICES} invoices"
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        amount, problem = 0, problem or "amount missing"
    elif amount > MAX_AMOUNT_CENTS:
        amount, problem = 0, problem or f"amount over {MAX_AMOUNT_CENTS} (not a real payment)"
    currency = obj.get("currency")
    return PaymentSeen(
        event_id=event_id,
        payment_key=key,
        member_id=member_id,
        credential=credential,
        purpose=purpose,
        application_id=metadata.get("application_id") or None,
        amount_cents=amount,
        created=_created(obj, event),
        problem=problem,
        aliases=tuple(a for a in dict.fromkeys(aliases) if a != key),
        currency=currency.lower() if isinstance(currency, str) and CURRENCY.fullmatch(currency) else "",
        invoices=invoices,
    )


def _reversal(event_type: str, obj: dict[str, Any], event: dict[str, Any], event_id: str) -> StripeAction:
    object_id = _id_of(obj)
    if object_id is None:
        raise MalformedEvent("data.object.id is missing")
    if event_type == "charge.refunded":
        if obj.get("refunded") is not True:
            return Ignored(event_id, "partial refund (only a full refund uncredits a payment)")
        refunded_key = _id_of(obj.get("payment_intent")) or _id_of(obj.get("invoice")) or object_id
        return ReversalSeen(
            event_id, refunded_key, f"refund-{object_id}", "refund", False, _created(obj, event)
        )
    payment_key = _id_of(obj.get("payment_intent")) or _id_of(obj.get("charge"))
    if payment_key is None:
        raise MalformedEvent("dispute names neither payment_intent nor charge")
    if event_type == "charge.dispute.created":
        return ReversalSeen(event_id, payment_key, object_id, "dispute", False, _created(obj, event))
    if obj.get("status") != "won":
        return Ignored(event_id, f"dispute closed with status {obj.get('status')!r}: reversal stands")
    closed = event.get("created")
    closed_at = _timestamp(closed) if isinstance(closed, int) else _created(obj, event)
    return ReversalSeen(event_id, payment_key, object_id, "dispute", True, closed_at)


def interpret(event: Any) -> StripeAction:
    """What a (verified, parsed) Stripe event means for us. Raises ``MalformedEvent``."""
    if not isinstance(event, dict):
        raise MalformedEvent("body must be a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise MalformedEvent("id and type are required")
    if event_type not in PAYMENT_EVENTS and event_type not in REVERSAL_EVENTS:
        return Ignored(event_id, f"event type {event_type} not handled")
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent("data.object is required")
    if event_type in PAYMENT_EVENTS:
        return _payment(event_type, obj, event, event_id)
    return _reversal(event_type, obj, event, event_id)
