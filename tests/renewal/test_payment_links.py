"""``POST /members/{id}/payments``: a Stripe Checkout Session for exactly the invoices asked for, created
with the official ``stripe`` SDK against the fake Stripe on loopback (``local/fake_stripe.py``); the
handler runs under moto. Then the member pays, the fake delivers the signed webhook, and the invoices
show paid."""

from __future__ import annotations

from typing import Any

import pytest

from local.fake_stripe import FakeStripe
from shared.adapters.stripe_checkout import CheckoutRequest, LineItem
from tests.helpers import call_api
from tests.renewal.conftest import API_KEY
from tests.renewal.test_invoices import BEA, TODAY, Y22, Y23, Y24, invoices

PAID_AT = 1_724_150_000  # 2024-08-20, the business date of these tests


@pytest.fixture
def bea(links: FakeStripe, business_date: Any) -> FakeStripe:
    business_date(TODAY)
    assert call_api("PUT", "/members/m-1", BEA).status == 201
    return links


def link(numbers: list[str]) -> Any:
    return call_api("POST", "/members/m-1/payments", {"invoices": numbers})


def test_link_is_a_checkout_session_for_exactly_those_invoices(bea: FakeStripe) -> None:
    answer = link([Y23, Y22])
    assert answer.status == 201, answer.body
    assert answer.body == {
        "member_id": "m-1",
        "url": f"{bea.url}/pay/cs_test_000001",
        "session_id": "cs_test_000001",
        "invoices": [Y22, Y23],
        "amount_cents": 10000,
        "currency": "usd",
    }
    [request] = bea.requests
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"  # the current restricted key
    assert request.headers["Idempotency-Key"].startswith("staycert-link-")
    meta = {"member_id": "m-1", "credential": "RMA", "purpose": "annual_fee", "invoices": f"{Y22},{Y23}"}
    assert request.body["metadata"] == meta
    assert request.body["payment_intent_data"]["metadata"] == meta
    assert request.body["mode"] == "payment"
    prices = [line["price_data"] for line in request.body["line_items"].values()]
    assert [(p["unit_amount"], p["currency"]) for p in prices] == [("5000", "usd"), ("5000", "usd")]
    assert request.body["success_url"].startswith("https://portal.example.org/invoices")


def test_a_retry_returns_the_same_session(bea: FakeStripe) -> None:
    first, second = link([Y22, Y23]), link([Y23, Y22])
    assert first.body["session_id"] == second.body["session_id"]
    assert bea.created_sessions() == 1
    assert len({r.headers["Idempotency-Key"] for r in bea.requests}) == 1
    assert link([Y22]).body["session_id"] != first.body["session_id"]  # another set, another session


def test_the_member_pays_through_the_link_and_the_signed_webhook_credits_both_years(bea: FakeStripe) -> None:
    session = link([Y22, Y23]).body["session_id"]
    assert deliver(bea, session) == {"result": "credited"}
    paid = f"pi_{session.removeprefix('cs_')}"
    assert invoices() == {Y22: ("paid", paid), Y23: ("paid", paid), Y24: ("overdue", None)}
    assert deliver(bea, session) == {"result": "duplicate"}  # Stripe redelivers


@pytest.mark.parametrize("failure", ["429", "500", "drop"])
def test_stripe_outage_answers_503_with_retry_after_and_records_nothing(
    bea: FakeStripe, failure: str, renewal_aws: dict[str, Any]
) -> None:
    before = renewal_aws["dynamodb"].scan(TableName=renewal_aws["table"])["Items"]
    bea.fail_next(failure)  # type: ignore[arg-type]
    answer = link([Y22])
    assert answer.status == 503, answer.body
    assert answer.body["error"] == "service_unavailable"
    assert answer.headers["Retry-After"] == ("7" if failure == "429" else "30")
    assert bea.created_sessions() == 0
    assert renewal_aws["dynamodb"].scan(TableName=renewal_aws["table"])["Items"] == before
    assert link([Y22]).status == 201  # Stripe is back: the retry works


@pytest.mark.parametrize(
    ("numbers", "status", "error", "field"),
    [
        (["m-1-RMA-2030"], 422, "unknown_invoice", "invoices[0]"),
        (["m-2-RMA-2022"], 422, "unknown_invoice", "invoices[0]"),
        ([Y22, Y22], 422, "unknown_invoice", "invoices"),
    ],
)
def test_invoices_that_are_not_payable_are_refused(
    bea: FakeStripe, numbers: list[str], status: int, error: str, field: str
) -> None:
    answer = link(numbers)
    assert (answer.status, answer.body["error"], answer.body["field"]) == (status, error, field)
    assert bea.requests == []


def test_a_paid_invoice_cannot_be_linked_again(bea: FakeStripe) -> None:
    session = link([Y24]).body["session_id"]
    assert deliver(bea, session) == {"result": "credited"}
    assert invoices()[Y24] == ("paid", f"pi_{session.removeprefix('cs_')}")
    answer = link([Y23, Y24])
    assert (answer.status, answer.body["error"], answer.body["field"]) == (
        409,
        "invoice_not_payable",
        "invoices[1]",
    )


@pytest.mark.parametrize(
    "body", [{}, {"invoices": []}, {"invoices": "m-1-RMA-2022"}, {"invoices": [Y22], "x": 1}]
)
def test_bad_bodies_are_400_with_the_field(bea: FakeStripe, body: dict[str, Any]) -> None:
    answer = call_api("POST", "/members/m-1/payments", body)
    assert answer.status == 400
    assert answer.body["error"] == "validation_failed"


def test_unknown_member_is_404(bea: FakeStripe) -> None:
    assert call_api("POST", "/members/nobody/payments", {"invoices": [Y22]}).status == 404


def test_idempotency_key_depends_on_the_invoice_set_only() -> None:
    def request(*numbers: str) -> CheckoutRequest:
        lines = tuple(LineItem(n, n, 5000) for n in numbers)
        return CheckoutRequest("m-1", "RMA", "usd", lines, "https://p/s", "https://p/c")

    assert request(Y22, Y23).idempotency_key() == request(Y23, Y22).idempotency_key()
    assert request(Y22).idempotency_key() != request(Y22, Y23).idempotency_key()


def deliver(fake: FakeStripe, session_id: str, created: int = PAID_AT) -> Any:
    """The member pays on the fake; its signed ``checkout.session.completed`` goes to our handler."""
    body, headers = fake.complete(session_id, created=created)
    answer = call_api("POST", "/webhooks/stripe", headers=headers, raw_body=body)
    assert answer.status == 200
    return answer.body


def test_a_link_costs_one_query_and_one_stripe_call_and_the_invoices_one_query(bea: FakeStripe) -> None:
    from shared.store.dynamo import default_client

    calls: list[str] = []
    client = default_client()
    hook = "before-call.dynamodb"
    client.meta.events.register(hook, lambda model, **_: calls.append(model.name))
    try:
        assert link([Y22, Y23, Y24]).status == 201
        assert (calls, len(bea.requests)) == (["Query"], 1)
        calls.clear()
        invoices()
        assert calls == ["Query"]  # what a status read costs
    finally:
        client.meta.events.unregister(hook)
