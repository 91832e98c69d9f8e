"""POST /webhooks/stripe through its Lambda handler (routed via template.yaml) under moto, with events
signed by the official ``stripe`` library."""

from __future__ import annotations

import base64
import json
import time
from datetime import date
from typing import Any

import pytest
import stripe

from local import template as tpl
from local.events import http_api_event, route_for
from shared.store.members import MemberRepository
from shared.store.records import CertificationRecord
from tests.conftest import TABLE
from tests.helpers import call_api, lambda_context
from tests.renewal import stripe_payloads as sp
from tests.renewal.conftest import PREVIOUS_SECRET, SIGNING_SECRET

ANA = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2024-05-14"}],
}


def post(payload: dict[str, Any] | bytes, **sign: Any) -> Any:
    body, headers = sp.signed(payload, **sign)
    return call_api("POST", "/webhooks/stripe", headers=headers, raw_body=body)


def items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        aws["dynamodb"].scan(TableName=aws["table"])["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
    )


def fee(status: dict[str, Any]) -> tuple[int, str]:
    cert = status["certifications"][0]
    return cert["fees"]["fees_paid"], cert["fees"]["paid_through"]


def status() -> dict[str, Any]:
    response = call_api("GET", "/members/m-1/status")
    assert response.status == 200
    return dict(response.body)


@pytest.fixture
def member(renewal_aws: dict[str, Any], business_date: Any) -> dict[str, Any]:
    business_date("2025-05-23")
    assert call_api("PUT", "/members/m-1", ANA).status == 201
    return renewal_aws


PAYMENT_EVENTS = {
    "checkout.session.completed": sp.event("checkout.session.completed", sp.checkout_session()),
    "checkout.session.async_payment_succeeded": sp.event(
        "checkout.session.async_payment_succeeded", sp.checkout_session()
    ),
    "payment_intent.succeeded": sp.event("payment_intent.succeeded", sp.payment_intent()),
    "invoice.paid": sp.event("invoice.paid", sp.invoice()),
}


@pytest.mark.parametrize("event_type", sorted(PAYMENT_EVENTS))
def test_each_payment_event_type_credits_one_fee(member: dict[str, Any], event_type: str) -> None:
    assert fee(status()) == (0, "2025-05-13")
    response = post(PAYMENT_EVENTS[event_type])
    assert (response.status, response.body) == (200, {"result": "credited"})
    assert fee(status()) == (1, "2026-05-13")
    [payment] = [
        e for e in call_api("GET", "/members/m-1/timeline").body["entries"] if e["kind"] == "payment"
    ]
    assert payment["data"]["key"] == "pi_1"
    assert payment["data"]["paid_on"] == "2025-05-23"  # business date of the object's `created`


def test_duplicates_and_cross_type_deliveries_credit_once(member: dict[str, Any]) -> None:
    results = [post(PAYMENT_EVENTS[t]).body["result"] for t in sorted(PAYMENT_EVENTS)]
    results += [post(PAYMENT_EVENTS["invoice.paid"]).body["result"] for _ in range(2)]
    assert results.count("credited") == 1
    assert set(results) == {"credited", "duplicate"}
    assert fee(status()) == (1, "2026-05-13")


def test_second_payment_credits_the_next_year(member: dict[str, Any]) -> None:
    post(PAYMENT_EVENTS["payment_intent.succeeded"])
    second = sp.event("payment_intent.succeeded", sp.payment_intent("pi_2"))
    assert post(second).body == {"result": "credited"}
    assert fee(status()) == (2, "2027-05-13")


def test_unpaid_checkout_session_is_ignored(member: dict[str, Any]) -> None:
    before = items(member)
    unpaid = sp.event("checkout.session.completed", sp.checkout_session(status="unpaid"))
    assert post(unpaid).body == {"result": "ignored"}
    assert items(member) == before


def test_payment_without_our_metadata_is_ignored(member: dict[str, Any]) -> None:
    before = items(member)
    other = sp.event("payment_intent.succeeded", sp.payment_intent("pi_store", meta={"order": "42"}))
    assert post(other).body == {"result": "ignored"}
    assert items(member) == before


def test_full_refund_uncredits_and_partial_refund_is_ignored(member: dict[str, Any]) -> None:
    post(PAYMENT_EVENTS["checkout.session.completed"])
    partial = sp.event("charge.refunded", sp.charge(refunded=False), event_id="evt_partial")
    assert post(partial).body == {"result": "ignored"}
    assert fee(status()) == (1, "2026-05-13")
    full = sp.event("charge.refunded", sp.charge())
    assert post(full).body == {"result": "reversed"}
    assert post(full).body == {"result": "duplicate"}
    assert fee(status()) == (0, "2025-05-13")


