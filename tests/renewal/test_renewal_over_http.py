"""End to end over real HTTP on the local stack: template wiring of the webhook route (no IAM, the
local signing secret from LOCAL_SECRETS), the schedule with SES and the print batch in S3."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator

import pytest
import requests
import stripe

from local.stack import LOCAL_SECRETS, LocalStack

pytestmark = pytest.mark.e2e

SECRET = str(LOCAL_SECRETS["StripeWebhookSecret"]["current"])
MEMBER = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "postal_address": {"line1": "12 Elm St", "city": "Springfield", "region": "IL", "postal_code": "62701"},
    "certifications": [{"credential": "RMA", "certified_on": "2024-05-14"}],
}


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"}) as running:
        yield running


def post_event(stack: LocalStack, event: dict[str, object], secret: str = SECRET) -> requests.Response:
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=int(time.time()))
    return requests.post(
        f"{stack.url}/webhooks/stripe",
        data=body.encode(),
        headers={"Stripe-Signature": header, "content-type": "application/json"},
        timeout=10,
    )


def test_payment_webhook_and_daily_notices_over_http(stack: LocalStack) -> None:
    requests.post(f"{stack.url}/_local/daily", json={"date": "2025-03-02"}, timeout=10)
    assert requests.put(f"{stack.url}/members/ana", json=MEMBER, timeout=10).status_code == 201
    daily = requests.post(f"{stack.url}/_local/daily", json={"date": "2025-03-02"}, timeout=10).json()
    [run] = daily["results"]
    assert (run["notices"], run["mailed"]) == (1, 1)
    s3 = stack.client("s3").get_object(Bucket=stack.refs["FilesBucket"], Key=run["print_batch"])
    rows = list(csv.DictReader(io.StringIO(s3["Body"].read().decode())))
    assert [(r["member_id"], r["notice"]) for r in rows] == [("ana", "renewal_before")]

    intent = {
        "id": "pi_http_1",
        "object": "payment_intent",
        "amount_received": 5000,
        "currency": "usd",
        "created": 1_740_931_200,  # 2025-03-02 16:00 UTC
        "metadata": {"member_id": "ana", "credential": "RMA", "purpose": "annual_fee"},
    }
    event = {
        "id": "evt_http_1",
        "type": "payment_intent.succeeded",
        "created": 1_740_931_200,
        "data": {"object": intent},
    }
    assert post_event(stack, event, secret="whsec_wrong").status_code == 401
    response = post_event(stack, event)
    assert (response.status_code, response.json()) == (200, {"result": "credited"})
    status = requests.get(f"{stack.url}/members/ana/status", timeout=10).json()
    assert status["certifications"][0]["fees"]["fees_paid"] == 1
    listed = requests.get(f"{stack.url}/admin/parked-payments", timeout=10).json()
    assert listed == {"items": []}
    after = requests.post(f"{stack.url}/_local/daily", json={"date": "2025-05-01"}, timeout=10).json()
    assert after["results"][0]["notices"] == 0  # paid: no "due this month" notice
