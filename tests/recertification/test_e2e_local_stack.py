"""End to end over real HTTP on the local stack: moto server (real DynamoDB stream records), the
gateway, the fake Credly server. A lapsed member recertifies by exam - the fee through a signed
Stripe webhook, the result through the signed exam-vendor callback - every call delivered
three times, and ends with exactly one badge; a failed audit then lapses them and revokes it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.stack import LOCAL_SECRETS, LocalStack
from shared.adapters.signatures import sign
from tests.renewal import stripe_payloads as sp

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", "CREDLY_BACKOFF_SECONDS": "0"}
    ) as running:
        yield running


def post_signed(
    stack: LocalStack, path: str, body: dict[str, Any], secret: str, header: str
) -> requests.Response:
    raw = json.dumps(body).encode()
    signature = sign(raw, secret, int(time.time()))
    return requests.post(
        f"{stack.url}{path}",
        data=raw,
        headers={"content-type": "application/json", header: signature},
        timeout=30,
    )


def stripe_payment(member_id: str, application_id: str, amount: int) -> dict[str, Any]:
    created = int(time.time())
    meta = {**sp.metadata(member_id, purpose="recertification"), "application_id": application_id}
    intent = sp.payment_intent(f"pi_{member_id}_recert", meta=meta, created=created, amount=amount)
    return sp.event("payment_intent.succeeded", intent, event_id=f"evt_{application_id}", created=created)


def lapsed_member_applies_by_exam(url: str, member_id: str) -> dict[str, Any]:
    """On 2026-05-01 a member certified in 2015 (lapsed) opens an exam recertification: its answer."""
    assert requests.post(f"{url}/_local/daily", json={"date": "2026-05-01"}, timeout=30).status_code == 200
    member = {
        "first_name": "Ana",
        "last_name": "Diaz",
        "email": f"{member_id}@example.org",
        "certifications": [{"credential": "RMA", "certified_on": "2015-03-10"}],
    }
    assert requests.put(f"{url}/members/{member_id}", json=member, timeout=30).status_code == 201
    application = {
        "credential": "RMA",
        "method": "exam",
        "eligibility": {"work": [{"start": "2021-01-01", "full_time": True}]},
    }
    opened = requests.post(f"{url}/members/{member_id}/recertifications", json=application, timeout=30)
    assert opened.status_code == 201, opened.text
    answer: dict[str, Any] = opened.json()
    return answer


def test_recertify_by_exam_over_http_one_badge_then_revoked(stack: LocalStack) -> None:
    url = stack.url
    opened = lapsed_member_applies_by_exam(url, "ana")
    app_id = opened["application"]["application_id"]
    assert opened["fee_due_cents"] == 12500

    stripe_secret = LOCAL_SECRETS["StripeWebhookSecret"]["current"]
    exam_secret = LOCAL_SECRETS["ExamVendorSecret"]["current"]
    result = {
        "member_id": "ana",
        "credential": "RMA",
        "passed": True,
        "exam_date": "2026-05-01",
        "result_id": "v-1",
    }
    for _ in range(3):  # every outside event arrives three times
        paid = post_signed(
            stack, "/webhooks/stripe", stripe_payment("ana", app_id, 12500), stripe_secret, "stripe-signature"
        )
        assert paid.status_code == 200, paid.text
        exam = post_signed(stack, "/exam-results", result, exam_secret, "exam-signature")
        assert exam.status_code == 200, exam.text

    status = requests.get(f"{url}/members/ana/status", timeout=30).json()
    assert status["certifications"][0]["status"] == "active"
    assert status["certifications"][0]["certified_on"] == "2026-05-01"
    fake = stack.fake_credly
    assert fake is not None
    assert len(fake.issued()) == 1
    assert [b["badge_id"] for b in status["badges"]] == [next(iter(fake.badges))]
    assert stack.dead_letters == []

    # The earner accepts on Credly; Credly's webhook is confirmed by fetching the event back.
    [badge_id] = list(fake.badges)
    event_id = fake.change_state(badge_id, "accepted")
    hook = requests.post(
        f"{url}/webhooks/credly",
        json={"id": event_id, "organization_id": "local-org", "event_type": "badge.state.changed"},
        timeout=30,
    )
    assert hook.json() == {"outcome": "updated"}
    assert requests.get(f"{url}/members/ana/status", timeout=30).json()["badges"][0]["state"] == "accepted"

    # Years pass with no fee and no CE: the daily run records the lapse; the stream revokes.
    for day in ("2027-06-01", "2028-06-01", "2029-06-01", "2030-06-01"):
        assert requests.post(f"{url}/_local/daily", json={"date": day}, timeout=60).status_code == 200
    status = requests.get(f"{url}/members/ana/status", timeout=30).json()
    assert status["certifications"][0]["status"] == "lapsed"
    assert status["badges"][0]["state"] == "revoked"
    assert fake.badges[badge_id]["state"] == "revoked"
    assert fake.badges[badge_id]["revoke_reason"].startswith("RMA became lapsed")
    assert len(fake.issued()) == 1
