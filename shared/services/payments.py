"""Stripe payments and reversals -> rule facts (R1), idempotently, in at most two requests.

Flow per event (``shared.store.payments`` has the item layout):

1. one consistent ``BatchGetItem``: the payment key's pointer / pending reversals / parked payment
   and, for a payment, the member's certification row;
2. one write: the crediting transaction (fact + pointer + invoice claims + pending reversals +
   scheduler nudge), a payment exception (+ its timeline event), a reversal in the member partition
   (+ the claims it reopens), a held reversal, or a parked payment.

Money is exact (``shared.rules.invoices.payment_exception``): a payment credits the invoices it names
only when its amount is their sum, in their currency, and none is already paid; a payment without
invoice numbers credits one fee year when its amount is one annual fee. Anything else is a payment
exception for staff (``GET /admin/payment-exceptions``), which credits nothing until staff resolve it.

A lost race (another delivery changed what step 1 saw) cancels the conditional transaction and the
event starts over from step 1; nothing is ever written twice and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.stripe_events import MEMBER_ID, Ignored, PaymentSeen, ReversalSeen, StripeAction
from shared.clock import business_date_of
from shared.errors import Conflict, NotFound, Unprocessable
from shared.observability import logger
from shared.rules.invoices import (
    ExceptionReason,
    application_of,
    fee_of_year,
    fee_year_of,
    payment_exception,
)
from shared.rules.models import FeePayment, PaymentReversal, ReversalWithdrawn
from shared.rules.policy import Fee, RulesPolicy
from shared.store.payments import NO_MEMBER, LedgerView, ParkedPayment, PaymentLedger, Retry, fact_key_of
from shared.store.records import EventRecord

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


def _certified_on(view: LedgerView) -> date:
    """The certification date on the certification row the ledger read (date.min without one)."""
    body = (view.certification or {}).get("body") or {}
    return date.fromisoformat(str(body.get("certified_on", "0001-01-01")))


def _application(body: dict[str, Any]) -> str | None:
    """The recertification application whose fee a payment link's payment pays (its invoice is
    priced from the application), else None: nothing more to read."""
    if body.get("purpose") == "recertification" and body.get("invoices") and body.get("application_id"):
        return str(body["application_id"])
    return None


def _recertification_fee(member_id: str, body: dict[str, Any], view: LedgerView) -> int | None:
    """The fee of the one recertification invoice the payment names, when that invoice is the
    application's (``metadata.application_id``) and the application exists; else None."""
    named = [str(n) for n in body.get("invoices") or ()]
    if len(named) != 1 or view.application is None:
        return None
    if application_of(named[0], member_id, str(body["credential"])) != body.get("application_id"):
        return None
    return int(view.application.get("fee_cents", 0)) or None


