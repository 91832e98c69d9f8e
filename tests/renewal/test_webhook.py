"""POST /webhooks/stripe through its Lambda handler (routed via template.yaml) under moto, with events
signed by the official ``stripe`` library."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
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


REJECTIONS: dict[str, tuple[int, Callable[[bytes], dict[str, str]]]] = {
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


# ---------------------------------------------------------------- audit findings (review)


def _subscription_events() -> dict[str, dict[str, Any]]:
    """One subscription payment as Stripe shows it: the session names only its Invoice (no intent),
    the invoice names its PaymentIntent, the intent names its invoice."""
    session = sp.checkout_session(pi=None, invoice="in_1", session_id="cs_sub_1")
    session.update(mode="subscription", subscription="sub_1")
    intent = sp.payment_intent()
    intent["invoice"] = "in_1"
    return {
        "session": sp.event("checkout.session.completed", session),
        "invoice": sp.event("invoice.paid", sp.invoice()),
        "intent": sp.event("payment_intent.succeeded", intent),
    }


@pytest.mark.parametrize(
    "order",
    [
        ("session", "invoice", "intent"),
        ("session", "intent", "invoice"),
        ("invoice", "session", "intent"),
        ("intent", "session", "invoice"),
    ],
)
def test_subscription_payment_seen_as_session_invoice_and_intent_credits_once(
    member: dict[str, Any], order: tuple[str, ...]
) -> None:
    events = _subscription_events()
    results = [post(events[name]).body["result"] for name in order]
    results += [post(events[name]).body["result"] for name in order]  # redeliveries
    assert results.count("credited") == 1, results
    assert set(results) == {"credited", "duplicate"}
    assert fee(status()) == (1, "2026-05-13")
    # a dispute names only the PaymentIntent: it still finds the payment, whichever event came first
    assert post(sp.event("charge.dispute.created", sp.dispute())).body == {"result": "reversed"}
    assert fee(status()) == (0, "2025-05-13")


def test_dispute_held_under_the_intent_applies_when_the_invoice_reveals_it(member: dict[str, Any]) -> None:
    events = _subscription_events()
    assert post(sp.event("charge.dispute.created", sp.dispute())).body == {"result": "parked"}
    assert post(events["session"]).body == {"result": "credited"}  # keyed on in_1: the dispute waits
    assert post(events["invoice"]).body == {"result": "duplicate"}  # reveals pi_1: the dispute applies
    assert fee(status()) == (0, "2025-05-13")
    assert call_api("GET", "/admin/parked-payments").body["items"] == []


def test_subscription_payment_costs_at_most_two_requests(member: dict[str, Any]) -> None:
    from shared.store.dynamo import default_client

    calls: list[str] = []
    client = default_client()
    hook = "before-call.dynamodb"
    client.meta.events.register(hook, lambda model, **_: calls.append(model.name))
    try:
        for name in ("session", "invoice", "intent", "invoice"):
            calls.clear()
            post(_subscription_events()[name])
            assert 1 <= len(calls) <= 2, (name, calls)
    finally:
        client.meta.events.unregister(hook)


@pytest.mark.parametrize("bad_id", ["victim#x", "victim", "-lead", "a" * 65, "victim x"])
def test_member_id_that_is_not_a_member_id_never_credits_anyone(
    renewal_aws: dict[str, Any], business_date: Any, bad_id: str
) -> None:
    business_date("2025-05-23")
    member_id = bad_id if bad_id != "victim" else "victim"
    payment = sp.event("payment_intent.succeeded", sp.payment_intent("pi_hash", meta=sp.metadata(member_id)))
    assert post(payment).body == {"result": "parked"}
    assert call_api("PUT", "/members/victim", ANA).status == 201
    cert = call_api("GET", "/members/victim/status").body["certifications"][0]
    expected = 1 if bad_id == "victim" else 0  # only the exact member id is applied
    assert cert["fees"]["fees_paid"] == expected
    listed = call_api("GET", "/admin/parked-payments").body["items"]
    assert len(listed) == 1 - expected
    if listed:
        assert listed[0]["member_id"] is None
        assert "member id" in listed[0]["reason"]


def test_parked_payment_of_a_prefixed_member_is_not_applied_to_the_shorter_id(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    """Parked under ``victim`` + '#': ``apply_parked("victim")`` must skip items of other ids."""
    from shared.config.settings import get_policy
    from shared.services.payments import PaymentService
    from shared.store.payments import ParkedPayment, PaymentLedger

    business_date("2025-05-23")
    ledger = PaymentLedger(TABLE)
    body = {
        "event_id": "evt_x",
        "payment_key": "pi_x",
        "member_id": "victim#x",
        "credential": "RMA",
        "purpose": "annual_fee",
        "application_id": None,
        "amount_cents": 5000,
        "paid_on": "2025-05-23",
        "recorded_on": "2025-05-23",
    }
    ledger.park(ParkedPayment("pi_x", "victim#x", "RMA", "legacy", date(2025, 5, 23), body))
    assert call_api("PUT", "/members/victim", ANA).status == 201
    assert PaymentService(ledger, get_policy()).apply_parked("victim", date(2025, 5, 23)) == 0
    cert = call_api("GET", "/members/victim/status").body["certifications"][0]
    assert cert["fees"]["fees_paid"] == 0


@pytest.mark.parametrize(
    "value", ["t=\u00b2,v1=00", "t=\u0661\u0662,v1=00", "t=1234567890123,v1=00", "t=-1,v1=00"]
)
def test_non_ascii_or_huge_timestamps_are_malformed_headers(member: dict[str, Any], value: str) -> None:
    before = items(member)
    body = json.dumps(PAYMENT_EVENTS["payment_intent.succeeded"]).encode()
    response = call_api("POST", "/webhooks/stripe", headers=_header_only(value), raw_body=body)
    assert (response.status, response.body["error"]) == (400, "bad_signature_header")
    assert items(member) == before


def test_bad_signatures_force_at_most_one_secret_reload_a_minute(
    member: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The throttle lives in the secrets adapter (per secret name, process-wide)."""
    from shared.adapters import secrets as secrets_adapter
    from shared.adapters.signatures import SignatureError, verify_with_refresh

    now = [1000.0]
    monkeypatch.setattr(secrets_adapter.REFRESH_THROTTLE, "clock", lambda: now[0])
    forced: list[str] = []
    real_get_secret = secrets_adapter.parameters.get_secret

    def counting_get_secret(name: str, **kwargs: Any) -> Any:
        if kwargs.get("force_fetch"):
            forced.append(name)
        return real_get_secret(name, **kwargs)

    monkeypatch.setattr(secrets_adapter.parameters, "get_secret", counting_get_secret)
    member["secrets"].create_secret(Name="other-secret", SecretString=json.dumps({"current": "x"}))
    body, headers = sp.signed(b"{}", secret="whsec_wrong")
    stamp = int(time.time())

    def attempt(name: str = "StripeWebhookSecretTest") -> None:
        secret = secrets_adapter.RotatingSecret(name)
        with pytest.raises(SignatureError):
            verify_with_refresh(headers["Stripe-Signature"], body, lambda f: secret.values(force=f), stamp)

    for _ in range(5):
        attempt()
    assert len(forced) == 1
    now[0] += 59
    attempt()
    assert len(forced) == 1
    now[0] += 1
    attempt()
    assert len(forced) == 2
    attempt("other-secret")  # per secret
    assert forced == ["StripeWebhookSecretTest"] * 2 + ["other-secret"]


