"""Stripe-shaped event payloads (trimmed real API shapes, API version 2024-06-20) and signing with the
official ``stripe`` library."""

from __future__ import annotations

import json
import time
from typing import Any

import stripe

from tests.renewal.conftest import SIGNING_SECRET

CREATED = 1_748_000_000  # 2025-05-23T11:33:20Z


def metadata(member_id: str = "m-1", credential: str = "RMA", purpose: str = "annual_fee") -> dict[str, str]:
    return {"member_id": member_id, "credential": credential, "purpose": purpose}


def event(
    event_type: str, obj: dict[str, Any], event_id: str | None = None, created: int = CREATED
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{event_type.replace('.', '_')}_{obj['id']}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def checkout_session(
    pi: str | None = "pi_1",
    status: str = "paid",
    meta: dict[str, str] | None = None,
    session_id: str = "cs_test_1",
    invoice: str | None = None,
    created: int = CREATED,
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": 5000,
        "amount_total": 5000,
        "created": created,
        "currency": "usd",
        "customer": "cus_1",
        "invoice": invoice,
        "metadata": metadata() if meta is None else meta,
        "mode": "payment",
        "payment_intent": pi,
        "payment_status": status,
        "status": "complete",
    }


def payment_intent(
    pi: str = "pi_1", meta: dict[str, str] | None = None, created: int = CREATED, amount: int = 5000
) -> dict[str, Any]:
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "created": created,
        "currency": "usd",
        "latest_charge": f"ch_{pi}",
        "metadata": metadata() if meta is None else meta,
        "status": "succeeded",
    }


def invoice(inv: str = "in_1", pi: str | None = "pi_1", meta: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": inv,
        "object": "invoice",
        "amount_due": 5000,
        "amount_paid": 5000,
        "created": CREATED,
        "currency": "usd",
        "metadata": {},
        "paid": True,
        "payment_intent": pi,
        "status": "paid",
        "subscription_details": {"metadata": metadata() if meta is None else meta},
    }


def charge(
    pi: str = "pi_1", refunded: bool = True, charge_id: str = "ch_1", created: int = CREATED
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": 5000,
        "amount_refunded": 5000 if refunded else 1000,
        "created": created,
        "currency": "usd",
        "metadata": {},
        "paid": True,
        "payment_intent": pi,
        "refunded": refunded,
        "status": "succeeded",
    }


def dispute(pi: str = "pi_1", status: str = "needs_response", dispute_id: str = "dp_1") -> dict[str, Any]:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": 5000,
        "charge": "ch_1",
        "created": CREATED,
        "currency": "usd",
        "metadata": {},
        "payment_intent": pi,
        "reason": "fraudulent",
        "status": status,
    }


def signed(
    payload: dict[str, Any] | bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) signed the way Stripe signs: ``stripe.WebhookSignature``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp if timestamp is not None else int(time.time())
    )
    return body, {"Stripe-Signature": header}
