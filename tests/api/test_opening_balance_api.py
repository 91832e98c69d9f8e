"""PUT /members/{id} with opening balances: migrated members arrive in the standing they had."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.rules.models import CeCompletion
from shared.store.members import MemberRepository
from tests.conftest import TABLE
from tests.helpers import call_api

CARLA_BALANCE = {
    "cutover_on": "2021-10-01",
    "paid_through": "2022-02-09",
    "cycle_start": "2019-02-10",
    "standing": "active",
    "badge_id": "badge-carla-1",
}
CARLA = {
    "first_name": "Carla",
    "last_name": "Nguyen",
    "email": "carla@example.org",
    "certifications": [
        {"credential": "CMAS", "certified_on": "2004-02-10", "opening_balance": CARLA_BALANCE}
    ],
}


def table_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["dynamodb"].scan(TableName=aws["table"])["Items"]


def with_balance(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(CARLA)
    body["certifications"][0]["opening_balance"].update(changes)
    return body


@pytest.fixture
def today(business_date: Any) -> None:
    business_date("2021-10-01")


def test_pre_2006_member_with_fees_paid_arrives_active_and_a_replay_writes_nothing(
    aws: dict[str, Any], today: None
) -> None:
    without = {**CARLA, "certifications": [{"credential": "CMAS", "certified_on": "2004-02-10"}]}
    call_api("PUT", "/members/old-carla", without)
    assert call_api("GET", "/members/old-carla/status").body["certifications"][0]["status"] == "lapsed"

    created = call_api("PUT", "/members/carla", CARLA)
    assert (created.status, created.body["created"]) == (201, True)
    [status] = call_api("GET", "/members/carla/status").body["certifications"]
    assert (status["status"], status["fees"]["paid_through"], status["cutover_on"]) == (
        "active",
        "2022-02-09",
        "2021-10-01",
    )
    badges = call_api("GET", "/members/carla/status").body["badges"]
    assert [(b["badge_id"], b["state"]) for b in badges] == [("badge-carla-1", "accepted")]
    entries = call_api("GET", "/members/carla/timeline").body["entries"]
    [balance] = [e for e in entries if e["kind"] == "opening_balance"]
    assert (balance["on"], balance["credential"]) == ("2021-10-01", "CMAS")
    assert "fees paid through 2022-02-09" in balance["summary"]

    items = table_items(aws)
    again = call_api("PUT", "/members/carla", CARLA)
    assert (again.status, again.body["created"]) == (200, False)
    assert table_items(aws) == items


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"paid_through": "2003-12-31"}, "paid_through", "paid_through is before certified_on"),
        ({"cutover_on": "2021-10-02"}, "cutover_on", "after today"),
        ({"cycle_start": "2019-02-11"}, "cycle_start", "cycle_start is not the start"),
        ({"standing": "delinquent"}, "standing", "they give active"),
        ({"standing": "lapsed", "lapsed_on": "2019-01-01"}, "lapsed_on", "needs lapsed_on and lapse_reason"),
        (
            {"standing": "lapsed", "lapsed_on": "2019-01-01", "lapse_reason": "fee_unpaid_lapse"},
            "badge_id",
            "no live badge",
        ),
    ],
)
def test_a_balance_the_rules_refuse_is_400_naming_the_field_and_writes_nothing(
    aws: dict[str, Any], today: None, changes: dict[str, Any], field: str, reason: str
) -> None:
    response = call_api("PUT", "/members/carla", with_balance(**changes))
    assert response.status == 400
    assert (response.body["error"], response.body["field"]) == (
        "invalid_roster",
        f"certifications[0].opening_balance.{field}",
    )
    assert reason in response.body["message"]
    assert table_items(aws) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cutover_on": 1633046400}, "cutover_on"),  # a Unix time is not a date
        ({"paid_through": "2022-2-9"}, "paid_through"),
        ({"paid_through": "2022-02-09\n"}, "paid_through"),
        ({"points": {"knitting": 5}}, "points.knitting"),
        ({"points": {"authorship": -1}}, "points.authorship"),
        ({"points": {"authorship": 10**42}}, "points.authorship"),  # Infinity is not JSON: see the corpus
        ({"standing": "retired"}, "standing"),
        ({"lapse_reason": "fee_overdue_forever"}, "lapse_reason"),
        ({"badge_id": "=HYPERLINK(1)"}, "badge_id"),
        ({"balance": 3}, "balance"),
    ],
)
def test_malformed_balance_fields_are_400_validation_failed(
    aws: dict[str, Any], today: None, changes: dict[str, Any], field: str
) -> None:
    response = call_api("PUT", "/members/carla", with_balance(**changes))
    assert response.status == 400
    assert response.body["error"] == "validation_failed"
    fields = [p["field"] for p in response.body["problems"]]
    assert any(f.startswith(f"certifications[0].opening_balance.{field}") for f in fields), fields
    assert table_items(aws) == []


def test_a_member_with_facts_here_is_refused_409_and_nothing_is_overwritten(
    aws: dict[str, Any], today: None
) -> None:
    plain = {**CARLA, "certifications": [{"credential": "CMAS", "certified_on": "2004-02-10"}]}
    call_api("PUT", "/members/carla", plain)
    MemberRepository(TABLE).record_fact(
        "carla",
        CeCompletion(key="c1", recorded_on="2021-09-01", activity_id="a", completed_on="2021-09-01"),  # type: ignore[arg-type]
    )
    items = table_items(aws)
    response = call_api("PUT", "/members/carla", CARLA)
    assert response.status == 409
    assert (response.body["error"], response.body["field"]) == (
        "history_exists",
        "certifications[0].opening_balance",
    )
    assert table_items(aws) == items


def test_a_different_balance_for_an_imported_member_is_refused(aws: dict[str, Any], today: None) -> None:
    call_api("PUT", "/members/carla", CARLA)
    items = table_items(aws)
    response = call_api("PUT", "/members/carla", with_balance(paid_through="2023-02-09"))
    assert (response.status, response.body["error"]) == (409, "history_exists")
    assert table_items(aws) == items
