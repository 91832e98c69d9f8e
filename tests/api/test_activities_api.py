"""Self-reported CE over the members API handler (in-process moto, routed via template.yaml)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.api.test_members_api import table_items
from tests.helpers import call_api

CONFERENCE = {
    "category": "professional_education",
    "title": "State society annual conference",
    "provider": "State society",
    "completed_on": "2021-06-01",
    "units": {"contact_hours": 8},
    "attestation": {"criteria": ["improves_job_performance"], "true_and_correct": True},
}


def put(activity_id: str, body: dict[str, Any], actor: str | None = "member:ana") -> Any:
    headers = {"X-Actor": actor} if actor else None
    return call_api("PUT", f"/members/ana/activities/{activity_id}", body, headers=headers)


def with_(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(CONFERENCE)
    body.update(changes)
    return body


def test_record_once_counts_for_both_certifications_and_a_retry_changes_nothing(
    aws: dict[str, Any], member: str
) -> None:
    first = put("conf-2021", CONFERENCE)
    assert first.status == 201, first.body
    assert first.body["version"] == 1
    assert first.body["activity"]["points"] == {"RMA": 8, "RPT": 8}
    assert all(c["counted"] for c in first.body["activity"]["credits"])
    items = table_items(aws)

    again = put("conf-2021", CONFERENCE, actor="staff:bo")
    assert (again.status, again.body["changed"], again.body["version"]) == (200, False, 1)
    assert table_items(aws) == items

    status = call_api("GET", "/members/ana/status").body["certifications"]
    assert [
        (c["credential"], c["ccp"]["earned"], c["ccp"]["by_source"]["self_reported"]) for c in status
    ] == [
        ("RMA", 8, 8),
        ("RPT", 8, 8),
    ]
    assert status[0]["ccp"]["projection"] == {
        "points_needed": 22,
        "earn_by": "2022-05-13",
        "record_by": "2022-08-11",
        "days_left": 316,
    }


def test_a_correction_is_a_new_version_with_who_and_what_on_the_timeline(member: str) -> None:
    put("conf-2021", CONFERENCE)
    corrected = put("conf-2021", with_(units={"contact_hours": 12}), actor="staff:bo")
    assert (corrected.status, corrected.body["version"], corrected.body["changed"]) == (200, 2, True)
    assert corrected.body["activity"]["points"] == {"RMA": 12, "RPT": 12}
    entries = [
        e for e in call_api("GET", "/members/ana/timeline").body["entries"] if e["kind"] == "self_report"
    ]
    assert [(e["data"]["version"], e["data"]["actor"], e["data"]["changed"]) for e in entries] == [
        (1, "member:ana", ["recorded"]),
        (2, "staff:bo", ["units"]),
    ]
    assert "changed units" in entries[1]["summary"]


def test_an_activity_before_the_second_certification_counts_only_for_the_first(member: str) -> None:
    answer = put(
        "course-2020",
        with_(completed_on="2020-09-01", category="formal_education", units={"semester_hours": 1}),
    )
    assert answer.status == 201
    credits = {c["credential"]: c for c in answer.body["activity"]["credits"]}
    assert (credits["RMA"]["points"], credits["RMA"]["counted"]) == (15, True)
    assert (credits["RPT"]["points"], credits["RPT"]["counted"]) == (0, False)
    assert credits["RPT"]["reason"] == "completed before this certification's current epoch"


def test_employment_spanning_the_cut_off_counts_up_to_it(member: str) -> None:
    body = with_(category="employment", completed_on="2021-06-30", units={"started_on": "2020-07-01"})
    answer = put("job", body)
    assert answer.status == 201, answer.body
    assert answer.body["activity"]["points"] == {"RMA": 3, "RPT": 0}  # Jul-Dec 2020: 6 months x 0.5


def test_withdrawal_inside_the_window_then_again_then_put_refused(aws: dict[str, Any], member: str) -> None:
    put("conf-2021", CONFERENCE)
    withdrawn = call_api("DELETE", "/members/ana/activities/conf-2021", headers={"X-Actor": "member:ana"})
    assert (withdrawn.status, withdrawn.body["changed"], withdrawn.body["activity"]) == (200, True, None)
    items = table_items(aws)
    again = call_api("DELETE", "/members/ana/activities/conf-2021")
    assert (again.status, again.body["changed"]) == (200, False)
    refused = put("conf-2021", CONFERENCE)
    assert (refused.status, refused.body["error"]) == (409, "activity_withdrawn")
    assert table_items(aws) == items
    assert call_api("GET", "/members/ana/status").body["certifications"][0]["ccp"]["earned"] == 0


def test_withdrawal_after_the_late_window_is_409(
    aws: dict[str, Any], member: str, business_date: Any
) -> None:
    business_date("2022-06-01")
    assert put("late", with_(completed_on="2022-05-01", units={"contact_hours": 30})).status == 201
    business_date("2022-08-11")  # RMA cycle 1 ended 2022-05-13; its late window's last day
    assert call_api("DELETE", "/members/ana/activities/late").status == 200


def test_withdrawal_after_the_window_ended_names_the_date(
    aws: dict[str, Any], member: str, business_date: Any
) -> None:
    business_date("2022-06-01")
    assert put("late", with_(completed_on="2022-05-01", units={"contact_hours": 30})).status == 201
    business_date("2022-08-12")
    items = table_items(aws)
    refused = call_api("DELETE", "/members/ana/activities/late")
    assert (refused.status, refused.body["error"], refused.body["closed_on"]) == (
        409,
        "cycle_closed",
        "2022-08-11",
    )
    corrected = put("late", with_(completed_on="2022-05-01", units={"contact_hours": 31}))
    assert (corrected.status, corrected.body["error"]) == (409, "cycle_closed")
    assert table_items(aws) == items


def test_recording_after_the_late_window_is_refused_with_the_reason(
    aws: dict[str, Any], member: str, business_date: Any
) -> None:
    business_date("2022-08-12")
    items = table_items(aws)
    refused = put("too-late", with_(completed_on="2020-12-01"))  # RMA cycle 1, before RPT's certification
    assert (refused.status, refused.body["error"]) == (422, "not_countable")
    assert refused.body["reasons"] == {"RMA": "earned before cycle start", "RPT": "earned before cycle start"}
    assert table_items(aws) == items


def test_lms_record_cannot_be_withdrawn_here(aws: dict[str, Any], member: str) -> None:
    from shared.rules.models import CeCompletion
    from shared.store.members import MemberRepository
    from tests.conftest import TABLE

    course = CeCompletion(
        key="https://lms.example.org/course/1",
        recorded_on="2021-06-02",
        activity_id="https://lms.example.org/course/1",
        completed_on="2021-06-02",
        points=5,
        category="professional_education",
        source="xapi:lms-a",
    )
    MemberRepository(TABLE).record_fact("ana", course)
    listed = call_api("GET", "/members/ana/activities").body["items"]
    [lms] = [i for i in listed if i["source"] == "lms"]
    refused = call_api("DELETE", f"/members/ana/activities/{lms['activity_id']}")
    assert (refused.status, refused.body["error"], refused.body["source"]) == (
        409,
        "not_self_reported",
        "lms",
    )


def test_duplicate_of_an_lms_credit_is_kept_with_the_reason(aws: dict[str, Any], member: str) -> None:
    from shared.rules.models import CeCompletion
    from shared.store.members import MemberRepository
    from tests.conftest import TABLE

    iri = "https://lms.example.org/course/1"
    MemberRepository(TABLE).record_fact(
        "ana",
        CeCompletion(
            key=iri,
            recorded_on="2021-06-02",
            activity_id=iri,
            completed_on="2021-06-01",
            points=8,
            category="professional_education",
            source="xapi:lms-a",
        ),
    )
    answer = put("same", with_(catalog_activity_id=iri))
    assert answer.status == 201
    assert {
        c["credential"]: (c["points"], c["reason"], c["duplicate_of"])
        for c in answer.body["activity"]["credits"]
    } == {
        "RMA": (0, "duplicate of another record of the same learning", f"lms:{iri}"),
        "RPT": (0, "duplicate of another record of the same learning", f"lms:{iri}"),
    }
    assert call_api("GET", "/members/ana/status").body["certifications"][0]["ccp"]["earned"] == 8


def test_list_filters_by_cycle_and_credential_and_pages(member: str, business_date: Any) -> None:
    put("old", with_(completed_on="2020-09-01"))
    put("new", with_(completed_on="2021-06-01"))
    business_date("2022-06-01")  # RMA in cycle 2, RPT still in cycle 1
    put("newer", with_(completed_on="2022-05-20"))
    current_rma = call_api("GET", "/members/ana/activities?credential=RMA").body["items"]
    assert [i["activity_id"] for i in current_rma] == ["newer"]
    previous = call_api("GET", "/members/ana/activities?credential=rma&cycle=previous").body["items"]
    assert [i["activity_id"] for i in previous] == ["new", "old"]
    first = call_api("GET", "/members/ana/activities?cycle=all&limit=2").body
    assert [i["activity_id"] for i in first["items"]] == ["newer", "new"]
    rest = call_api("GET", f"/members/ana/activities?cycle=all&limit=2&next_token={first['next_token']}").body
    assert ([i["activity_id"] for i in rest["items"]], rest["next_token"]) == (["old"], None)


def test_unknown_member_is_404(aws: dict[str, Any], business_date: Any) -> None:
    business_date("2021-07-01")
    assert call_api("PUT", "/members/ghost/activities/a", CONFERENCE).status == 404
    assert call_api("DELETE", "/members/ghost/activities/a").status == 404
    assert call_api("GET", "/members/ghost/activities").status == 404
    assert table_items(aws) == []


def test_enter_once_off_requires_a_credential_for_two_certifications(
    member: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config.settings import clear_settings_caches

    monkeypatch.setenv("CE_COUNT_FOR_EVERY_CERTIFICATION", "false")
    clear_settings_caches()
    refused = put("a", CONFERENCE)
    assert (refused.status, refused.body["field"]) == (400, "credential")
    answer = put("a", with_(credential="RPT"))
    assert answer.body["activity"]["points"] == {"RMA": 0, "RPT": 8}
    clear_settings_caches()


def test_requests_per_call(member: str) -> None:
    """Recording: one Query + one PutItem; an identical retry: the Query alone; the list: one Query
    (a status read's cost); a withdrawal: one Query + one PutItem."""
    from tests.recertification.test_request_costs import Calls

    calls = Calls()
    assert put("conf", CONFERENCE).status == 201
    assert calls.take() == {"Query": 1, "PutItem": 1}
    assert put("conf", CONFERENCE).status == 200
    assert calls.take() == {"Query": 1}
    assert put("conf", with_(units={"contact_hours": 9})).status == 200
    assert calls.take() == {"Query": 1, "PutItem": 1}
    assert call_api("GET", "/members/ana/activities").status == 200
    listed = calls.take()
    assert call_api("GET", "/members/ana/status").status == 200
    assert listed == calls.take() == {"Query": 1}
    assert call_api("DELETE", "/members/ana/activities/conf").status == 200
    assert calls.take() == {"Query": 1, "PutItem": 1}


def _pdf_text(raw: str, headers: dict[str, str]) -> str:
    import base64
    import io

    from pypdf import PdfReader

    assert headers["Content-Type"] == "application/pdf"
    data = raw.encode("latin-1") if raw.startswith("%PDF") else base64.b64decode(raw)
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_transcript_pdf_lists_activities_and_totals(member: str) -> None:
    put("conf", CONFERENCE)
    put(
        "course",
        with_(
            category="formal_education",
            title="Anatomy 101",
            completed_on="2020-09-01",
            units={"semester_hours": 1},
        ),
    )
    put(
        "talk",
        with_(
            category="instructional_presentation",
            title="Teaching \u2603 phlebotomy",
            units={"presentation_hours": 3},
        ),
    )
    response = call_api("GET", "/members/ana/transcript?cycle=all", headers={"accept": "application/pdf"})
    assert response.status == 200
    text = _pdf_text(response.raw, response.headers)
    assert "Produced on 2021-07-01" in text
    assert "State society annual conference" in text
    assert "Teaching ? phlebotomy" in text  # outside the core fonts' Latin-1: neutralised, not a 500
    assert "Total professional_education: 8" in text
    assert "Total formal_education: 15" in text
    assert "Total RMA cycle 1: 29 of 30 points" in text
    assert "Total RPT cycle 1: 14 of 24 points" in text  # the 2020 course is before RPT: not counted
    assert text.count("State society annual conference") == 2  # entered once, on both certifications
    assert text.count("Total formal_education") == 1  # the course belongs to no RPT cycle
