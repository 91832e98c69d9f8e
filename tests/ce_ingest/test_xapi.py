"""POST /xapi/statements through its handler (routed via template.yaml) under in-process moto; every
assertion on credit goes through the status/timeline API."""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest

from tests.ce_ingest.conftest import (
    AU,
    COURSE,
    HOME,
    basic,
    catalog,
    ccp,
    cmi5_sequence,
    items,
    member,
    post,
    statement,
    timeline,
)
from tests.helpers import call_api


def ce_entries(member_id: str = "m-1") -> list[dict[str, Any]]:
    return [e for e in timeline(member_id) if e["kind"] in ("ce", "ce_void")]


def test_full_cmi5_sequence_credits_once(ana: dict[str, Any]) -> None:
    sequence = cmi5_sequence()
    response = post(sequence)
    assert response.status == 200
    assert response.body == [s["id"] for s in sequence]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert ccp()["earned"] == 3  # completed, passed, satisfied: three facts of one course, one credit
    credits = ce_entries()
    assert [(c["data"]["activity_id"], c["on"]) for c in credits] == [(COURSE, "2024-03-10")] * 3


def test_resend_of_the_whole_sequence_changes_nothing(ana: dict[str, Any]) -> None:
    sequence = cmi5_sequence()
    assert post(sequence).status == 200
    stored = items(ana)
    assert post(sequence).status == 200
    for one in sequence:  # and one by one
        assert post(one).status == 200
    assert items(ana) == stored
    assert ccp()["earned"] == 3


def test_statements_sent_one_by_one_credit_the_course_once(ana: dict[str, Any]) -> None:
    for one in cmi5_sequence():
        assert post(one).status == 200
    assert ccp()["earned"] == 3
    outcomes = [e["data"]["outcome"] for e in timeline() if e["kind"] == "xapi"]
    assert outcomes == ["credited"] * 3  # each its own fact, whichever came first


def test_a_second_course_adds_its_own_points(ana: dict[str, Any]) -> None:
    other = "https://courses.example.org/ccp/phlebotomy"
    catalog(other, points=2.5)
    post(cmi5_sequence())
    post(cmi5_sequence(course=other))
    assert ccp()["earned"] == 5.5


def test_voiding_reverses_the_credit_and_is_idempotent(ana: dict[str, Any]) -> None:
    sequence = cmi5_sequence()
    post(sequence)
    completed = sequence[2]
    void = statement("voided", obj={"objectType": "StatementRef", "id": completed["id"]})
    assert post(void).status == 200
    assert ccp()["earned"] == 3  # the passed and satisfied statements of the course still stand
    assert sorted(e["kind"] for e in ce_entries()) == ["ce", "ce", "ce", "ce_void"]
    stored = items(ana)
    assert post(void).status == 200
    assert items(ana) == stored
    for other in sequence[3:5]:  # passed, satisfied
        assert post(statement("voided", obj={"objectType": "StatementRef", "id": other["id"]})).status == 200
    assert ccp()["earned"] == 0
    # resending the voided statements does not bring the credit back
    post(sequence)
    assert ccp()["earned"] == 0


def test_voiding_a_statement_that_credited_nothing_changes_no_points(ana: dict[str, Any]) -> None:
    sequence = cmi5_sequence()
    post(sequence)
    launched = sequence[0]
    void = statement("voided", obj={"objectType": "StatementRef", "id": launched["id"]})
    assert post(void).status == 200
    assert ccp()["earned"] == 3


