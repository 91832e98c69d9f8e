"""Recertification completion is derived from facts: a refunded (or lost-dispute) fee reopens the
application, the member pays again on the same application id, and completion, status and badge
follow; a dispute won restores it. Through the HTTP handlers and the real stream consumer."""

from __future__ import annotations

from typing import Any

from tests.badges.test_badge_issue import application, refund, won
from tests.helpers import call_api
from tests.recertification.fixtures import MILITARY_ROUTE, Env, recertify


def summary(view: dict[str, Any]) -> tuple[Any, ...]:
    app = view["application"]
    return app["status"], app["completed_on"], view["complete"], view["in_force"], view["fee_due_cents"]


def test_a_refund_reopens_the_application_and_paying_again_completes_it(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    completed = application("ana.RMA.1")
    assert summary(completed) == ("completed", "2026-05-21", True, True, 0)
    passed = completed["application"]["exam_result_id"]
    assert passed is not None

    business_date("2026-06-10")
    refund(env, "re_ana", "pi_ana", "2026-06-10")
    env.tap.settle()
    view = application("ana.RMA.1")
    assert summary(view) == ("open", None, False, False, 12500)
    # shown as an application that was never completed (the same as had the refund come before
    # the pass): an open application names no completing result
    assert view["application"]["exam_result_id"] is None
    assert [r["item"] for r in view["still_required"]] == ["fee"]
    assert env.status("ana")["status"] == "lapsed"
    again = call_api(
        "POST",
        "/members/ana/recertifications",
        {"credential": "RMA", "method": "exam", "eligibility": MILITARY_ROUTE},
    )
    assert (again.status, again.body.get("application_id")) == (409, "ana.RMA.1")  # pay on this one

    business_date("2026-06-20")
    env.pay("ana", "ana.RMA.1", 12500, "2026-06-20", key="pi_ana_again")
    env.tap.settle()
    again_completed = application("ana.RMA.1")
    assert summary(again_completed) == ("completed", "2026-06-20", True, True, 0)
    assert again_completed["application"]["exam_result_id"] == passed
    status = env.status("ana")
    assert (status["status"], status["certified_on"]) == ("active", "2026-06-20")
    assert sorted(b["state"] for b in env.credly.issued()) == ["pending", "revoked"]


def test_a_lost_dispute_reopens_and_a_dispute_won_restores(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    business_date("2026-07-01")
    refund(env, "dp_ana", "pi_ana", "2026-07-01", reason="dispute")
    env.tap.settle()
    assert summary(application("ana.RMA.1"))[:2] == ("open", None)
    business_date("2026-07-15")
    won(env, "dpw_ana", "dp_ana", "2026-07-15")
    env.tap.settle()
    assert summary(application("ana.RMA.1")) == ("completed", "2026-07-15", True, True, 0)
    assert env.status("ana")["certified_on"] == "2026-07-15"
    assert len(env.credly.issued("pending")) == 1
