"""The daily run's badge reconciliation: Credly agrees with the standing even when the stream missed a
revoke (its record parked on the on-failure queue) or late facts undid the lapse that revoked it.
Real moto stream records, the real stream consumer, the fake-Credly HTTP server."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from shared.config.settings import get_policy
from shared.services.daily import DailyRun, DailySummary
from shared.store.payments import PaymentLedger
from tests.badges.test_badge_issue import _matches
from tests.helpers import call_api
from tests.recertification.fixtures import Env, recertify
from tests.recertification.test_request_costs import Calls
from tests.renewal.test_daily import FakeNotifier
from tests.rules.rules_helpers import reverse, withdraw


def daily(env: Env, day: str) -> DailySummary:
    return DailyRun(env.repository, get_policy(), FakeNotifier()).run(date.fromisoformat(day))


def kinds(records: list[dict[str, Any]]) -> list[str]:
    """The kinds of the member items among stream records (run markers have none)."""
    found = (r["dynamodb"].get("NewImage", {}).get("kind", {}).get("S") for r in records)
    return [k for k in found if k]


def filter_patterns() -> list[Any]:
    """The stream consumer's FilterCriteria in template.yaml (production hands it only these)."""
    from local import template as tpl

    mapping = tpl.load_template()["Resources"]["BadgeIssueFunction"]["Properties"]["Events"]
    [source] = [e for e in mapping.values() if e["Type"] == "DynamoDB"]
    return [json.loads(f["Pattern"]) for f in source["Properties"]["FilterCriteria"]["Filters"]]


def nudge(env: Env, on: str) -> None:
    """The due-date nudge the Stripe webhook writes with a reversal or a dispute outcome."""
    ledger = PaymentLedger(env.repository.table_name)
    env.repository.client.update_item(**ledger._nudge("ana", "RMA", date.fromisoformat(on))["Update"])


def revokes(env: Env) -> int:
    return [r.method for r in env.credly.requests].count("PUT")


def lapsed_with_a_live_badge(env: Env, business_date: Any) -> None:
    """ana recertified on 2026-05-21 (one live badge), never paid an annual fee again: lapsed by
    2030-07-01; that run's stream records (the lapse transition) never reach the consumer."""
    recertify(env, business_date, "ana")
    daily(env, "2026-05-22")
    env.tap.settle()
    business_date("2030-07-01")
    summary = daily(env, "2030-07-01")
    assert summary.transitions_to["lapsed"] == 1
    parked = env.tap.drain()  # on the on-failure queue: never delivered
    assert "transition" in kinds(parked)
    assert env.credly.issued("pending")  # the badge is still live


def test_a_revoke_lost_by_the_stream_is_made_by_the_next_run(env: Env, business_date: Any) -> None:
    lapsed_with_a_live_badge(env, business_date)
    business_date("2030-07-02")
    summary = daily(env, "2030-07-02")  # due again: the badges disagree with the standing
    assert summary.badges_reconciled == 1
    records = env.tap.drain()
    assert kinds(records) == ["badge_reconcile"]
    assert all(
        any(_matches(p, r) for p in filter_patterns()) for r in records if kinds([r])
    )  # production filter
    env.tap.deliver(records)
    [badge] = env.credly.issued()
    assert (badge["state"], badge["revoke_reason"]) == ("revoked", "certification lapsed")
    assert revokes(env) == 1


def test_reconciliation_is_idempotent_and_stops_once_credly_agrees(env: Env, business_date: Any) -> None:
    lapsed_with_a_live_badge(env, business_date)
    business_date("2030-07-02")
    daily(env, "2030-07-02")
    again = daily(env, "2030-07-02")  # a re-run of the same day: nothing new recorded
    assert again.badges_reconciled == 0
    records = env.tap.drain()
    assert kinds(records).count("badge_reconcile") == 1
    for _ in range(3):  # every record delivered three times: one revoke at Credly
        env.tap.deliver(records)
    assert revokes(env) == 1
    env.tap.drain()  # the consumer's own writes (the revoked badge)
    business_date("2030-07-03")
    summary = daily(env, "2030-07-03")
    assert summary.badges_reconciled == 0
    assert kinds(env.tap.drain()) == []  # agreed: no event
    record = env.repository.load("ana")
    assert record is not None
    assert record.certifications["RMA"].due_on != date(2030, 7, 4)  # and not due again tomorrow


def test_a_certification_without_badges_costs_no_request(env: Env, business_date: Any) -> None:
    """A due certification with no badge recorded: the run's requests are those it made before the
    step existed (it reads the record the run loaded anyway) - measured, exact."""
    business_date("2026-05-01")
    env.member("bob", "RMA", "2015-03-10")  # lapsed long ago, never recertified: no badge
    calls = Calls()
    summary = daily(env, "2026-05-01")
    assert (summary.evaluated, summary.badges_reconciled, summary.checkpoints) == (1, 0, 1)
    # 6 PutItem: the run's own 5 and the certification's checkpoint (shared/services/checkpoints.py)
    assert calls.take() == {"GetItem": 1, "PutItem": 6, "Query": 18, "DeleteItem": 1}
    assert "badge_reconcile" not in kinds(env.tap.drain())