def kept_unchanged(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """Every item of ``before`` is still in ``after``, unchanged."""
    return all(item in after for item in before)


def test_same_id_with_different_content_is_a_409_and_the_other_statements_are_kept(
    ana: dict[str, Any],
) -> None:
    """The conflicting statement is not written; the good one of the same request is (a 409 must
    not make the sender lose it), and its resend is then a duplicate."""
    first = statement("completed")
    post(first)
    stored = items(ana)
    changed = {**first, "timestamp": "2024-03-11T10:00:00Z"}
    other = "https://courses.example.org/ccp/other"
    catalog(other, points=2)
    fresh = statement("completed", course=other)
    response = post([fresh, changed])
    assert response.status == 409
    assert response.body["statement_ids"] == [first["id"]]
    assert kept_unchanged(stored, items(ana))
    assert ccp()["earned"] == 5
    after = items(ana)
    assert post([fresh, changed]).status == 409
    assert items(ana) == after


def test_unmapped_activity_counts_once_added_to_the_catalog(ana: dict[str, Any]) -> None:
    course = "https://courses.example.org/ccp/new-course"
    assert post(cmi5_sequence(course=course)).status == 200
    assert ccp()["earned"] == 0
    listing = call_api("GET", "/admin/unmapped-activities").body["activities"]
    # one completion fact per crediting statement (completed, passed, satisfied)
    assert [(a["activity_id"], a["members"], a["completions"]) for a in listing] == [(course, ["m-1"], 1)]
    assert any("not in catalog" in e["summary"] for e in timeline())
    catalog(course, points=4)
    assert ccp()["earned"] == 4
    assert call_api("GET", "/admin/unmapped-activities").body["activities"] == []


def test_point_earned_the_day_before_cycle_start_is_rejected_with_the_reason(
    ce: dict[str, Any], business_date: Any
) -> None:
    business_date("2024-03-20")
    member("m-2", "2024-01-10")
    catalog()
    before = statement("completed", "m-2", timestamp="2024-01-09T18:00:00Z")  # noon in Chicago
    assert post(before).status == 200
    assert ccp("m-2")["earned"] == 0
    [event] = [e for e in timeline("m-2") if e["kind"] == "xapi"]
    assert event["data"]["outcome"] == "rejected"
    assert event["data"]["reason"] == "earned before cycle start"
    assert "earned before cycle start" in event["summary"]
    on_start = statement("passed", "m-2", timestamp="2024-01-10T18:00:00Z")
    post(on_start)
    assert ccp("m-2")["earned"] == 3


def test_credited_and_refused_completions_are_counted_by_source(
    ce: dict[str, Any], business_date: Any, emitted_metrics: Any
) -> None:
    business_date("2024-03-20")
    member("m-2", "2024-01-10")
    catalog()
    emitted_metrics()
    assert post(statement("completed", "m-2", timestamp="2024-01-09T18:00:00Z")).status == 200
    assert emitted_metrics() == {("CeRefused", (("source", "xapi"),)): 1}
    credited = statement("passed", "m-2", timestamp="2024-01-10T18:00:00Z")
    post(credited)
    post(credited)  # a resend credits nothing and counts nothing
    assert emitted_metrics() == {("CeCredited", (("source", "xapi"),)): 1}


def test_point_earned_on_the_last_day_of_the_cycle_counts(ce: dict[str, Any], business_date: Any) -> None:
    business_date("2024-03-20")  # inside the late-reporting window of the cycle that ended 2024-03-14
    member("m-3", "2021-03-15")
    catalog()
    post(statement("completed", "m-3", timestamp="2024-03-14T20:00:00Z"))
    status = ccp("m-3")
    assert (status["cycle_end"], status["earned"]) == ("2024-03-14", 3)


def test_employment_activity_after_the_cut_off_is_rejected(ce: dict[str, Any], business_date: Any) -> None:
    business_date("2021-02-01")
    member("m-4", "2020-06-01")
    job = "https://courses.example.org/ccp/employment-2021"
    catalog(job, points=5, category="employment")
    post(statement("completed", "m-4", timestamp="2021-01-01T18:00:00Z", course=job))
    assert ccp("m-4")["earned"] == 0
    [event] = [e for e in timeline("m-4") if e["kind"] == "xapi"]
    assert event["data"]["reason"] == "employment points only claimable through 2020-12-31"
    earlier = "https://courses.example.org/ccp/employment-2020"
    catalog(earlier, points=5, category="employment")
    post(statement("completed", "m-4", timestamp="2020-12-31T18:00:00Z", course=earlier))
    assert ccp("m-4")["earned"] == 5


@pytest.mark.parametrize(
    "auth",
    [
        "",
        basic(password="wrong"),
        basic(user="nobody", password="s3cret-current"),
        "Bearer abc",
        "Basic !!!notbase64",
    ],
    ids=["none", "wrong-password", "unknown-client", "not-basic", "garbage"],
)
def test_bad_credentials_are_401_and_write_nothing(ana: dict[str, Any], auth: str) -> None:
    stored = items(ana)
    response = post(cmi5_sequence(), auth=auth)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert items(ana) == stored


def test_previous_password_still_works_during_rotation(ana: dict[str, Any]) -> None:
    assert post(statement("completed"), auth=basic(password="s3cret-old")).status == 200
    assert ccp()["earned"] == 3


def test_a_rotated_password_is_picked_up_without_a_cold_start(ana: dict[str, Any]) -> None:
    import json

    assert post(statement("launched")).status == 200  # secret now cached
    ana["secrets"].put_secret_value(
        SecretId="staycert/lms-clients-test",
        SecretString=json.dumps(
            {"clients": {"lms-a": {"homePage": HOME, "passwords": {"current": "brand-new", "previous": "x"}}}}
        ),
    )
    assert post(statement("completed"), auth=basic(password="brand-new")).status == 200


@pytest.mark.parametrize("version", [None, "0.95", "2.0.0"])
def test_version_header_is_required(ana: dict[str, Any], version: str | None) -> None:
    response = post(statement("completed"), version=version)
    assert response.status == 400
    assert response.body["error"] == "unsupported_version"


def test_invalid_statements_are_400_naming_index_and_field_and_nothing_is_written(
    ana: dict[str, Any],
) -> None:
    stored = items(ana)
    good = statement("completed")
    two_ids = statement("completed")
    two_ids["actor"] = {"mbox": "mailto:a@example.org", "account": {"homePage": HOME, "name": "m-1"}}
    bad_time = statement("completed")
    bad_time["timestamp"] = "yesterday"
    bad_id = {**statement("completed"), "id": "not-a-uuid"}
    bad_iri = statement("completed")
    bad_iri["verb"] = {"id": "completed"}
    no_actor = statement("completed")
    no_actor["actor"] = {"name": "nobody"}
    bad_ref = statement("voided", obj={"objectType": "StatementRef", "id": "statement-7"})
    response = post([good, two_ids, bad_time, bad_id, bad_iri, no_actor, bad_ref])
    assert response.status == 400
    fields = [p["field"] for p in response.body["problems"]]
    assert fields == [
        "statements[1].actor",
        "statements[2].timestamp",
        "statements[3].id",
        "statements[4].verb.id",
        "statements[5].actor",
        "statements[6].object.id",
    ]
    assert "exactly one identifier" in response.body["problems"][0]["reason"]
    assert items(ana) == stored
    assert ccp()["earned"] == 0


def test_body_that_is_not_json_is_400(ana: dict[str, Any]) -> None:
    response = call_api(
        "POST",
        "/xapi/statements",
        raw_body=b"{nope",
        headers={"authorization": basic(), "x-experience-api-version": "1.0.3"},
    )
    assert response.status == 400


def test_unknown_member_is_kept_as_unmatched_and_listed(ana: dict[str, Any]) -> None:
    lost = statement("completed", "nobody-here")
    assert post(lost).status == 200
    listing = call_api("GET", "/admin/unmatched-statements").body["items"]
    assert [(i["statement_id"], i["reason"]) for i in listing] == [(lost["id"], "unknown member")]
    assert listing[0]["statement"]["id"] == lost["id"]
    stored = items(ana)
    assert post(lost).status == 200  # resend: no change
    assert items(ana) == stored
    changed = {**lost, "timestamp": "2024-03-12T10:00:00Z"}
    assert post(changed).status == 409


def test_account_of_another_lms_is_not_trusted(ana: dict[str, Any]) -> None:
    foreign = statement(
        "completed", actor={"account": {"homePage": "https://other-lms.example.org", "name": "m-1"}}
    )
    assert post(foreign).status == 200
    assert ccp()["earned"] == 0
    [item] = call_api("GET", "/admin/unmatched-statements").body["items"]
    assert "homePage" in item["reason"]


def test_mbox_actor_is_matched_by_email(ana: dict[str, Any]) -> None:
    by_mail = statement("completed", actor={"mbox": "mailto:M-1@Example.org"})
    assert post(by_mail).status == 200
    assert ccp()["earned"] == 3


def test_other_verbs_are_accepted_and_ignored(ana: dict[str, Any]) -> None:
    stored = items(ana)
    sent = [statement("launched"), statement("failed")]
    response = post(sent)
    assert (response.status, response.body) == (200, [s["id"] for s in sent])
    assert items(ana) == stored


def test_catalog_get_by_url_encoded_iri(ana: dict[str, Any]) -> None:
    from urllib.parse import quote

    found = call_api("GET", "/catalog/activities/" + quote(COURSE, safe=""))
    assert (found.status, found.body["points"], found.body["category"]) == (200, 3, "professional_education")
    missing = call_api("GET", "/catalog/activities/" + quote(AU, safe=""))
    assert missing.status == 404


def test_catalog_put_validates(ana: dict[str, Any]) -> None:
    response = call_api(
        "PUT",
        "/catalog/activities",
        {"activity_id": "not an iri", "title": "x", "category": "cooking", "points": -1, "provider_id": "a"},
    )
    assert response.status == 400
    assert {p["field"] for p in response.body["problems"]} == {"activity_id", "category", "points"}


def test_statement_ids_are_uuid_strings_in_response(ana: dict[str, Any]) -> None:
    one = statement("completed", statement_id=str(uuid.uuid4()).upper())
    response = post(one)
    assert response.status == 200
    assert response.body == [one["id"].lower()]


def test_voiding_an_unknown_statement_changes_nothing_and_is_not_listed(ana: dict[str, Any]) -> None:
    post(cmi5_sequence())
    void = statement("voided", obj={"objectType": "StatementRef", "id": str(uuid.uuid4())})
    assert post(void).status == 200
    assert ccp()["earned"] == 3
    assert call_api("GET", "/admin/unmatched-statements").body["items"] == []


def test_a_concurrent_credit_of_the_same_course_lands_and_counts_once(
    ana: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan reads a partition without the course; another delivery credited it before our write.
    Each statement is its own fact: both land, no re-plan is needed, and the course counts once."""
    from shared.store.members import MemberRepository

    post(statement("completed"))
    real_load = MemberRepository.load
    calls: list[str] = []

    def stale_once(self: MemberRepository, member_id: str) -> Any:
        record = real_load(self, member_id)
        calls.append(member_id)
        if len(calls) == 1 and record is not None:
            return record.model_copy(update={"facts": (), "events": ()})
        return record

    monkeypatch.setattr(MemberRepository, "load", stale_once)
    assert post(statement("passed")).status == 200
    monkeypatch.setattr(MemberRepository, "load", real_load)
    assert len(calls) == 1
    assert ccp()["earned"] == 3
    outcomes = sorted(e["data"]["outcome"] for e in timeline() if e["kind"] == "xapi")
    assert outcomes == ["credited", "credited"]


def test_a_stored_id_sent_again_for_another_member_is_a_409(ana: dict[str, Any]) -> None:
    member("m-2", "2022-01-10")
    first = statement("completed")
    assert post(first).status == 200
    stored = items(ana)
    other = statement("completed", "m-2", statement_id=first["id"])
    response = post(other)
    assert (response.status, response.body["statement_ids"]) == (409, [first["id"]])
    assert items(ana) == stored
    response = post([statement("completed", "m-2"), other])  # in an array: the good one is kept
    assert (response.status, response.body["statement_ids"]) == (409, [first["id"]])
    assert kept_unchanged(stored, items(ana))
    assert (ccp()["earned"], ccp("m-2")["earned"]) == (3, 3)


def test_an_unmatched_id_with_different_content_in_an_array_is_not_written(ana: dict[str, Any]) -> None:
    lost = statement("completed", "nobody-here")
    assert post(lost).status == 200
    stored = items(ana)
    changed = {**lost, "timestamp": "2024-03-12T10:00:00Z"}
    response = post([statement("completed"), changed])
    assert (response.status, response.body["statement_ids"]) == (409, [lost["id"]])
    assert kept_unchanged(stored, items(ana))
    [listed] = call_api("GET", "/admin/unmatched-statements").body["items"]
    assert listed["statement"]["timestamp"] == lost["timestamp"]
    assert ccp()["earned"] == 3


def test_an_unmatched_id_later_matching_a_member_with_other_content_is_a_409(ana: dict[str, Any]) -> None:
    lost = statement("completed", "m-3")
    assert post(lost).status == 200
    member("m-3", "2022-01-10")  # the roster upsert credits the statement that waited for m-3
    assert ccp("m-3")["earned"] == 3
    assert call_api("GET", "/admin/unmatched-statements").body["items"] == []
    stored = items(ana)
    changed = {**lost, "timestamp": "2024-03-12T10:00:00Z"}
    assert post(changed).status == 409
    assert post(lost).status == 200  # the same content: a duplicate
    assert items(ana) == stored
    assert ccp("m-3")["earned"] == 3


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_json_is_a_400(ana: dict[str, Any], depth: int) -> None:
    one = statement("completed")
    body = f'{{"id": "{one["id"]}", "result": {{"extensions": {{"x": ' + "[" * depth + "]" * depth + "}}}"
    stored = items(ana)
    response = call_api(
        "POST",
        "/xapi/statements",
        raw_body=body.encode(),
        headers={"authorization": basic(), "x-experience-api-version": "1.0.3"},
    )
    assert response.status == 400, response.body
    assert items(ana) == stored


LONG_IRI = "https://courses.example.org/" + "x" * 1100


def test_an_iri_too_long_for_a_key_is_a_400_naming_the_field(ana: dict[str, Any]) -> None:
    response = call_api(
        "PUT",
        "/catalog/activities",
        {
            "activity_id": LONG_IRI,
            "title": "x",
            "category": "professional_education",
            "points": 1,
            "provider_id": "a",
        },
    )
    assert response.status == 400, response.body
    assert [p["field"] for p in response.body["problems"]] == ["activity_id"]
    stored = items(ana)
    response = post(statement("completed", course=LONG_IRI))  # unmapped course: list key {iri}#{member}
    assert response.status == 400, response.body
    assert [p["field"] for p in response.body["problems"]] == [
        "statements[0].context.contextActivities.grouping[0].id"
    ]
    assert items(ana) == stored


def test_an_iri_just_under_the_limit_is_kept_as_unmapped(ana: dict[str, Any]) -> None:
    course = "https://courses.example.org/" + "x" * (900 - 28)
    assert post(statement("completed", course=course)).status == 200
    listing = call_api("GET", "/admin/unmapped-activities").body["activities"]
    assert [a["activity_id"] for a in listing] == [course]


@pytest.mark.parametrize("path", ["/admin/unmatched-statements", "/admin/quarantined-uploads"])
@pytest.mark.parametrize(
    "token",
    [
        {"pk": "x"},
        {"pk": {"N": "1"}, "sk": {"S": "a"}, "list_pk": {"S": "QUARANTINE"}, "list_sk": {"S": "b"}},
        {"pk": {"S": "a"}, "sk": {"S": "a"}, "list_pk": {"S": "CATALOG"}, "list_sk": {"S": "b"}},
        [1, 2],
        "text",
    ],
    ids=["shape", "type", "other-list", "list", "string"],
)
def test_a_malformed_next_token_is_a_400(ana: dict[str, Any], path: str, token: Any) -> None:
    import base64
    import json
    from urllib.parse import urlencode

    from local import template as tpl
    from local.events import http_api_event, route_for
    from tests.helpers import lambda_context

    encoded = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
    route, params = route_for("GET", path)
    function = tpl.functions()[route.function]
    handler = getattr(importlib.import_module(function.module), function.attribute)
    event = http_api_event(route, path, params, query=urlencode({"next_token": encoded}))
    response = handler(event, lambda_context(route.function))
    assert response["statusCode"] == 400, response
    assert json.loads(response["body"])["field"] == "next_token"
