"""Members API through its Lambda handler, under in-process moto, routed via template.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import call_api

ANA = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2019-05-14"}],
}


def table_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["dynamodb"].scan(TableName=aws["table"])["Items"]


@pytest.fixture
def today(business_date: Any) -> None:
    business_date("2020-05-20")


def test_upsert_creates_then_updates_idempotently(aws: dict[str, Any], today: None) -> None:
    first = call_api("PUT", "/members/m-1", ANA)
    assert (first.status, first.body) == (201, {"member_id": "m-1", "created": True})
    items_after_first = table_items(aws)

    again = call_api("PUT", "/members/m-1", ANA)
    assert (again.status, again.body["created"]) == (200, False)
    assert table_items(aws) == items_after_first


def test_status_shape_and_values(aws: dict[str, Any], today: None) -> None:
    call_api("PUT", "/members/m-1", ANA)
    response = call_api("GET", "/members/m-1/status")
    assert response.status == 200
    assert response.body["member_id"] == "m-1"
    assert response.body["as_of"] == "2020-05-20"
    [cert] = response.body["certifications"]
    assert cert["credential"] == "RMA"
    assert cert["status"] == "active"  # first fee due May 2020, overdue only after May 31
    assert cert["fees"]["next_due"] == "2020-05-01"
    assert cert["fees"]["overdue_since"] is None
    assert cert["ccp"]["required"] == 30
    assert cert["ccp"]["cycle_start"] == "2019-05-14"
    assert cert["ccp"]["cycle_end"] == "2022-05-13"
    assert cert["recertification"] == {"required": False, "allowed_methods": []}
    assert cert["lapsed_on"] is None


def test_status_turns_delinquent_after_the_anniversary_month(aws: dict[str, Any], business_date: Any) -> None:
    business_date("2020-05-31")
    call_api("PUT", "/members/m-1", ANA)
    assert call_api("GET", "/members/m-1/status").body["certifications"][0]["status"] == "active"
    business_date("2020-06-01")
    cert = call_api("GET", "/members/m-1/status").body["certifications"][0]
    assert (cert["status"], cert["reasons"], cert["fees"]["overdue_since"]) == (
        "delinquent",
        ["fee_overdue"],
        "2020-06-01",
    )
    assert call_api("GET", "/members/m-1/standing").body["in_good_standing"] is False


def test_alias_is_stored_under_the_canonical_code(aws: dict[str, Any], today: None) -> None:
    body = {**ANA, "certifications": [{"credential": "mt", "certified_on": "2019-05-14"}]}
    assert call_api("PUT", "/members/m-2", body).status == 201
    assert [c["credential"] for c in call_api("GET", "/members/m-2/status").body["certifications"]] == ["MLS"]


def test_standing_and_timeline(aws: dict[str, Any], today: None) -> None:
    call_api("PUT", "/members/m-1", ANA)
    standing = call_api("GET", "/members/m-1/standing")
    assert standing.body == {"member_id": "m-1", "as_of": "2020-05-20", "in_good_standing": True}
    timeline = call_api("GET", "/members/m-1/timeline")
    assert [(e["on"], e["kind"]) for e in timeline.body["entries"]] == [("2019-05-14", "certified")]


@pytest.mark.parametrize(
    ("path", "body", "field", "status"),
    [
        ("/members/m-1", {**ANA, "email": "not-an-email"}, "email", 400),
        ("/members/m-1", {**ANA, "first_name": " "}, "first_name", 400),
        ("/members/m-1", {**ANA, "certifications": []}, "certifications", 400),
        (
            "/members/m-1",
            {**ANA, "certifications": [{"credential": "RMA", "certified_on": "2019-02-30"}]},
            "certifications[0].certified_on",
            400,
        ),
        ("/members/m-1", {**ANA, "nickname": "A"}, "nickname", 400),
        ("/members/m-1", {k: v for k, v in ANA.items() if k != "last_name"}, "last_name", 400),
        ("/members/bad%20id", ANA, "member_id", 400),
    ],
)
def test_invalid_upserts_are_400_with_the_field_and_write_nothing(
    aws: dict[str, Any], today: None, path: str, body: dict[str, Any], field: str, status: int
) -> None:
    response = call_api("PUT", path, body)
    assert response.status == status
    assert field in [problem["field"] for problem in response.body["problems"]]
    assert table_items(aws) == []


def test_unknown_credential_lists_the_known_codes_and_writes_nothing(
    aws: dict[str, Any], today: None
) -> None:
    body = {**ANA, "certifications": [{"credential": "XYZ", "certified_on": "2019-05-14"}]}
    response = call_api("PUT", "/members/m-1", body)
    assert response.status == 400
    assert response.body["error"] == "unknown_credential"
    assert response.body["field"] == "certifications[0].credential"
    assert "RMA" in response.body["known"]
    assert "MLS" in response.body["known"]
    assert table_items(aws) == []


def test_invalid_json_is_400_not_500(aws: dict[str, Any], today: None) -> None:
    response = call_api("PUT", "/members/m-1", raw_body=b"{not json")
    assert response.status == 400
    assert table_items(aws) == []


@pytest.mark.parametrize("route", ["status", "timeline", "standing"])
def test_unknown_member_is_404(aws: dict[str, Any], today: None, route: str) -> None:
    response = call_api("GET", f"/members/nobody/{route}")
    assert response.status == 404
    assert response.body["error"] == "not_found"


@pytest.mark.parametrize(
    ("certifications", "field", "reason"),
    [
        (
            [
                {"credential": "RMA", "certified_on": "2019-05-14"},
                {"credential": "RMA", "certified_on": "2019-05-14"},
            ],
            "certifications[1].credential",
            "listed twice",
        ),
        (
            [
                {"credential": "MLS", "certified_on": "2019-05-14"},
                {"credential": "MT", "certified_on": "2018-01-02"},
            ],
            "certifications[1].credential",
            "listed twice",
        ),
        (
            [{"credential": "RMA", "certified_on": "2020-05-21"}],
            "certifications[0].certified_on",
            "after today",
        ),
        (
            [{"credential": "RMA", "certified_on": "9999-12-31"}],
            "certifications[0].certified_on",
            "after today",
        ),
    ],
)
def test_roster_contradictions_are_400_naming_the_field_and_write_nothing(
    aws: dict[str, Any], today: None, certifications: list[dict[str, str]], field: str, reason: str
) -> None:
    response = call_api("PUT", "/members/m-1", {**ANA, "certifications": certifications})
    assert response.status == 400
    assert (response.body["error"], response.body["field"]) == ("invalid_roster", field)
    assert reason in response.body["message"]
    assert table_items(aws) == []


def test_certification_dates_before_1950_are_rejected(aws: dict[str, Any], today: None) -> None:
    body = {**ANA, "certifications": [{"credential": "RMA", "certified_on": "1949-12-31"}]}
    response = call_api("PUT", "/members/m-1", body)
    assert response.status == 400
    assert response.body["problems"][0]["field"] == "certifications[0].certified_on"
    assert table_items(aws) == []


def test_unknown_credential_answer_lists_aliases(aws: dict[str, Any], today: None) -> None:
    body = {**ANA, "certifications": [{"credential": "ZZ", "certified_on": "2019-05-14"}]}
    assert call_api("PUT", "/members/m-1", body).body["aliases"] == {"MT": "MLS"}
