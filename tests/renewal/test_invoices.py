"""Invoices and exact money: ``GET /members/{id}/invoices``, reconciliation of Stripe payments against the
invoices they name (``metadata.invoices``), payment exceptions and their resolution by staff - all
through the Lambda handlers under moto, events signed by the official ``stripe`` library."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import call_api
from tests.renewal import stripe_payloads as sp
from tests.renewal.test_webhook import post

# Certified 2021-06-14: fee years 2022, 2023 and 2024 are overdue on 2024-08-20 (the CCP cycle's late
# window is still open: not lapsed yet). Payments are made that day.
TODAY = "2024-08-20"
PAID_AT = 1_724_150_000  # 2024-08-20T10:33:20Z
BEA = {
    "first_name": "Bea",
    "last_name": "Ortiz",
    "email": "bea@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2021-06-14"}],
}
Y22, Y23, Y24 = "m-1-RMA-2022", "m-1-RMA-2023", "m-1-RMA-2024"


@pytest.fixture
def bea(renewal_aws: dict[str, Any], business_date: Any) -> dict[str, Any]:
    business_date(TODAY)
    assert call_api("PUT", "/members/m-1", BEA).status == 201
    return renewal_aws


def payment(
    pi: str,
    invoices: list[str] | None,
    amount: int,
    currency: str = "usd",
    event_type: str = "checkout.session.completed",
) -> dict[str, Any]:
    """A paid Checkout Session (or its PaymentIntent) for ``invoices`` (None: legacy, no numbers)."""
    meta = sp.metadata() if invoices is None else {**sp.metadata(), "invoices": ",".join(invoices)}
    if event_type == "payment_intent.succeeded":
        obj = {**sp.payment_intent(pi, meta, PAID_AT), "amount": amount, "amount_received": amount}
    else:
        obj = sp.checkout_session(pi=pi, meta=meta, session_id=f"cs_{pi}", created=PAID_AT)
        obj["amount_total"] = amount
    return sp.event(event_type, {**obj, "currency": currency}, created=PAID_AT)


def refund(pi: str) -> dict[str, Any]:
    return sp.event(
        "charge.refunded", sp.charge(pi=pi, charge_id=f"ch_{pi}", created=PAID_AT), created=PAID_AT
    )


def invoices() -> dict[str, tuple[str, str | None]]:
    response = call_api("GET", "/members/m-1/invoices")
    assert response.status == 200, response.body
    return {i["number"]: (i["status"], i["payment_key"]) for i in response.body["invoices"]}


def fees_paid() -> int:
    return int(call_api("GET", "/members/m-1/status").body["certifications"][0]["fees"]["fees_paid"])


def exceptions() -> dict[str, str]:
    return {i["payment_key"]: i["reason"] for i in call_api("GET", "/admin/payment-exceptions").body["items"]}


OVERDUE = {Y22: ("overdue", None), Y23: ("overdue", None), Y24: ("overdue", None)}


def test_invoices_are_derived_with_amount_due_month_and_status(bea: dict[str, Any]) -> None:
    body = call_api("GET", "/members/m-1/invoices").body
    assert body["as_of"] == TODAY
    first = body["invoices"][0]
    assert first == {
        "number": Y22,
        "kind": "annual_fee",
        "credential": "RMA",
        "fee_year": 2022,
        "due_month": "2022-06-01",
        "overdue_from": "2022-07-01",
        "amount_cents": 5000,
        "currency": "usd",
        "status": "overdue",
        "paid_on": None,
        "payment_key": None,
        "application_id": None,
    }
    assert invoices() == OVERDUE
    assert call_api("GET", "/members/nobody/invoices").status == 404


def test_exact_payment_credits_the_invoice_it_names(bea: dict[str, Any]) -> None:
    assert post(payment("pi_a", [Y23], 5000)).body == {"result": "credited"}
    assert invoices() == {**OVERDUE, Y23: ("paid", "pi_a")}
    assert fees_paid() == 1
    # the status agrees: the earliest unpaid fee is still 2022's
    fees = call_api("GET", "/members/m-1/status").body["certifications"][0]["fees"]
    assert (fees["next_due"], fees["overdue_since"]) == ("2022-06-01", "2022-07-01")


def test_three_years_of_arrears_paid_at_once_credit_three_years(bea: dict[str, Any]) -> None:
    assert post(payment("pi_a", [Y22, Y23, Y24], 15000)).body == {"result": "credited"}
    assert invoices() == {n: ("paid", "pi_a") for n in (Y22, Y23, Y24)}
    status = call_api("GET", "/members/m-1/status").body["certifications"][0]
    assert (status["reasons"], status["fees"]["fees_paid"], status["fees"]["paid_through"]) == (
        ["ccp_incomplete"],  # no fee overdue any more (the CE points are another matter)
        3,
        "2025-06-13",
    )


@pytest.mark.parametrize(
    ("names", "amount", "currency", "reason"),
    [
        ([Y22], 1, "usd", "underpayment"),
        ([Y22], 0, "usd", "underpayment"),
        ([Y22, Y23], 5000, "usd", "underpayment"),
        ([Y22], 5001, "usd", "overpayment"),
        ([Y22], 5000, "eur", "wrong_currency"),
        (None, 1, "usd", "underpayment"),  # legacy flow: one fee year, exactly
        (None, 0, "usd", "underpayment"),
        (None, 10000, "usd", "overpayment"),
        (None, 5000, "eur", "wrong_currency"),
        (["m-2-RMA-2022"], 5000, "usd", "unknown_invoice"),  # another member's
        (["m-1-RMA-2021"], 5000, "usd", "unknown_invoice"),  # before the first fee year
        ([Y22, Y22], 10000, "usd", "unknown_invoice"),  # named twice
    ],
)
def test_wrong_amounts_and_currencies_are_exceptions_that_credit_nothing(
    bea: dict[str, Any], names: list[str] | None, amount: int, currency: str, reason: str
) -> None:
    event = payment("pi_x", names, amount, currency)
    assert post(event).body == {"result": "exception"}
    assert post(event).body == {"result": "duplicate"}  # redelivery
    other_type = payment("pi_x", names, amount, currency, event_type="payment_intent.succeeded")
    assert post(other_type).body == {"result": "duplicate"}  # the same payment seen as its intent
    assert invoices() == OVERDUE
    assert fees_paid() == 0
    assert exceptions() == {"pi_x": reason}
    [held] = [
        e
        for e in call_api("GET", "/members/m-1/timeline").body["entries"]
        if e["kind"] == "payment_exception"
    ]
    assert held["data"]["reason"] == reason


def test_legacy_payment_of_exactly_one_fee_credits_the_earliest_open_year(bea: dict[str, Any]) -> None:
    assert post(payment("pi_a", None, 5000)).body == {"result": "credited"}
    assert invoices() == {**OVERDUE, Y22: ("paid", "pi_a")}


def test_invoice_paid_twice_through_two_links_is_credited_once(bea: dict[str, Any]) -> None:
    assert post(payment("pi_a", [Y22], 5000)).body == {"result": "credited"}
    assert post(payment("pi_b", [Y22, Y23], 10000)).body == {"result": "exception"}
    assert post(payment("pi_b", [Y22, Y23], 10000)).body == {"result": "duplicate"}
    assert invoices() == {**OVERDUE, Y22: ("paid", "pi_a")}
    assert fees_paid() == 1
    assert exceptions() == {"pi_b": "already_paid"}


def test_refund_of_a_multi_invoice_payment_reopens_all_of_them(bea: dict[str, Any]) -> None:
    post(payment("pi_a", [Y22, Y23], 10000))
    assert post(refund("pi_a")).body == {"result": "reversed"}
    assert invoices() == {Y22: ("refunded", None), Y23: ("refunded", None), Y24: ("overdue", None)}
    assert fees_paid() == 0
    # a reopened invoice can be paid again, through a new link
    assert post(payment("pi_c", [Y22], 5000)).body == {"result": "credited"}
    assert invoices()[Y22] == ("paid", "pi_c")


def test_lost_dispute_reopens_and_won_dispute_restores_every_invoice(bea: dict[str, Any]) -> None:
    post(payment("pi_a", [Y22, Y23], 10000))
    assert post(sp.event("charge.dispute.created", sp.dispute(pi="pi_a"))).body == {"result": "reversed"}
    assert invoices() == {Y22: ("disputed", None), Y23: ("disputed", None), Y24: ("overdue", None)}
    won = sp.event("charge.dispute.closed", sp.dispute(pi="pi_a", status="won"))
    assert post(won).body == {"result": "credited"}
    assert invoices() == {Y22: ("paid", "pi_a"), Y23: ("paid", "pi_a"), Y24: ("overdue", None)}
    # its invoices are claimed again: another payment for them is an exception
    assert post(payment("pi_b", [Y23], 5000)).body == {"result": "exception"}


SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "refunded multi-invoice": [payment("pi_a", [Y22, Y23], 10000), refund("pi_a")],
    "paid twice": [payment("pi_a", [Y22], 5000), payment("pi_b", [Y22], 5000)],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_redelivery_and_any_delivery_order_give_the_same_invoices(
    bea: dict[str, Any], name: str, business_date: Any
) -> None:
    """Each permutation of the scenario's events, every event delivered twice, on a fresh member."""
    outcomes = set()
    for number, order in enumerate(itertools.permutations(SCENARIOS[name])):
        member = f"p{number}"
        assert call_api("PUT", f"/members/{member}", BEA).status == 201
        for event in order:
            for _ in range(2):
                assert post(_for(event, member)).status == 200
        listed = call_api("GET", f"/members/{member}/invoices").body["invoices"]
        outcomes.add(tuple((i["fee_year"], i["status"]) for i in listed))
    assert len(outcomes) == 1, outcomes
    if name == "refunded multi-invoice":
        assert outcomes == {((2022, "refunded"), (2023, "refunded"), (2024, "overdue"))}
    else:
        assert outcomes == {((2022, "paid"), (2023, "overdue"), (2024, "overdue"))}


