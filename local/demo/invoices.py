"""Chapter: invoices, a payment link and exact money.

Gil is two fee years behind. The portal lists his invoices, asks for one payment link for both
(a Stripe Checkout Session on the local stack's fake Stripe; asking twice returns the same session),
and Gil pays through the fake's API: it signs and delivers ``checkout.session.completed`` to our
webhook, which credits both years. A payment in the wrong currency credits nothing: it is a payment
exception for staff, who mark it for refund.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from local.demo.payments import post_stripe, stripe_event

if TYPE_CHECKING:
    from local.demo import Demo


def _noon(day: str) -> int:
    """17:00Z: noon in Chicago, so the payment's business date is ``day``."""
    return int(datetime.fromisoformat(f"{day}T17:00:00").replace(tzinfo=UTC).timestamp())


def _invoices(demo: Demo, member_id: str) -> None:
    for invoice in demo.call("GET", f"/members/{member_id}/invoices")["invoices"]:
        paid = f", paid {invoice['paid_on']} ({invoice['payment_key']})" if invoice["paid_on"] else ""
        demo.say(
            f"invoice {invoice['number']}: {invoice['amount_cents'] / 100:.2f} {invoice['currency'].upper()}, "
            f"due {invoice['due_month'][:7]}, {invoice['status']}{paid}"
        )


def play(demo: Demo) -> None:
    year = int(demo.today[:4]) if demo.today else 2026
    day = f"{year}-08-20"
    demo.heading(f"Invoices and a payment link ({day})")
    gil = {
        "first_name": "Gil",
        "last_name": "Moreau",
        "email": "gil@example.org",
        "certifications": [{"credential": "RMA", "certified_on": f"{year - 2}-06-10"}],
    }
    demo.call("PUT", "/members/gil", json=gil)
    demo.daily(day)
    _invoices(demo, "gil")
    numbers = [f"gil-RMA-{year - 1}", f"gil-RMA-{year}"]
    link = demo.call("POST", "/members/gil/payments", json={"invoices": numbers})
    again = demo.call("POST", "/members/gil/payments", json={"invoices": numbers})
    demo.say(
        f"payment link for {', '.join(link['invoices'])}: {link['amount_cents'] / 100:.2f} "
        f"{link['currency'].upper()} at {link['url']} (asked again: same session {again['session_id']})"
    )
    paid = demo.session.post(
        f"{demo.stripe_url}/_fake/checkout/sessions/{link['session_id']}/pay",
        json={"created": _noon(day)},
        timeout=30,
    ).json()
    demo.say(f"Gil pays on the (fake) Stripe page -> signed webhook -> {paid['webhook_body']['result']}")
    _invoices(demo, "gil")

    euros = {
        "id": "pi_demo_eur",
        "object": "payment_intent",
        "amount_received": 5000,
        "currency": "eur",
        "created": _noon(day),
        "metadata": {"member_id": "gil", "credential": "RMA", "purpose": "annual_fee"},
    }
    result = post_stripe(demo, stripe_event("payment_intent.succeeded", euros))
    demo.say(f"a 50.00 EUR payment for Gil (no invoice numbers) -> {result['result']}")
    for item in demo.call("GET", "/admin/payment-exceptions")["items"]:
        demo.say(f"payment exception {item['payment_key']}: {item['reason']}")
    demo.call(
        "POST",
        "/admin/payment-exceptions/pi_demo_eur/resolution",
        json={"action": "refund", "note": "paid in EUR; refunded in Stripe"},
    )
    demo.say(
        f"staff mark it for refund; exceptions left: {len(demo.call('GET', '/admin/payment-exceptions')['items'])}"
    )
    demo.status_table(["gil"])