def test_dispute_uncredits_and_won_dispute_restores(member: dict[str, Any]) -> None:
    post(PAYMENT_EVENTS["payment_intent.succeeded"])
    assert post(sp.event("charge.dispute.created", sp.dispute())).body == {"result": "reversed"}
    assert fee(status()) == (0, "2025-05-13")
    lost = sp.event("charge.dispute.closed", sp.dispute(status="lost"), event_id="evt_lost")
    assert post(lost).body == {"result": "ignored"}
    won = sp.event("charge.dispute.closed", sp.dispute(status="won"))
    assert post(won).body == {"result": "credited"}
    assert post(won).body == {"result": "duplicate"}
    assert fee(status()) == (1, "2026-05-13")


def test_refund_before_payment_ends_unpaid(member: dict[str, Any]) -> None:
    assert post(sp.event("charge.refunded", sp.charge())).body == {"result": "parked"}
    assert post(sp.event("charge.refunded", sp.charge())).body == {"result": "duplicate"}
    listed = call_api("GET", "/admin/parked-payments").body["items"]
    assert [(i["kind"], i["payment_key"]) for i in listed] == [("reversal", "pi_1")]
    assert post(PAYMENT_EVENTS["checkout.session.completed"]).body == {"result": "credited"}
    assert fee(status()) == (0, "2025-05-13")
    assert call_api("GET", "/admin/parked-payments").body["items"] == []
    # later deliveries of the same payment change nothing
    assert post(PAYMENT_EVENTS["invoice.paid"]).body == {"result": "duplicate"}
    assert fee(status()) == (0, "2025-05-13")


def test_dispute_and_its_withdrawal_before_payment(member: dict[str, Any]) -> None:
    post(sp.event("charge.dispute.closed", sp.dispute(status="won")))
    post(sp.event("charge.dispute.created", sp.dispute()))
    assert post(PAYMENT_EVENTS["payment_intent.succeeded"]).body == {"result": "credited"}
    assert fee(status()) == (1, "2026-05-13")


def test_payment_for_unknown_member_is_parked_then_applied_by_the_roster(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    business_date("2025-05-23")
    stranger = sp.event("payment_intent.succeeded", sp.payment_intent("pi_9", meta=sp.metadata("m-9")))
    assert post(stranger).body == {"result": "parked"}
    assert post(stranger).body == {"result": "duplicate"}
    [parked] = call_api("GET", "/admin/parked-payments").body["items"]
    assert (parked["kind"], parked["member_id"], parked["credential"], parked["amount_cents"]) == (
        "payment",
        "m-9",
        "RMA",
        5000,
    )
    assert call_api("PUT", "/members/m-9", ANA).status == 201
    assert call_api("GET", "/admin/parked-payments").body["items"] == []
    cert = call_api("GET", "/members/m-9/status").body["certifications"][0]
    assert cert["fees"]["fees_paid"] == 1
    assert post(stranger).body == {"result": "duplicate"}


def test_payment_for_a_credential_the_member_lacks_or_unknown_code_is_parked(member: dict[str, Any]) -> None:
    other = sp.event(
        "payment_intent.succeeded", sp.payment_intent("pi_5", meta=sp.metadata(credential="AHI"))
    )
    assert post(other).body == {"result": "parked"}
    bogus = sp.event(
        "payment_intent.succeeded", sp.payment_intent("pi_6", meta=sp.metadata(credential="ZZZ"))
    )
    assert post(bogus).body == {"result": "parked"}
    bad_purpose = sp.event(
        "payment_intent.succeeded", sp.payment_intent("pi_7", meta=sp.metadata(purpose="gift"))
    )
    assert post(bad_purpose).body == {"result": "parked"}
    reasons = {i["payment_key"]: i["reason"] for i in call_api("GET", "/admin/parked-payments").body["items"]}
    assert set(reasons) == {"pi_5", "pi_6", "pi_7"}
    assert "purpose" in reasons["pi_7"]
    assert fee(status()) == (0, "2025-05-13")


def test_previous_secret_still_verifies_during_rotation(member: dict[str, Any]) -> None:
    response = post(PAYMENT_EVENTS["payment_intent.succeeded"], secret=PREVIOUS_SECRET)
    assert response.body == {"result": "credited"}


def test_base64_flagged_body_is_decoded_before_verifying(member: dict[str, Any]) -> None:
    body, headers = sp.signed(PAYMENT_EVENTS["payment_intent.succeeded"])
    route, params = route_for("POST", "/webhooks/stripe")
    event = http_api_event(route, "/webhooks/stripe", params, headers=headers, body=body)
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    handler = __import__(tpl.functions()[route.function].module, fromlist=["handler"]).handler
    response = handler(event, lambda_context())
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"result": "credited"})