def _for(event: dict[str, Any], member: str) -> dict[str, Any]:
    """The event re-aimed at another member (its ids made unique to that member)."""
    obj = dict(event["data"]["object"])
    for field in ("id", "payment_intent"):
        if isinstance(obj.get(field), str):
            obj[field] = f"{obj[field]}_{member}"
    meta = dict(obj.get("metadata") or {})
    if meta:
        meta["member_id"] = member
        if "invoices" in meta:
            meta["invoices"] = meta["invoices"].replace("m-1-", f"{member}-")
        obj["metadata"] = meta
    return {**event, "id": f"{event['id']}_{member}", "data": {"object": obj}}


def test_staff_credit_an_exception_and_it_is_on_the_timeline(bea: dict[str, Any]) -> None:
    post(payment("pi_x", [Y22], 4999))
    answer = call_api(
        "POST",
        "/admin/payment-exceptions/pi_x/resolution",
        {"action": "credit", "note": "bank fee, accepted"},
    )
    assert (answer.status, answer.body) == (200, {"payment_key": "pi_x", "action": "credit"})
    assert invoices()[Y22] == ("paid", "pi_x")
    assert exceptions() == {}
    again = call_api("POST", "/admin/payment-exceptions/pi_x/resolution", {"action": "refund", "note": "x"})
    assert (again.status, again.body["error"]) == (409, "already_resolved")
    kinds = [e["kind"] for e in call_api("GET", "/members/m-1/timeline").body["entries"]]
    assert {"payment_exception", "payment_exception_resolved", "payment"} <= set(kinds)
    # the payment is credited now: its redelivery stays a duplicate, its refund reopens the invoice
    assert post(payment("pi_x", [Y22], 4999)).body == {"result": "duplicate"}
    assert post(refund("pi_x")).body == {"result": "reversed"}
    assert invoices()[Y22] == ("refunded", None)