def test_rotated_secret_is_picked_up_by_the_forced_reload(member: dict[str, Any]) -> None:
    member["secrets"].put_secret_value(
        SecretId="StripeWebhookSecretTest", SecretString=json.dumps({"current": "whsec_new", "previous": ""})
    )
    assert post(PAYMENT_EVENTS["payment_intent.succeeded"], secret="whsec_new").body == {"result": "credited"}


@pytest.mark.parametrize(
    "obj_event",
    [
        ("invoice.paid", {"id": "in_1", "parent": "x", "created": sp.CREATED, "amount_paid": 5000}),
        ("invoice.paid", {"id": "in_1", "payments": "x", "created": sp.CREATED, "amount_paid": 5000}),
        ("invoice.paid", {"id": "in_1", "payments": {"data": ["x", 1]}, "subscription_details": "y"}),
        ("payment_intent.succeeded", {**sp.payment_intent(), "created": 10**20}),
        ("payment_intent.succeeded", {**sp.payment_intent(), "metadata": ["a"]}),
        ("payment_intent.succeeded", {**sp.payment_intent(), "id": "pi_" + "x" * 1100}),
        ("charge.dispute.closed", {**sp.dispute(status="won"), "created": 10**20}),
    ],
    ids=[
        "parent-str",
        "payments-str",
        "odd-lists",
        "huge-created",
        "metadata-list",
        "long-id",
        "huge-closed",
    ],
)
def test_odd_signed_payloads_never_500(member: dict[str, Any], obj_event: tuple[str, dict[str, Any]]) -> None:
    event_type, obj = obj_event
    payload = sp.event(event_type, obj, event_id="evt_odd")
    if event_type == "charge.dispute.closed":
        payload["created"] = 10**20
    response = post(payload)
    assert response.status in (200, 400), response.body
    assert fee(status()) == (0, "2025-05-13")


def test_payments_credited_parked_and_reversed_are_counted_once(
    member: dict[str, Any], emitted_metrics: Any
) -> None:
    payment = PAYMENT_EVENTS["payment_intent.succeeded"]
    emitted_metrics()
    assert post(payment).body == {"result": "credited"}
    assert post(payment).body == {"result": "duplicate"}  # a redelivery counts nothing
    stranger = sp.event("payment_intent.succeeded", sp.payment_intent("pi_9", meta=sp.metadata("m-9")))
    assert post(stranger).body == {"result": "parked"}
    assert post(sp.event("charge.refunded", sp.charge())).body == {"result": "reversed"}
    emitted = emitted_metrics()
    assert emitted[("PaymentsCredited", ())] == 1
    assert emitted[("PaymentsParked", ())] == 1
    assert emitted[("PaymentsReversed", ())] == 1
    assert ("PaymentExceptions", ()) not in emitted
