"""Payment links: Stripe Checkout Sessions, through the official ``stripe`` SDK (the one outbound
Stripe adapter; ``stripe_events`` reads what Stripe sends us).

Why a Checkout Session and not a Stripe Invoice: one API call creates it (an Invoice needs a
Customer, an invoice item per line, the invoice and its finalisation - four calls or more, against a
budget of two), it carries our metadata on the session and on its PaymentIntent
(``payment_intent_data.metadata``), so ``checkout.session.completed`` and ``payment_intent.succeeded``
both name the member and the invoices, and it keeps the invoice numbering ours: Stripe's invoice
would be a second ledger with its own numbers and states to reconcile. The portal shows our invoices
(``GET /members/{id}/invoices``); the session is only how they get paid.

A retry must not create a second session: the ``Idempotency-Key`` is derived from the member, the
invoice set (sorted) and the amount, so the same request within Stripe's 24-hour idempotency window
returns the same session (its link expires after 24 hours too). Stripe down, throttling or answering
5xx raises ``StripeUnavailable`` (the route answers 503 with ``Retry-After``); nothing is recorded.

``stripe`` is imported on first use: a cold start of the members API does not pay for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

DEFAULT_RETRY_AFTER_SECONDS = 30
MAX_RETRY_AFTER_SECONDS = 300


class StripeUnavailable(RuntimeError):
    """Stripe could not be reached, throttled us or failed (5xx); try again after ``retry_after``."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class LineItem:
    invoice_number: str
    description: str
    amount_cents: int


@dataclass(frozen=True)
class CheckoutRequest:
    member_id: str
    credential: str
    currency: str
    lines: tuple[LineItem, ...]
    success_url: str
    cancel_url: str
    purpose: str = "annual_fee"  # or "recertification": one application's fee (``application_id``)
    application_id: str | None = None

    @property
    def invoice_numbers(self) -> list[str]:
        return sorted(line.invoice_number for line in self.lines)

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    def idempotency_key(self) -> str:
        """Same member, invoices and amount -> same key (and so the same Stripe session)."""
        basis = "|".join([self.member_id, self.currency, str(self.amount_cents), *self.invoice_numbers])
        return "staycert-link-" + hashlib.sha256(basis.encode()).hexdigest()[:40]

    def metadata(self) -> dict[str, str]:
        return {
            "member_id": self.member_id,
            "credential": self.credential,
            "purpose": self.purpose,
            "invoices": ",".join(self.invoice_numbers),
            **({"application_id": self.application_id} if self.application_id else {}),
        }


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str


def _retry_after(error: Any) -> int:
    raw = (getattr(error, "headers", None) or {}).get("retry-after") or (
        getattr(error, "headers", None) or {}
    ).get("Retry-After")
    try:
        seconds = int(str(raw))
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 1), MAX_RETRY_AFTER_SECONDS)


class StripeCheckout:
    def __init__(self, api_key: str, api_base: str, timeout_seconds: float = 10.0) -> None:
        import stripe

        self._stripe = stripe
        # no SDK retries: the portal retries on our 503, with the same idempotency key
        http_client = stripe.RequestsClient(timeout=timeout_seconds)  # the default waits 80 s
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": api_base}, max_network_retries=0, http_client=http_client
        )

    def create(self, request: CheckoutRequest) -> CheckoutSession:
        """One ``POST /v1/checkout/sessions``. Raises ``StripeUnavailable``; other Stripe errors
        (a bad key, a refused parameter) propagate: they are our bugs, not the member's."""
        stripe = self._stripe
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.member_id,
            "metadata": request.metadata(),
            "payment_intent_data": {"metadata": request.metadata()},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency,
                        "unit_amount": line.amount_cents,
                        "product_data": {"name": line.description},
                    },
                }
                for line in sorted(request.lines, key=lambda line: line.invoice_number)
            ],
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]  # a plain dict of the documented shape
                options={"idempotency_key": request.idempotency_key()},
            )
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise StripeUnavailable(type(error).__name__, _retry_after(error)) from error
        except stripe.StripeError as error:
            if (error.http_status or 0) >= 500:
                raise StripeUnavailable(
                    f"Stripe answered {error.http_status}", _retry_after(error)
                ) from error
            raise
        return CheckoutSession(session_id=str(session.id), url=str(session.url))