def test_staff_cannot_credit_an_invoice_paid_meanwhile_but_can_mark_it_for_refund(
    bea: dict[str, Any],
) -> None:
    post(payment("pi_a", [Y22], 5000))
    post(payment("pi_b", [Y22], 5000))
    credit = call_api("POST", "/admin/payment-exceptions/pi_b/resolution", {"action": "credit", "note": "n"})
    assert (credit.status, credit.body["error"], credit.body["invoices"]) == (
        409,
        "invoice_already_paid",
        [Y22],
    )
    refund_it = call_api(
        "POST", "/admin/payment-exceptions/pi_b/resolution", {"action": "refund", "note": "paid twice"}
    )
    assert refund_it.status == 200
    assert exceptions() == {}
    assert fees_paid() == 1
    [resolved] = [
        e
        for e in call_api("GET", "/members/m-1/timeline").body["entries"]
        if e["kind"] == "payment_exception_resolved"
    ]
    assert resolved["data"] == {"action": "refund", "note": "paid twice", "reason": "already_paid"}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/admin/payment-exceptions/pi_none/resolution", {"action": "credit", "note": "n"}, 404),
        ("/admin/payment-exceptions/pi_x/resolution", {"action": "forgive", "note": "n"}, 400),
        ("/admin/payment-exceptions/pi_x/resolution", {"action": "credit", "note": ""}, 400),
        ("/admin/payment-exceptions/pi_x/resolution", {"action": "credit"}, 400),
    ],
)
def test_bad_resolutions_are_refused(
    bea: dict[str, Any], path: str, body: dict[str, Any], status: int
) -> None:
    post(payment("pi_x", [Y22], 1))
    assert call_api("POST", path, body).status == status
    assert exceptions() == {"pi_x": "underpayment"}