def test_a_lapse_undone_while_the_stream_was_down_issues_the_badge_again(
    env: Env, business_date: Any
) -> None:
    """The recertification fee was disputed (the badge revoked: lapsed again), then the dispute was
    won - and that record never reached the consumer. The next run issues the badge again."""
    recertify(env, business_date, "ana")
    daily(env, "2026-05-22")
    business_date("2026-06-10")
    env.fact("ana", reverse("dp_ana", "pi_ana", "2026-06-10", reason="dispute"))
    nudge(env, "2026-06-10")
    env.tap.settle()
    assert [b["state"] for b in env.credly.issued()] == ["revoked"]
    business_date("2026-07-01")
    env.fact("ana", withdraw("dpw_ana", "dp_ana", "2026-07-01"))
    nudge(env, "2026-07-01")
    assert "reversal_withdrawn" in kinds(env.tap.drain())  # parked: never delivered
    assert env.status("ana")["status"] == "active"
    summary = daily(env, "2026-07-01")
    assert summary.badges_reconciled == 1
    env.tap.settle()
    assert sorted(b["state"] for b in env.credly.issued()) == ["pending", "revoked"]
    badges = call_api("GET", "/members/ana/status").body["badges"]
    assert sorted((b["issue"], b["state"]) for b in badges) == [(1, "revoked"), (2, "pending")]


# ---------------------------------------------------------------------- badges imported with an opening balance

IMPORTED_BADGE = "badge-carla-1"
CARLA = {
    "first_name": "Carla",
    "last_name": "Nguyen",
    "email": "carla@example.org",
    "certifications": [
        {
            "credential": "CMAS",
            "certified_on": "2004-02-10",
            "opening_balance": {
                "cutover_on": "2021-10-01",
                "paid_through": "2022-02-09",
                "cycle_start": "2019-02-10",
                "standing": "active",
                "badge_id": IMPORTED_BADGE,
            },
        }
    ],
}


def import_carla(env: Env, business_date: Any) -> None:
    """carla arrives from the old system active, with the live Credly badge it issued her; she never
    pays an annual fee in this system."""
    business_date("2021-10-01")
    env.credly.badges[IMPORTED_BADGE] = {
        "id": IMPORTED_BADGE,
        "state": "accepted",
        "badge_template": {"id": "tmpl-cmas"},
        "recipient_email": CARLA["email"],
    }
    assert call_api("PUT", "/members/carla", CARLA).status == 201
    env.tap.settle()


def credly_requests(env: Env) -> int:
    return len(env.credly.requests)


def test_an_imported_badge_in_force_is_kept_without_a_request_to_credly(env: Env, business_date: Any) -> None:
    import_carla(env, business_date)
    day = date(2021, 10, 1)
    for _ in range(2):  # the cutover day and the next day she is due: evaluated, badge agrees
        business_date(day.isoformat())
        summary = daily(env, day.isoformat())
        assert (summary.evaluated, summary.badges_reconciled) == (1, 0)
        env.tap.settle()
        record = env.repository.load("carla")
        assert record is not None
        assert env.status("carla")["status"] == "active"
        assert record.certifications["CMAS"].due_on is not None
        day = record.certifications["CMAS"].due_on
    assert credly_requests(env) == 0
    assert env.credly.badges[IMPORTED_BADGE]["state"] == "accepted"


def run_to_the_lapse(env: Env, business_date: Any) -> date:
    """Daily runs on each day carla is due, from the cutover to the run that records her lapse (fees
    unpaid since 2022); that run's stream records never reach the consumer. Returns its date."""
    day = date(2021, 10, 1)
    for _ in range(20):
        business_date(day.isoformat())
        summary = daily(env, day.isoformat())
        if summary.transitions_to.get("lapsed"):
            assert "transition" in kinds(env.tap.drain())  # parked: never delivered
            return day
        env.tap.settle()
        record = env.repository.load("carla")
        assert record is not None
        due = record.certifications["CMAS"].due_on
        assert due is not None
        assert due > day
        day = due
    raise AssertionError("no lapse recorded")


def test_an_imported_badge_is_revoked_once_when_the_certification_lapses_after_cutover(
    env: Env, business_date: Any
) -> None:
    """The lapse transition's stream record is lost (parked): the next run's reconciliation revokes
    the imported badge through the stream consumer, once; re-runs and redeliveries change nothing."""
    import_carla(env, business_date)
    lapsed = run_to_the_lapse(env, business_date)
    assert env.status("carla")["status"] == "lapsed"
    assert credly_requests(env) == 0  # the lapse's own revoke never ran
    next_day = (lapsed + timedelta(days=1)).isoformat()
    business_date(next_day)
    assert daily(env, next_day).badges_reconciled == 1
    records = env.tap.drain()
    assert kinds(records) == ["badge_reconcile"]
    for _ in range(2):  # delivered twice: one revoke
        env.tap.deliver(records)
    assert revokes(env) == 1
    assert env.credly.badges[IMPORTED_BADGE]["state"] == "revoked"
    env.tap.settle()
    assert daily(env, next_day).badges_reconciled == 0  # a re-run of the day
    later = (lapsed + timedelta(days=30)).isoformat()
    business_date(later)
    assert daily(env, later).badges_reconciled == 0  # Credly agrees now
    env.tap.settle()
    assert revokes(env) == 1
    badges = call_api("GET", "/members/carla/status").body["badges"]
    assert [(b["badge_id"], b["state"]) for b in badges] == [(IMPORTED_BADGE, "revoked")]