def _header_only(value: str) -> dict[str, str]:
    return {"Stripe-Signature": value}


REJECTIONS = {
    "bad-signature": (401, lambda body: sp.signed(body, secret="whsec_wrong")[1]),
    "stale": (401, lambda body: sp.signed(body, timestamp=int(time.time()) - 301)[1]),
    "future": (401, lambda body: sp.signed(body, timestamp=int(time.time()) + 301)[1]),
    "missing-header": (400, lambda body: {}),
    "malformed-header": (400, lambda body: _header_only("t=abc,v1=00")),
    "no-v1": (400, lambda body: _header_only(f"t={int(time.time())},v0=00")),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejections_write_nothing(member: dict[str, Any], case: str) -> None:
    before = items(member)
    expected, headers_for = REJECTIONS[case]
    body = json.dumps(PAYMENT_EVENTS["payment_intent.succeeded"]).encode()
    response = call_api("POST", "/webhooks/stripe", headers=headers_for(body), raw_body=body)
    assert response.status == expected
    assert response.body["error"] in {"bad_signature", "bad_signature_header"}
    assert items(member) == before


@pytest.mark.parametrize(
    ("case", "raw", "expected", "result"),
    [
        ("invalid-json", b'{"id": "evt_1", "type": ', 400, None),
        ("not-an-event", b'["a", "list"]', 400, None),
        ("no-object", json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {}}).encode(), 400, None),
        ("unknown-event", json.dumps(sp.event("customer.created", {"id": "cus_1"})).encode(), 200, "ignored"),
        ("oversized", b'{"pad": "' + b"x" * (64 * 1024) + b'"}', 413, None),
    ],
)
def test_bad_bodies_write_nothing(
    member: dict[str, Any], case: str, raw: bytes, expected: int, result: str | None
) -> None:
    before = items(member)
    response = post(raw)
    assert response.status == expected, response.body
    if result is not None:
        assert response.body == {"result": result}
    assert items(member) == before


def test_our_verifier_rejects_what_stripe_rejects(member: dict[str, Any]) -> None:
    """Cross-check with Stripe's own verifier: the same header verifies for both."""
    body, headers = sp.signed(PAYMENT_EVENTS["invoice.paid"])
    stripe.WebhookSignature.verify_header(
        body.decode(), headers["Stripe-Signature"], SIGNING_SECRET, tolerance=300
    )
    assert post(PAYMENT_EVENTS["invoice.paid"]).status == 200


def test_refund_of_a_parked_payment_is_applied_with_it(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    business_date("2025-05-23")
    stranger = sp.event("payment_intent.succeeded", sp.payment_intent("pi_9", meta=sp.metadata("m-9")))
    assert post(stranger).body == {"result": "parked"}
    assert post(sp.event("charge.refunded", sp.charge(pi="pi_9", charge_id="ch_9"))).body == {
        "result": "parked"
    }
    assert {i["kind"] for i in call_api("GET", "/admin/parked-payments").body["items"]} == {
        "payment",
        "reversal",
    }
    assert call_api("PUT", "/members/m-9", ANA).status == 201
    assert call_api("GET", "/admin/parked-payments").body["items"] == []
    cert = call_api("GET", "/members/m-9/status").body["certifications"][0]
    assert cert["fees"]["fees_paid"] == 0  # credited, then uncredited by its refund


def test_payment_nudges_the_scheduler_to_re_evaluate_today(member: dict[str, Any]) -> None:
    later = CertificationRecord(credential="RMA", certified_on=date(2024, 5, 14), due_on=date(2025, 6, 1))
    MemberRepository(TABLE).set_due("m-1", later)
    post(PAYMENT_EVENTS["payment_intent.succeeded"])
    cert = member["dynamodb"].get_item(
        TableName=member["table"], Key={"pk": {"S": "MEMBER#m-1"}, "sk": {"S": "CERT#RMA"}}
    )
    assert cert["Item"]["due_pk"] == {"S": "DUE#2025-05"}
    assert cert["Item"]["due_sk"]["S"].startswith("2025-05-23#")
