"""A recertification application's fee is an invoice too: listed with the annual fees, paid through a
payment link (the fake Stripe on loopback, the official SDK) whose metadata credits the application
exactly as a recertification-fee payment always has, checked for the exact amount, reopened by a
refund. Handlers under moto, webhooks signed."""

from __future__ import annotations

from typing import Any

import pytest

from local.fake_stripe import FakeStripe
from tests.helpers import call_api
from tests.renewal import stripe_payloads as sp
from tests.renewal.test_invoices import exceptions
from tests.renewal.test_payment_links import deliver
from tests.renewal.test_webhook import post

TODAY = "2026-05-01"
PAID_AT = 1_777_650_000  # 2026-05-01T15:40Z
LAPSED = {  # certified 2015, no fee ever paid: lapsed (R7a) long before today
    "first_name": "Cy",
    "last_name": "Ngo",
    "email": "cy@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2015-03-10"}],
}
APPLICATION = "m-1.RMA.1"
NUMBER = "m-1-RMA-R1"


@pytest.fixture
def cy(links: FakeStripe, business_date: Any) -> FakeStripe:
    business_date(TODAY)
    assert call_api("PUT", "/members/m-1", LAPSED).status == 201
    body = {"credential": "RMA", "method": "exam", "eligibility": {"work": [{"start": "2020-01-01"}]}}
    opened = call_api("POST", "/members/m-1/recertifications", body)
    assert (opened.status, opened.body["application"]["application_id"]) == (201, APPLICATION), opened.body
    return links


def recertification_invoice() -> dict[str, Any]:
    listed = call_api("GET", "/members/m-1/invoices").body["invoices"]
    [invoice] = [i for i in listed if i["kind"] == "recertification"]
    assert {i["status"] for i in listed if i["kind"] == "annual_fee"} == {"void"}  # lapsed: back fees void
    return dict(invoice)


def fee_requirement() -> tuple[bool, str]:
    answer = call_api("GET", f"/recertifications/{APPLICATION}")
    assert answer.status == 200, answer.body
    [fee] = [r for r in answer.body["requirements"] if r["item"] == "fee"]
    return fee["done"], fee["detail"]


def recertification_payment(
    pi: str, amount: int, currency: str = "usd", number: str = NUMBER
) -> dict[str, Any]:
    meta = {**sp.metadata(purpose="recertification"), "application_id": APPLICATION, "invoices": number}
    obj = sp.checkout_session(pi=pi, meta=meta, session_id=f"cs_{pi}", created=PAID_AT)
    return sp.event(
        "checkout.session.completed", {**obj, "amount_total": amount, "currency": currency}, created=PAID_AT
    )


def test_the_application_fee_is_an_open_invoice(cy: FakeStripe) -> None:
    assert recertification_invoice() == {
        "number": NUMBER,
        "kind": "recertification",
        "credential": "RMA",
        "fee_year": 2026,
        "due_month": "2026-05-01",
        "overdue_from": None,
        "amount_cents": 12500,
        "currency": "usd",
        "status": "open",
        "paid_on": None,
        "payment_key": None,
        "application_id": APPLICATION,
    }


def test_paid_through_a_link_it_credits_the_application_like_any_recertification_payment(
    cy: FakeStripe,
) -> None:
    answer = call_api("POST", "/members/m-1/payments", {"invoices": [NUMBER]})
    assert answer.status == 201, answer.body
    assert (answer.body["amount_cents"], answer.body["invoices"]) == (12500, [NUMBER])
    [request] = cy.requests
    assert request.body["metadata"] == {
        "member_id": "m-1",
        "credential": "RMA",
        "purpose": "recertification",
        "invoices": NUMBER,
        "application_id": APPLICATION,
    }
    assert fee_requirement()[0] is False
    assert deliver(cy, answer.body["session_id"], PAID_AT) == {"result": "credited"}
    assert deliver(cy, answer.body["session_id"], PAID_AT) == {"result": "duplicate"}  # redelivered
    paid = f"pi_{answer.body['session_id'].removeprefix('cs_')}"
    invoice = recertification_invoice()
    assert (invoice["status"], invoice["paid_on"], invoice["payment_key"]) == ("paid", TODAY, paid)
    assert fee_requirement() == (
        True,
        f"recertification fee 12500 cents, paid 12500 (Stripe: purpose recertification, application_id {APPLICATION})",
    )
    # paid: no second link for it
    again = call_api("POST", "/members/m-1/payments", {"invoices": [NUMBER]})
    assert (again.status, again.body["error"]) == (409, "invoice_not_payable")


def test_a_refund_reopens_the_invoice_and_the_fee_requirement(cy: FakeStripe) -> None:
    assert post(recertification_payment("pi_r", 12500)).body == {"result": "credited"}
    assert recertification_invoice()["status"] == "paid"
    refund = sp.event(
        "charge.refunded", sp.charge(pi="pi_r", charge_id="ch_r", created=PAID_AT), created=PAID_AT
    )
    assert post(refund).body == {"result": "reversed"}
    assert recertification_invoice()["status"] == "refunded"
    assert fee_requirement()[0] is False
    # owed again: payable through a new link
    assert call_api("POST", "/members/m-1/payments", {"invoices": [NUMBER]}).status == 201


@pytest.mark.parametrize(
    ("amount", "currency", "number", "reason"),
    [
        (12499, "usd", NUMBER, "underpayment"),
        (1, "usd", NUMBER, "underpayment"),
        (0, "usd", NUMBER, "underpayment"),
        (12501, "usd", NUMBER, "overpayment"),
        (12500, "eur", NUMBER, "wrong_currency"),
        (12500, "usd", "m-1-RMA-R2", "unknown_invoice"),  # not the application the metadata names
        (12500, "usd", "m-1-RMA-2026", "unknown_invoice"),
    ],
)
def test_a_wrong_amount_is_a_payment_exception_that_credits_nothing(
    cy: FakeStripe, amount: int, currency: str, number: str, reason: str
) -> None:
    event = recertification_payment("pi_x", amount, currency, number)
    assert post(event).body == {"result": "exception"}
    assert post(event).body == {"result": "duplicate"}
    assert exceptions() == {"pi_x": reason}
    assert recertification_invoice()["status"] == "open"
    assert fee_requirement()[0] is False


def test_paid_twice_through_two_links_the_second_is_an_exception(cy: FakeStripe) -> None:
    assert post(recertification_payment("pi_a", 12500)).body == {"result": "credited"}
    assert post(recertification_payment("pi_b", 12500)).body == {"result": "exception"}
    assert exceptions() == {"pi_b": "already_paid"}
    assert fee_requirement()[1].endswith(
        f"paid 12500 (Stripe: purpose recertification, application_id {APPLICATION})"
    )


def test_the_void_back_fees_of_the_lapsed_certification_cannot_be_linked_with_it(cy: FakeStripe) -> None:
    answer = call_api("POST", "/members/m-1/payments", {"invoices": [NUMBER, "m-1-RMA-2016"]})
    assert (answer.status, answer.body["error"], answer.body["field"]) == (
        409,
        "invoice_not_payable",
        "invoices[1]",
    )
    assert cy.requests == []