class PaymentService:
    def __init__(self, ledger: PaymentLedger, policy: RulesPolicy, zone: ZoneInfo | None = None) -> None:
        self.ledger = ledger
        self.policy = policy
        self.zone = zone or ZoneInfo("America/Chicago")

    def handle(self, action: StripeAction, today: date) -> WebhookResult:
        match action:
            case Ignored():
                logger.info("stripe event ignored", extra={"event_id": action.event_id, "why": action.why})
                return WebhookResult.IGNORED
            case PaymentSeen():
                return self._payment(action, today)
            case ReversalSeen():
                return self._reversal(action, today)
        raise TypeError(f"unexpected action {action!r}")  # pragma: no cover - exhaustive

    # ------------------------------------------------------------------ payments

    def _payment(self, seen: PaymentSeen, today: date) -> WebhookResult:
        code = self.policy.canonical_code(seen.credential) if seen.credential else None
        body = {
            "event_id": seen.event_id,
            "payment_key": seen.payment_key,
            "member_id": seen.member_id,
            "credential": code or seen.credential,
            "purpose": seen.purpose,
            "application_id": seen.application_id,
            "amount_cents": seen.amount_cents,
            "paid_on": business_date_of(seen.created, self.zone).isoformat(),
            "recorded_on": today.isoformat(),
            "aliases": list(seen.aliases),
            "currency": seen.currency,
            "invoices": list(seen.invoices),
        }
        if seen.problem is not None or code is None:
            view = self.ledger.view(seen.payment_key, aliases=seen.aliases)
            if view.any_pointer is not None or view.exception is not None:
                return WebhookResult.DUPLICATE
            reason = seen.problem or f"unknown credential {seen.credential!r}"
            # an unusable member id is listed under no member: no roster upsert may pick it up
            listed = seen.member_id if MEMBER_ID.fullmatch(seen.member_id) else NO_MEMBER
            return self._park(
                seen.payment_key, listed, code or seen.credential, reason, body=body, today=today
            )
        for _ in range(MAX_ATTEMPTS):
            view = self.ledger.view(
                seen.payment_key, (seen.member_id, code), seen.aliases, seen.invoices, _application(body)
            )
            if view.any_pointer is not None:
                self._link(seen.payment_key, view, today)
                return WebhookResult.DUPLICATE
            if view.exception is not None:
                return WebhookResult.DUPLICATE
            if not view.certification_exists:
                reason = f"member {seen.member_id!r} does not hold {code} (or is unknown)"
                return self._park(seen.payment_key, seen.member_id, code, reason, body=body, today=today)
            try:
                return self._settle(seen.member_id, body, view, today)
            except Retry:
                continue
        raise LostRace(seen.payment_key)

    def _fee_years(
        self, member_id: str, body: dict[str, Any], view: LedgerView, today: date
    ) -> list[int] | None:
        """The fee years the payment's invoice numbers name, or None when one is not an invoice of
        this certification (malformed, another member's, before its certification, too far ahead, or
        named twice)."""
        first = _certified_on(view).year + 1
        years = [fee_year_of(str(n), member_id, str(body["credential"])) for n in body.get("invoices") or ()]
        last = date.fromisoformat(str(body["paid_on"])).year + 1  # from the payment: any day decides alike
        valid = [y for y in years if y is not None and first <= y <= last]
        return valid if len(set(valid)) == len(years) else None

    def _names_its_invoices(
        self, member_id: str, body: dict[str, Any], view: LedgerView, today: date
    ) -> bool:
        """Whether the invoices the payment names are this certification's (annual fee years, or the
        recertification application it is for)."""
        if body["purpose"] == "recertification" and body.get("invoices"):
            return _recertification_fee(member_id, body, view) is not None
        return self._fee_years(member_id, body, view, today) is not None

    def _exception_reason(
        self, member_id: str, body: dict[str, Any], view: LedgerView, today: date
    ) -> ExceptionReason | None:
        spec = self.policy.credential(str(body["credential"]))
        currency = str(body.get("currency") or "")
        if body["purpose"] == "recertification":
            if not body.get("invoices"):  # partial payments add up (see the recertification rules)
                return ExceptionReason.WRONG_CURRENCY if currency != spec.currency else None
            fee = _recertification_fee(member_id, body, view)  # a payment link's: exactly the fee
            if fee is None:
                return ExceptionReason.UNKNOWN_INVOICE
            return payment_exception(
                [Fee(cents=fee, currency=spec.currency)],
                int(body["amount_cents"]),
                currency,
                bool(view.paid_invoices),
            )
        years = self._fee_years(member_id, body, view, today)
        if years is None:
            return ExceptionReason.UNKNOWN_INVOICE
        # each invoice costs the fee in force in its due month; a legacy payment names none: the fee
        # in force in the month it was paid
        month = _certified_on(view).month
        fees = [fee_of_year(spec, month, year) for year in years] or [
            spec.annual_fee_on(date.fromisoformat(str(body["paid_on"])))
        ]
        return payment_exception(fees, int(body["amount_cents"]), currency, bool(view.paid_invoices))

    def _settle(self, member_id: str, body: dict[str, Any], view: LedgerView, today: date) -> WebhookResult:
        """Credit the payment, or hold it as an exception: one write. Raises ``Retry``."""
        reason = self._exception_reason(member_id, body, view, today)
        if reason is None:
            created = self._credit(member_id, body, view, today)
            return WebhookResult.CREDITED if created else WebhookResult.DUPLICATE
        key, code = str(body["payment_key"]), str(body["credential"])
        held = ParkedPayment(key, member_id, code, reason.value, today, body)
        amount = f"{int(body['amount_cents']) / 100:,.2f} {str(body.get('currency') or '?').upper()}"
        event = EventRecord(
            kind="payment_exception",
            key=key,
            occurred_on=date.fromisoformat(str(body["paid_on"])),
            recorded_on=today,
            credential=code,
            summary=f"payment {key} of {amount} held for staff: {reason.value}",
            data={"reason": reason.value, "invoices": list(body.get("invoices") or [])},
        )
        created = self.ledger.record_exception(
            held, self.ledger.event_item(member_id, event), was_parked=view.parked is not None
        )
        logger.info("payment exception", extra={"payment_key": key, "reason": reason.value, "new": created})
        return WebhookResult.EXCEPTION if created else WebhookResult.DUPLICATE

    def _link(self, payment_key: str, view: LedgerView, today: date) -> None:
        """A duplicate that reveals an id the credited payment has no pointer under yet (a
        subscription's session named only its Invoice; this event names its PaymentIntent too):
        add it, so a dispute or refund keyed on that id finds the member - and apply any reversal
        already held under it. Best effort: a lost race is left to the next delivery."""
        pointer = view.any_pointer
        ids = {payment_key: (view.pointer, view.pending), **view.aliases}
        missing = {key: pending for key, (found, pending) in ids.items() if found is None}
        if pointer is None or not missing:
            return
        try:
            member_id, credential = str(pointer["member_id"]), str(pointer["credential"])
            invoices = tuple(str(n) for n in pointer.get("invoices") or ())
            self.ledger.link(member_id, credential, fact_key_of(pointer), missing, today, invoices=invoices)
        except Retry:
            logger.info("payment alias not linked (raced)", extra={"payment_key": payment_key})

    def _credit(
        self,
        member_id: str,
        body: dict[str, Any],
        view: LedgerView,
        today: date,
        extra: tuple[dict[str, Any], ...] = (),
    ) -> bool:
        purpose = body["purpose"]
        invoices = tuple(str(n) for n in body.get("invoices") or ())
        payment = FeePayment(
            key=body["payment_key"],
            recorded_on=date.fromisoformat(body["recorded_on"]),
            credential=body["credential"],
            purpose=purpose,
            paid_on=date.fromisoformat(body["paid_on"]),
            amount_cents=int(body["amount_cents"]),
            application_id=body.get("application_id"),
            fee_years=tuple(self._fee_years(member_id, body, view, today) or ()),
            currency=str(body.get("currency") or ""),
        )
        created = self.ledger.credit(member_id, payment, view, today, invoices=invoices, extra=extra)
        if created:
            logger.info(
                "payment credited",
                extra={"payment_key": payment.key, "member_id": member_id, "credential": payment.credential},
            )
        return created

    def _park(
        self,
        payment_key: str,
        member_id: str,
        credential: str,
        reason: str,
        *,
        body: dict[str, Any],
        today: date,
    ) -> WebhookResult:
        parked = ParkedPayment(
            payment_key=payment_key,
            member_id=member_id,
            credential=credential,
            reason=reason,
            received_on=today,
            body=body,
        )
        created = self.ledger.park(parked)
        logger.info("payment parked", extra={"payment_key": payment_key, "reason": reason, "new": created})
        return WebhookResult.PARKED if created else WebhookResult.DUPLICATE

    # ------------------------------------------------------------------ reversals

    def _reversal(self, seen: ReversalSeen, today: date) -> WebhookResult:
        on = business_date_of(seen.created, self.zone)
        fact: PaymentReversal | ReversalWithdrawn
        if seen.withdrawn:
            fact = ReversalWithdrawn(
                key=f"{seen.reversal_key}-won",
                recorded_on=today,
                reversal_key=seen.reversal_key,
                withdrawn_on=on,
            )
        else:
            fact = PaymentReversal(
                key=seen.reversal_key,
                recorded_on=today,
                payment_key=seen.payment_key,
                reason=seen.reason,
                reversed_on=on,
            )
        for _ in range(MAX_ATTEMPTS):
            view = self.ledger.view(seen.payment_key)
            try:
                if view.pointer is not None:
                    member_id, credential = str(view.pointer["member_id"]), str(view.pointer["credential"])
                    if isinstance(fact, PaymentReversal):  # aimed at the fact, whichever id named it
                        fact = fact.model_copy(update={"payment_key": fact_key_of(view.pointer)})
                    if not self.ledger.reverse(member_id, credential, fact, today, view.pointer):
                        return WebhookResult.DUPLICATE
                    return WebhookResult.CREDITED if seen.withdrawn else WebhookResult.REVERSED
                held = self.ledger.hold_reversal(seen.payment_key, fact, view, today)
            except Retry:
                continue
            logger.info("reversal held for its payment", extra={"payment_key": seen.payment_key, "new": held})
            return WebhookResult.PARKED if held else WebhookResult.DUPLICATE
        raise LostRace(seen.payment_key)

    # ------------------------------------------------------------------ parked payments

    def apply_parked(self, member_id: str, today: date) -> int:
        """Credit the member's parked payments whose certification now exists (roster upsert hook).
        One ListIndex query, plus a read and a transaction per parked payment found."""
        applied = 0
        for item in list(self.ledger.parked(member_id)):
            if item.get("member_id") != member_id:  # a begins_with match of another id: not ours
                continue
            body = dict(item.get("body") or {})
            if body.get("member_id") != member_id:
                continue
            code = self.policy.canonical_code(str(body.get("credential", "")))
            if code is None or body.get("purpose") not in ("annual_fee", "recertification"):
                continue
            body["credential"] = code
            for _ in range(MAX_ATTEMPTS):
                aliases = tuple(str(a) for a in body.get("aliases") or ())
                invoices = tuple(str(n) for n in body.get("invoices") or ())
                view = self.ledger.view(
                    str(body["payment_key"]), (member_id, code), aliases, invoices, _application(body)
                )
                if (
                    view.parked is None
                    or view.any_pointer is not None
                    or view.exception is not None
                    or not view.certification_exists
                ):
                    break
                try:
                    if self._settle(member_id, body, view, today) is WebhookResult.CREDITED:
                        applied += 1
                except Retry:
                    continue
                break
        return applied

    def parked(self) -> Iterator[ParkedItem]:
        for item in self.ledger.parked():
            pending = item.get("facts")
            member = str(item.get("member_id", NO_MEMBER))
            if pending is not None:
                yield ParkedItem(
                    kind="reversal",
                    payment_key=str(item["payment_key"]),
                    member_id=None,
                    credential=None,
                    reason=f"{len(pending)} reversal(s) waiting for their payment",
                    received_on=date.fromisoformat(str(item["received_on"])),
                )
                continue
            body = item.get("body") or {}
            yield ParkedItem(
                kind="payment",
                payment_key=str(item["payment_key"]),
                member_id=None if member == NO_MEMBER else member,
                credential=str(item.get("credential") or "") or None,
                reason=str(item.get("reason", "")),
                received_on=date.fromisoformat(str(item["received_on"])),
                amount_cents=int(body["amount_cents"]) if "amount_cents" in body else None,
            )

    # ------------------------------------------------------------------ payment exceptions

    def exceptions(self) -> Iterator[PaymentExceptionItem]:
        for item in self.ledger.exceptions():
            body = item.get("body") or {}
            yield PaymentExceptionItem(
                payment_key=str(item["payment_key"]),
                member_id=str(item["member_id"]),
                credential=str(item["credential"]),
                reason=ExceptionReason(str(item["reason"])),
                received_on=date.fromisoformat(str(item["received_on"])),
                amount_cents=int(body.get("amount_cents", 0)),
                currency=str(body.get("currency") or ""),
                invoices=[str(n) for n in body.get("invoices") or ()],
            )

    def resolve(self, payment_key: str, action: Resolution, note: str, today: date) -> None:
        """Staff close a payment exception: ``credit`` records the payment for the invoices it names
        (409 when one is paid meanwhile, 422 when they are not this certification's invoices),
        ``refund`` records the decision (the refund itself is made in Stripe). Either is on the timeline."""
        for _ in range(MAX_ATTEMPTS):
            held = self.ledger.view(payment_key).exception
            if held is None or str(held.get("payment_key")) != payment_key:
                raise UnknownException(f"no payment exception for {payment_key}")
            if held.get("resolution") is not None:
                raise ExceptionResolved(
                    "the payment exception is already resolved", **dict(held["resolution"])
                )
            body, member_id = dict(held["body"]), str(held["member_id"])
            code = str(body["credential"])
            event = EventRecord(
                kind="payment_exception_resolved",
                key=payment_key,
                occurred_on=today,
                recorded_on=today,
                credential=code,
                summary=f"payment exception {payment_key} resolved by staff: {action.value} ({note})",
                data={"action": action.value, "note": note, "reason": str(held["reason"])},
            )
            resolution = {"action": action.value, "note": note, "on": today.isoformat()}
            writes = self.ledger.resolution_writes(
                payment_key, resolution, self.ledger.event_item(member_id, event)
            )
            try:
                if action is Resolution.REFUND:
                    self.ledger.write(writes)
                    return
                invoices = tuple(str(n) for n in body.get("invoices") or ())
                aliases = tuple(str(a) for a in body.get("aliases") or ())
                view = self.ledger.view(payment_key, (member_id, code), aliases, invoices, _application(body))
                if view.paid_invoices:
                    raise InvoiceAlreadyPaid("an invoice it names is paid", invoices=view.paid_invoices)
                if not view.certification_exists or not self._names_its_invoices(
                    member_id, body, view, today
                ):
                    raise CannotCredit("the payment names no invoice of this member's certification")
                self._credit(member_id, body, view, today, extra=writes)
            except Retry:
                continue
            return
        raise LostRace(payment_key)
