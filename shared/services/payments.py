"""The payment service: the crediting of Stripe events (``payment_crediting``) plus what follows
later: parked payments credited once the roster loads their certification, and staff's lists of
parked payments and payment exceptions, and their resolution of an exception. Flow and item layout:
``payment_crediting`` and ``shared.store.payments``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from shared.rules.invoices import ExceptionReason
from shared.services.payment_crediting import PaymentCrediting, application_paid_for
from shared.services.payment_schemas import (
    MAX_ATTEMPTS,
    CannotCredit,
    ExceptionResolved,
    InvoiceAlreadyPaid,
    LostRace,
    ParkedItem,
    PaymentExceptionItem,
    Resolution,
    UnknownException,
    WebhookResult,
)
from shared.store.payments import NO_MEMBER, Retry
from shared.store.records import EventRecord


class PaymentService(PaymentCrediting):
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
                    str(body["payment_key"]), (member_id, code), aliases, invoices, application_paid_for(body)
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
                view = self.ledger.view(
                    payment_key, (member_id, code), aliases, invoices, application_paid_for(body)
                )
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
