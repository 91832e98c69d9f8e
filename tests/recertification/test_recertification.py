"""Recertification over the API (moto in-process, the real table stream, a real fake-Credly server)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from shared.rules.models import CeCompletion
from shared.rules.policy import Category
from tests.helpers import call_api
from tests.recertification.fixtures import EXAM_SECRET, Env
from tests.rules.rules_helpers import reverse

ELIGIBLE = {"work": [{"start": "2020-01-01", "end": None, "full_time": True}]}


def open_app(member_id: str, method: str = "exam", credential: str = "RMA", **extra: Any) -> Any:
    body: dict[str, Any] = {"credential": credential, "method": method, **extra}
    if method == "exam" and "eligibility" not in extra:
        body["eligibility"] = ELIGIBLE
    return call_api("POST", f"/members/{member_id}/recertifications", body)


def exam(
    member_id: str, result_id: str = "r-1", passed: bool = True, on: str = "2026-05-20"
) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "credential": "RMA",
        "passed": passed,
        "exam_date": on,
        "result_id": result_id,
    }


@pytest.fixture
def lapsed(env: Env, business_date: Any) -> Env:
    """ana: RMA certified 2015, never paid -> lapsed 2019 (fee rule), < 10 years ago on 2026-05-01."""
    business_date("2026-05-01")
    env.member("ana", "RMA", "2015-03-10")
    assert env.status("ana")["status"] == "lapsed"
    return env


# ---------------------------------------------------------------------- opening


def test_open_exam_application_returns_id_fee_and_what_is_required(lapsed: Env) -> None:
    opened = open_app("ana")
    assert opened.status == 201, opened.body
    assert opened.body["application"]["application_id"] == "ana.RMA.1"
    assert opened.body["fee_due_cents"] == 12500
    assert {r["item"] for r in opened.body["still_required"]} == {"fee", "exam_passed"}
    assert opened.body["application"]["eligibility_routes"] == ["work"]

    again = open_app("ana")
    assert again.status == 409
    assert again.body["error"] == "application_open"
    assert again.body["application_id"] == "ana.RMA.1"
    assert call_api("GET", "/recertifications/ana.RMA.1").body["application"]["status"] == "open"


def test_refused_when_not_lapsed(env: Env, business_date: Any) -> None:
    business_date("2026-05-01")
    env.member("bo", "RMA", "2026-01-10")
    refused = open_app("bo")
    assert refused.status == 409
    assert refused.body["error"] == "not_lapsed"


def test_ccp_path_refused_at_ten_years_lapsed_exam_still_allowed(env: Env, business_date: Any) -> None:
    business_date("2026-05-01")
    env.member("old", "RMA", "2008-02-01")  # fee lapse in 2012: 14 years ago
    status = env.status("old")
    assert status["status"] == "lapsed"
    assert status["recertification"]["allowed_methods"] == ["exam"]
    refused = open_app("old", "ccp")
    assert refused.status == 422
    assert refused.body["error"] == "method_not_allowed"
    assert refused.body["allowed_methods"] == ["exam"]
    assert open_app("old", "exam").status == 201


def test_ccp_allowed_just_under_ten_years(env: Env, business_date: Any) -> None:
    business_date("2026-05-01")
    env.member("mid", "RMA", "2015-03-10")
    lapsed_on = date.fromisoformat(env.status("mid")["lapsed_on"])
    tenth_anniversary = lapsed_on.replace(year=lapsed_on.year + 10)
    business_date((tenth_anniversary - timedelta(days=1)).isoformat())
    assert env.status("mid")["recertification"]["allowed_methods"] == ["ccp", "exam"]
    assert open_app("mid", "ccp").status == 201
    business_date(tenth_anniversary.isoformat())
    assert env.status("mid")["recertification"]["allowed_methods"] == ["exam"]


def test_exam_path_needs_current_eligibility(lapsed: Env) -> None:
    missing = open_app("ana", "exam", eligibility=None)
    assert missing.status == 422
    old_grad = {"program": {"accredited": True, "graduated_on": "2012-06-01"}}
    refused = open_app("ana", "exam", eligibility=old_grad)
    assert refused.status == 422
    assert refused.body["error"] == "not_eligible"
    program = next(r for r in refused.body["routes"] if r["route"] == "program")
    assert program["met"] is False
    assert "within the last 4 years" in program["missing"][0]


def test_unknown_member_credential_and_application(lapsed: Env) -> None:
    assert open_app("nobody").status == 404
    assert open_app("ana", credential="MLS").status == 404
    assert (
        call_api("POST", "/members/ana/recertifications", {"credential": "XYZ", "method": "exam"}).status
        == 400
    )
    assert call_api("GET", "/recertifications/ana.RMA.9").status == 404
    bad = call_api("POST", "/members/ana/recertifications", {"credential": "RMA", "method": "mail"})
    assert bad.status == 400
    assert bad.body["problems"][0]["field"] == "method"


# ---------------------------------------------------------------------- completion, any order


def test_exam_completion_fee_first_then_result(lapsed: Env, business_date: Any) -> None:
    open_app("ana")
    business_date("2026-05-10")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-10")
    lapsed.tap.settle()  # the payment reaches the consumer: not complete yet (no exam)
    assert call_api("GET", "/recertifications/ana.RMA.1").body["application"]["status"] == "open"

    business_date("2026-05-21")
    result = lapsed.exam_result(exam("ana"))
    assert result.status == 200, result.body
    assert result.body == {
        "result_id": "r-1",
        "recorded": "created",
        "application_id": "ana.RMA.1",
        "completed": True,
    }

    status = lapsed.status("ana")
    assert status["status"] == "active"
    assert status["certified_on"] == "2026-05-21"  # new certification date: the completion date
    assert status["ccp"]["cycle_start"] == "2026-05-21"
    assert status["fees"]["next_due"].startswith("2027-05")  # new fee anniversaries
    view = call_api("GET", "/recertifications/ana.RMA.1").body
    assert view["application"]["status"] == "completed"
    assert view["complete"] is True
    lapsed.tap.settle()
    assert len(lapsed.credly.issued()) == 1


def test_exam_completion_result_first_then_fee_through_the_stream(lapsed: Env, business_date: Any) -> None:
    open_app("ana")
    business_date("2026-05-21")
    assert lapsed.exam_result(exam("ana")).body["completed"] is False
    business_date("2026-05-25")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-25")
    lapsed.tap.settle()  # payment -> completion -> Recertified -> badge
    assert lapsed.status("ana")["certified_on"] == "2026-05-25"
    assert len(lapsed.credly.issued()) == 1


def test_partial_or_refunded_fee_does_not_complete(lapsed: Env, business_date: Any) -> None:

    open_app("ana")
    business_date("2026-05-21")
    lapsed.exam_result(exam("ana"))
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-21", key="pi_refunded")
    lapsed.fact(
        "ana",
        reverse("re_1", "pi_refunded", date(2026, 5, 21)),
    )
    lapsed.pay("ana", "ana.RMA.1", 5000, "2026-05-21", key="pi_partial")
    lapsed.tap.settle()
    view = call_api("GET", "/recertifications/ana.RMA.1").body
    assert view["application"]["status"] == "open"
    assert view["fee_due_cents"] == 12500
    assert lapsed.status("ana")["status"] == "lapsed"


def test_failed_exam_does_not_complete(lapsed: Env, business_date: Any) -> None:
    open_app("ana")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-01")
    business_date("2026-05-21")
    assert lapsed.exam_result(exam("ana", passed=False)).body["completed"] is False
    assert lapsed.exam_result(exam("ana", "r-2", on="2026-06-01")).body["completed"] is True


def ce(key: str, points: int, on: str) -> CeCompletion:
    return CeCompletion(
        key=key,
        recorded_on=date.fromisoformat(on),
        activity_id=key,
        completed_on=date.fromisoformat(on),
        points=Decimal(points),
        category=Category.PROFESSIONAL_EDUCATION,
    )


def test_ccp_path_points_in_window_staff_approval_and_fee_in_either_order(
    lapsed: Env, business_date: Any
) -> None:
    opened = open_app("ana", "ccp")
    assert {r["item"] for r in opened.body["still_required"]} == {
        "fee",
        "ccp_points",
        "evidence",
        "staff_decision",
    }
    lapsed.fact("ana", ce("old-course", 30, "2022-01-10"))  # more than 3 years before the application
    early = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"})
    assert early.status == 422
    assert early.body["error"] == "requirement_missing"

    lapsed.fact("ana", ce("c1", 20, "2024-03-01"))
    lapsed.fact("ana", ce("c2", 10, "2026-04-20"))
    business_date("2026-06-01")
    lapsed.evidence("ana", "ana.RMA.1", "2026-06-01")
    approved = call_api(
        "POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved", "reason": "ok"}
    )
    assert approved.status == 200, approved.body
    assert approved.body["application"]["status"] == "open"  # fee not paid yet
    assert [r["item"] for r in approved.body["still_required"]] == ["fee"]
    same = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved", "reason": "ok"})
    assert same.status == 200
    other = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "rejected"})
    assert other.status == 409

    business_date("2026-06-03")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-06-03")
    lapsed.tap.settle()
    status = lapsed.status("ana")
    assert (status["status"], status["certified_on"]) == ("active", "2026-06-03")
    assert len(lapsed.credly.issued()) == 1


def test_ccp_fee_first_then_approval_completes(lapsed: Env, business_date: Any) -> None:
    open_app("ana", "ccp")
    lapsed.fact("ana", ce("c1", 30, "2025-03-01"))
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-01")
    lapsed.evidence("ana", "ana.RMA.1", "2026-05-02")
    lapsed.tap.settle()
    business_date("2026-05-15")
    done = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"})
    assert done.body["application"]["status"] == "completed"
    assert done.body["complete"] is True


def test_ccp_approval_is_refused_without_evidence_uploads(lapsed: Env, business_date: Any) -> None:
    open_app("ana", "ccp")
    lapsed.fact("ana", ce("c1", 30, "2025-03-01"))  # points are enough
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-01")
    lapsed.tap.settle()
    business_date("2026-05-15")
    refused = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"})
    assert refused.status == 422, refused.body
    assert refused.body["error"] == "requirement_missing"
    assert refused.body["requirement"]["item"] == "evidence"
    assert "no evidence uploaded" in refused.body["message"], refused.body
    view = call_api("GET", "/recertifications/ana.RMA.1").body
    assert (view["application"]["status"], view["application"]["decision"]) == ("open", None)
    assert lapsed.status("ana")["status"] == "lapsed"

    lapsed.evidence("ana", "ana.RMA.1", "2026-05-15")
    lapsed.tap.settle()
    done = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"})
    assert done.status == 200, done.body
    assert done.body["application"]["status"] == "completed"


def test_ccp_counts_a_completion_mapped_in_the_catalog_after_it_was_recorded(
    lapsed: Env, business_date: Any
) -> None:
    from shared.rules.models import ActivitySpec
    from shared.store.catalog import CatalogRepository

    open_app("ana", "ccp")
    unmapped = ce("https://lms.example.org/course/new", 0, "2025-03-01")
    lapsed.fact("ana", unmapped.model_copy(update={"points": None, "category": None}))
    refused = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"})
    assert (refused.status, refused.body["requirement"]["item"]) == (422, "ccp_points")

    spec = ActivitySpec(
        activity_id=unmapped.activity_id,
        title="New course",
        category=Category.PROFESSIONAL_EDUCATION,
        points=Decimal(30),
        provider_id="acme",
    )
    CatalogRepository(lapsed.aws["table"]).put_activity(spec, date(2026, 5, 2))
    business_date("2026-05-15")
    assert lapsed.status("ana")["ccp"]["earned"] in (30, "30", 30.0)
    view = call_api("GET", "/recertifications/ana.RMA.1").body
    points = next(r for r in view["requirements"] if r["item"] == "ccp_points")
    assert points["done"] is True
    assert "earned 30" in points["detail"]

    lapsed.evidence("ana", "ana.RMA.1", "2026-05-15")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-15")
    lapsed.tap.settle()
    done = call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"})
    assert done.status == 200, done.body
    assert done.body["application"]["status"] == "completed"
    assert lapsed.status("ana")["status"] == "active"


def test_rejection_closes_and_a_new_application_may_follow(lapsed: Env) -> None:
    open_app("ana", "ccp")
    rejected = call_api(
        "POST", "/recertifications/ana.RMA.1/decision", {"decision": "rejected", "reason": "no proof"}
    )
    assert rejected.body["application"]["status"] == "rejected"
    assert any("rejected: no proof" in e["summary"] for e in lapsed.timeline("ana"))
    assert open_app("ana").body["application"]["application_id"] == "ana.RMA.2"


def test_exam_application_is_not_decided_by_staff(lapsed: Env) -> None:
    open_app("ana")
    assert call_api("POST", "/recertifications/ana.RMA.1/decision", {"decision": "approved"}).status == 422


# ---------------------------------------------------------------------- the exam vendor's callback


def test_exam_results_are_signed_and_idempotent_on_result_id(lapsed: Env) -> None:
    body = exam("ana")
    assert lapsed.exam_result(body, secret="wrong").status == 401
    unsigned = call_api("POST", "/exam-results", body)
    assert unsigned.status == 401
    assert lapsed.exam_result(body).body["recorded"] == "created"
    assert lapsed.exam_result(body).body["recorded"] == "duplicate"
    assert lapsed.exam_result({**body, "passed": False}).status == 409
    bad = lapsed.exam_result({**body, "exam_date": "soon"})
    assert bad.status == 400
    assert bad.body["problems"][0]["field"] == "exam_date"
    assert lapsed.exam_result({**body, "member_id": "ghost", "result_id": "r-9"}).status == 404


def test_exam_secret_rotation_accepts_current_and_previous(lapsed: Env) -> None:
    body = exam("ana")
    assert lapsed.exam_result(body).status == 200  # signed with the fixture's secret, now cached
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.put_secret_value(
        SecretId="staycert/exam-vendor",
        SecretString=json.dumps({"current": "rotated", "previous": EXAM_SECRET}),
    )
    rotated = lapsed.exam_result({**body, "result_id": "r-2"}, secret="rotated")
    assert rotated.status == 200, rotated.body  # unknown signature -> the secret is re-read once
    previous = lapsed.exam_result({**body, "result_id": "r-3"})
    assert previous.status == 200, previous.body  # the previous secret still verifies during rotation
    assert lapsed.exam_result({**body, "result_id": "r-4"}, secret="neither").status == 401


def test_timeline_tells_the_story(lapsed: Env, business_date: Any) -> None:
    open_app("ana")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-01")
    business_date("2026-05-21")
    lapsed.exam_result(exam("ana"))
    lapsed.tap.settle()
    summaries = [(e["kind"], e["summary"]) for e in lapsed.timeline("ana")]
    print(*summaries, sep="\n")
    kinds = [k for k, _ in summaries]
    for kind in ("recert_application", "payment", "exam_result", "recertified", "badge"):
        assert kind in kinds


def test_oversized_exam_result_is_refused_before_the_signature(lapsed: Env) -> None:
    assert lapsed.exam_result({**exam("ana"), "padding": "x" * 20_000}).status == 413
