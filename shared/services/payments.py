"""Stripe payments and reversals -> rule facts (R1), idempotently, in at most two requests.

Flow per event (``shared.store.payments`` has the item layout):

1. one consistent ``BatchGetItem``: the payment key's pointer / pending reversals / parked payment
   and, for a payment, the member's certification row;
2. one write: the crediting transaction (fact + pointer + pending reversals + scheduler nudge), a
   reversal in the member partition, a held reversal, or a parked payment.

A lost race (another delivery changed what step 1 saw) cancels the conditional transaction and the
event starts over from step 1; nothing is ever written twice and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from shared.adapters.stripe_events import MEMBER_ID, Ignored, PaymentSeen, ReversalSeen, StripeAction
from shared.clock import business_date_of
from shared.observability import logger
from shared.rules.models import FeePayment, PaymentReversal, ReversalWithdrawn
from shared.rules.policy import RulesPolicy
from shared.store.payments import NO_MEMBER, LedgerView, ParkedPayment, PaymentLedger, Retry, fact_key_of

MAX_ATTEMPTS = 4


class WebhookResult(StrEnum):
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    REVERSED = "reversed"
    IGNORED = "ignored"
    PARKED = "parked"


class ParkedItem(BaseModel):
    """One entry of ``GET /admin/parked-payments``."""

    model_config = ConfigDict(frozen=True)

    kind: str  # "payment" (unknown member/credential or unusable metadata) | "reversal" (awaits its payment)
    payment_key: str
    member_id: str | None
    credential: str | None
    reason: str
    received_on: date
    amount_cents: int | None = None


class LostRace(RuntimeError):
    """Too many concurrent changes to one payment key: let Stripe redeliver (a 500)."""


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
        }
        if seen.problem is not None or code is None:
            view = self.ledger.view(seen.payment_key, aliases=seen.aliases)
            if view.any_pointer is not None:
                return WebhookResult.DUPLICATE
            reason = seen.problem or f"unknown credential {seen.credential!r}"
            # an unusable member id is listed under no member: no roster upsert may pick it up
            listed = seen.member_id if MEMBER_ID.fullmatch(seen.member_id) else NO_MEMBER
            return self._park(
                seen.payment_key, listed, code or seen.credential, reason, body=body, today=today
            )
        for _ in range(MAX_ATTEMPTS):
            view = self.ledger.view(seen.payment_key, (seen.member_id, code), seen.aliases)
            if view.any_pointer is not None:
                self._link(seen.payment_key, view, today)
                return WebhookResult.DUPLICATE
            if not view.certification_exists:
                reason = f"member {seen.member_id!r} does not hold {code} (or is unknown)"
                return self._park(seen.payment_key, seen.member_id, code, reason, body=body, today=today)
            try:
                created = self._credit(seen.member_id, body, view, today)
            except Retry:
                continue
            return WebhookResult.CREDITED if created else WebhookResult.DUPLICATE
        raise LostRace(seen.payment_key)

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
            self.ledger.link(member_id, credential, fact_key_of(pointer), missing, today)
        except Retry:
            logger.info("payment alias not linked (raced)", extra={"payment_key": payment_key})

    def _credit(self, member_id: str, body: dict[str, Any], view: LedgerView, today: date) -> bool:
        purpose = body["purpose"]
        payment = FeePayment(
            key=body["payment_key"],
            recorded_on=date.fromisoformat(body["recorded_on"]),
            credential=body["credential"],
            purpose=purpose,
            paid_on=date.fromisoformat(body["paid_on"]),
            amount_cents=int(body["amount_cents"]),
            application_id=body.get("application_id"),
        )
        created = self.ledger.credit(member_id, payment, view, today)
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
                    if not self.ledger.reverse(member_id, credential, fact, today):
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
                view = self.ledger.view(str(body["payment_key"]), (member_id, code), aliases)
                if view.parked is None or view.any_pointer is not None or not view.certification_exists:
                    break
                try:
                    if self._credit(member_id, body, view, today):
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
