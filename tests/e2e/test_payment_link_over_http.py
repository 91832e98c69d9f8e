"""End to end over real HTTP through the fake Stripe: invoices -> payment link (a Checkout Session made
by the stripe SDK in the members API) -> the member pays on the fake -> its signed webhook -> paid."""

from __future__ import annotations

import pytest
import requests

from local.stack import LocalStack

pytestmark = pytest.mark.e2e

GIL = {
    "first_name": "Gil",
    "last_name": "Moreau",
    "email": "gil@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2023-06-10"}],
}
PAID_AT = 1_787_245_200  # 2026-08-20T17:00:00Z: noon in Chicago


def invoices(stack: LocalStack) -> dict[str, tuple[str, str | None]]:
    answer = requests.get(f"{stack.url}/members/gil/invoices", timeout=10)
    assert answer.status_code == 200
    return {i["number"]: (i["status"], i["paid_on"]) for i in answer.json()["invoices"]}


def test_invoice_link_payment_signed_webhook_paid(stack: LocalStack) -> None:
    assert (
        requests.post(f"{stack.url}/_local/daily", json={"date": "2026-08-20"}, timeout=10).status_code == 200
    )
    assert requests.put(f"{stack.url}/members/gil", json=GIL, timeout=10).status_code == 201
    assert invoices(stack) == {
        "gil-RMA-2024": ("overdue", None),
        "gil-RMA-2025": ("overdue", None),
        "gil-RMA-2026": ("overdue", None),
    }
    wanted = {"invoices": ["gil-RMA-2024", "gil-RMA-2025"]}
    link = requests.post(f"{stack.url}/members/gil/payments", json=wanted, timeout=30)
    assert link.status_code == 201, link.text
    session = link.json()["session_id"]
    assert link.json()["url"].startswith(stack.fake_stripe.url)
    assert stack.fake_stripe.sessions[session]["metadata"]["invoices"] == "gil-RMA-2024,gil-RMA-2025"

    # the member pays on the fake Stripe (its control API); it signs and posts checkout.session.completed
    paid = requests.post(
        f"{stack.fake_stripe.url}/_fake/checkout/sessions/{session}/pay",
        json={"created": PAID_AT},
        timeout=30,
    )
    assert paid.json() == {"webhook_status": 200, "webhook_body": {"result": "credited"}}
    assert invoices(stack) == {
        "gil-RMA-2024": ("paid", "2026-08-20"),
        "gil-RMA-2025": ("paid", "2026-08-20"),
        "gil-RMA-2026": ("overdue", None),
    }
    # Stripe redelivers: nothing more is credited
    again = requests.post(
        f"{stack.fake_stripe.url}/_fake/checkout/sessions/{session}/pay",
        json={"created": PAID_AT},
        timeout=30,
    )
    assert again.json()["webhook_body"] == {"result": "duplicate"}
    fees = requests.get(f"{stack.url}/members/gil/status", timeout=10).json()["certifications"][0]["fees"]
    assert (fees["fees_paid"], fees["next_due"]) == (2, "2026-06-01")


def test_stripe_outage_is_503_with_retry_after_over_http(stack: LocalStack) -> None:
    requests.post(f"{stack.url}/_local/daily", json={"date": "2026-08-20"}, timeout=10)
    requests.put(f"{stack.url}/members/gil", json=GIL, timeout=10)
    stack.fake_stripe.fail_next("429")
    answer = requests.post(
        f"{stack.url}/members/gil/payments", json={"invoices": ["gil-RMA-2024"]}, timeout=30
    )
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "7")
    assert stack.fake_stripe.sessions == {}