def test_payments_and_exceptions_cost_at_most_two_requests(bea: dict[str, Any]) -> None:
    from shared.store.dynamo import default_client

    calls: list[str] = []
    client = default_client()
    hook = "before-call.dynamodb"
    client.meta.events.register(hook, lambda model, **_: calls.append(model.name))
    events = [
        payment("pi_a", [Y22, Y23], 10000),  # credits two invoices
        payment("pi_a", [Y22, Y23], 10000),  # duplicate
        payment("pi_b", [Y22], 5000),  # already paid: exception
        payment("pi_b", [Y22], 5000),  # its duplicate
        payment("pi_c", [Y24], 1),  # underpayment
        refund("pi_a"),  # reopens both
        refund("pi_a"),
        payment("pi_d", [Y22], 5000),  # pays a reopened invoice
    ]
    try:
        for event in events:
            calls.clear()
            assert post(event).status == 200
            assert 1 <= len(calls) <= 2, (event["id"], calls)
    finally:
        client.meta.events.unregister(hook)


def test_parked_payment_with_a_wrong_amount_becomes_an_exception_when_the_roster_brings_the_member(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    business_date(TODAY)
    assert post(payment("pi_early", [Y22], 4000)).body == {"result": "parked"}  # member unknown yet
    assert call_api("PUT", "/members/m-1", BEA).status == 201
    assert call_api("GET", "/admin/parked-payments").body["items"] == []
    assert exceptions() == {"pi_early": "underpayment"}
    assert invoices() == OVERDUE
    assert call_api("PUT", "/members/m-1", BEA).status == 200  # a second upsert changes nothing
    assert exceptions() == {"pi_early": "underpayment"}


@pytest.fixture
def fee_raised_july_2023(bea: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """RMA's annual fee goes from $50 to $65 from July 2023 (a dated fee schedule in CREDENTIALS)."""
    from shared.config.settings import clear_settings_caches

    monkeypatch.setenv("CREDENTIALS", '{"RMA": {"fees": [{"from": "2023-07", "cents": 6500}]}}')
    clear_settings_caches()
    yield
    monkeypatch.delenv("CREDENTIALS")
    clear_settings_caches()


def amounts() -> dict[str, int]:
    return {i["number"]: i["amount_cents"] for i in call_api("GET", "/members/m-1/invoices").body["invoices"]}


def test_each_invoice_costs_the_fee_in_force_in_its_due_month(fee_raised_july_2023: None) -> None:
    assert amounts() == {Y22: 5000, Y23: 5000, Y24: 6500}  # due June 2022, June 2023, June 2024
    assert post(payment("pi_new_for_old", [Y23], 6500)).body == {"result": "exception"}
    assert post(payment("pi_old_for_new", [Y24], 5000)).body == {"result": "exception"}
    assert exceptions() == {"pi_new_for_old": "overpayment", "pi_old_for_new": "underpayment"}
    assert invoices() == OVERDUE
    assert post(payment("pi_23", [Y23], 5000)).body == {"result": "credited"}
    assert post(payment("pi_24", [Y24], 6500)).body == {"result": "credited"}
    assert post(payment("pi_22", [Y22], 5000)).body == {"result": "credited"}
    assert invoices() == {Y22: ("paid", "pi_22"), Y23: ("paid", "pi_23"), Y24: ("paid", "pi_24")}
    assert fees_paid() == 3
    assert amounts() == {Y22: 5000, Y23: 5000, Y24: 6500}  # a paid invoice keeps its amount


def test_arrears_across_a_fee_change_are_paid_by_the_sum_of_their_fees(fee_raised_july_2023: None) -> None:
    assert post(payment("pi_short", [Y22, Y23, Y24], 15000)).body == {"result": "exception"}
    assert post(payment("pi_all", [Y22, Y23, Y24], 16500)).body == {"result": "credited"}
    assert invoices() == {n: ("paid", "pi_all") for n in (Y22, Y23, Y24)}
    status = call_api("GET", "/members/m-1/status").body["certifications"][0]["fees"]
    assert (status["next_due"], status["amount_due_cents"]) == ("2025-06-01", 6500)


def test_a_legacy_payment_pays_the_fee_in_force_when_it_was_paid(fee_raised_july_2023: None) -> None:
    """Without invoice numbers there is no due month to price: the fee of the month it was paid."""
    assert post(payment("pi_old", None, 5000)).body == {"result": "exception"}
    assert exceptions() == {"pi_old": "underpayment"}
    assert post(payment("pi_new", None, 6500)).body == {"result": "credited"}
    assert invoices()[Y22] == ("paid", "pi_new")
