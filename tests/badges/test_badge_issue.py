"""The stream consumer: one badge per completion, retries, duplicates, poison records, revocation,
Credly webhooks, audit decisions. Real moto stream records, a real fake-Credly HTTP server."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any, Literal

import pytest

from shared.rules.models import AuditDrawn
from shared.services.badge_records import FEE_REVERSED
from shared.services.ce_evidence import record_evidence
from shared.store.records import EventRecord
from tests.helpers import call_api
from tests.recertification.fixtures import Env, recertify
from tests.rules.rules_helpers import pay, reverse, withdraw


def kind_of(record: dict[str, Any]) -> str | None:
    kind: str | None = record["dynamodb"].get("NewImage", {}).get("kind", {}).get("S")
    return kind


def badge_events(env: Env, member_id: str) -> list[dict[str, Any]]:
    return [e for e in env.timeline(member_id) if e["kind"] == "badge"]


def test_badge_issued_once_with_the_member_and_template(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    [badge] = env.credly.issued()
    assert badge["badge_template"]["id"] == "tpl-rma"
    assert badge["issuer_earner_id"] == "ana"
    assert badge["recipient_email"] == "ana@example.org"
    assert badge["issued_at"] == "2026-05-21 00:00:00 -0500"  # completion date, business zone
    assert badge["expires_at"] is False
    [event] = badge_events(env, "ana")
    assert event["data"]["badge_id"] == badge["id"]
    assert event["data"]["state"] == "pending"
    status = call_api("GET", "/members/ana/status").body
    assert status["badges"][0]["badge_id"] == badge["id"]


def test_redelivering_every_event_three_times_yields_one_badge(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    every_record = list(env.tap.seen)
    assert {kind_of(r) for r in every_record} >= {
        "payment",
        "recertified",
        "recert_application",
        "exam_result",
        "badge",
    }
    for _ in range(3):
        env.pay("ana", "ana.RMA.1", 12500, "2026-05-01", key="pi_ana")  # Stripe redelivers
        result = {
            "member_id": "ana",
            "credential": "RMA",
            "passed": True,
            "exam_date": "2026-05-20",
            "result_id": "x-ana",
        }
        assert env.exam_result(result).body["recorded"] == "duplicate"
        assert env.tap.deliver(copy.deepcopy(every_record))["batchItemFailures"] == []
        env.tap.settle()
    assert len(env.credly.issued()) == 1
    assert [r.method for r in env.credly.requests].count("POST") == 1  # Credly was asked once
    assert len(badge_events(env, "ana")) == 1
    assert env.status("ana")["certified_on"] == "2026-05-21"


def test_lost_write_after_credly_201_is_resolved_by_lookup_not_a_second_badge(
    env: Env, business_date: Any
) -> None:
    recertify(env, business_date, "ana", settle=False)
    # Credly issued it, but the function died before recording it (same template, same earner):
    env.credly.fail_next("garbled", only="POST")  # our first POST "succeeds" at Credly, answer unreadable
    env.tap.settle()
    [badge] = env.credly.issued()
    [event] = badge_events(env, "ana")
    assert event["data"]["badge_id"] == badge["id"]
    assert event["data"]["resolved_duplicate"] is True


def test_credly_429_and_500_are_retried_inside_the_record(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana", settle=False)
    env.credly.fail_next("429", only="POST")
    env.credly.fail_next("500", only="POST")
    env.tap.settle()
    assert len(env.credly.issued()) == 1


def test_credly_down_fails_the_record_then_a_retry_issues(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana", settle=False)
    records = [r for r in env.tap.drain() if kind_of(r) == "recertified"]
    env.credly.fail_next("500", times=4)
    failed = env.tap.deliver(records)["batchItemFailures"]
    assert failed == [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    assert env.credly.issued() == []
    assert env.tap.deliver(records)["batchItemFailures"] == []  # Lambda's retry
    assert len(env.credly.issued()) == 1


def test_one_poison_record_fails_alone(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana", settle=False)
    recertify(env, business_date, "ben", settle=False)
    records = [r for r in env.tap.drain() if kind_of(r) == "recertified"]
    assert len(records) == 2
    poison = copy.deepcopy(records[0])
    poison["dynamodb"]["SequenceNumber"] = "999999"
    poison["dynamodb"]["NewImage"]["body"]["M"]["completed_on"] = {"S": "not a date"}
    result = env.tap.deliver([records[0], poison, records[1]])
    assert result["batchItemFailures"] == [{"itemIdentifier": "999999"}]
    assert {b["issuer_earner_id"] for b in env.credly.issued()} == {"ana", "ben"}


def test_unrelated_records_are_skipped(env: Env, business_date: Any) -> None:
    business_date("2026-05-01")
    env.member("cy", "RMA", "2025-01-10")
    assert env.tap.deliver()["batchItemFailures"] == []
    assert env.credly.requests == []


def test_template_not_configured_is_recorded_not_retried(
    env: Env, business_date: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import reset_caches

    monkeypatch.setenv("BADGE_TEMPLATE_IDS", "{}")
    reset_caches()
    recertify(env, business_date, "ana")
    [event] = badge_events(env, "ana")
    assert event["data"]["state"] == "not_configured"
    assert env.credly.requests == []


# ---------------------------------------------------------------------- revoke on lapse


def lapse_transition(on: str, reason: str = "fee_unpaid_lapse") -> EventRecord:
    """What the daily run records when a certification lapses."""
    day = date.fromisoformat(on)
    return EventRecord(
        kind="transition",
        key=f"RMA#lapsed#{on}",
        occurred_on=day,
        recorded_on=day,
        credential="RMA",
        summary=f"RMA became lapsed ({reason})",
        data={"status": "lapsed", "reasons": [reason]},
    )


def test_lapse_revokes_the_badge(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    business_date("2030-07-01")  # never paid an annual fee after recertifying: lapsed (R7a)
    assert env.status("ana")["status"] == "lapsed"
    env.repository.record_event("ana", lapse_transition("2030-07-01"))
    env.tap.settle()
    [badge] = env.credly.issued()
    assert badge["state"] == "revoked"
    assert badge["revoke_reason"] == "RMA became lapsed (fee_unpaid_lapse)"
    [event] = badge_events(env, "ana")
    assert event["data"]["state"] == "revoked"
    assert event["data"]["revoked_on"] == "2030-07-01"
    env.repository.record_event("ana", lapse_transition("2030-07-02"))
    env.tap.settle()  # a second lapse record: nothing more to revoke
    assert [r.method for r in env.credly.requests].count("PUT") == 1


def test_stale_lapse_record_does_not_revoke_a_recertified_badge(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    env.repository.record_event("ana", lapse_transition("2019-06-01"))  # late delivery of the old lapse
    env.tap.settle()
    assert env.credly.issued()[0]["state"] == "pending"


# ---------------------------------------------------------------------- recertification fee reversed


def refund(
    env: Env, key: str, payment_key: str, on: str, reason: Literal["refund", "dispute"] = "refund"
) -> None:
    """What the renewal webhook records for a refund or dispute of a recorded payment."""
    env.fact("ana", reverse(key, payment_key, on, reason=reason))


def won(env: Env, key: str, reversal_key: str, on: str) -> None:
    """What the renewal webhook records for a dispute closed in our favour."""
    env.fact("ana", withdraw(key, reversal_key, on))


def annual_fee(env: Env, key: str, on: str) -> None:
    env.fact("ana", pay(key, on))  # RMA annual fee, $50


def application(application_id: str) -> dict[str, Any]:
    view: dict[str, Any] = call_api("GET", f"/recertifications/{application_id}").body
    return view


def test_fee_dispute_after_completion_revokes_and_a_dispute_won_issues_again(
    env: Env, business_date: Any
) -> None:
    recertify(env, business_date, "ana")
    business_date("2026-06-10")
    refund(env, "dp_ana", "pi_ana", "2026-06-10", reason="dispute")
    env.tap.settle()
    status = env.status("ana")
    assert (status["status"], status["certified_on"]) == ("lapsed", "2015-03-10")  # the old epoch again
    [badge] = env.credly.issued()
    assert (badge["state"], badge["revoke_reason"]) == ("revoked", FEE_REVERSED)
    view = application("ana.RMA.1")
    assert (view["application"]["status"], view["in_force"], view["fee_due_cents"]) == (
        "open",  # reopened while its fee is disputed
        False,
        12500,
    )

    business_date("2026-07-01")
    won(env, "dpw_ana", "dp_ana", "2026-07-01")
    env.tap.settle()
    status = env.status("ana")
    assert (status["status"], status["certified_on"]) == ("active", "2026-07-01")  # in force again from then
    assert sorted(b["state"] for b in env.credly.issued()) == [
        "pending",
        "revoked",
    ]  # Credly cannot un-revoke
    assert sorted(int(e["data"]["issue"]) for e in badge_events(env, "ana")) == [1, 2]
    assert application("ana.RMA.1")["in_force"] is True

    env.tap.deliver(copy.deepcopy(env.tap.seen))  # every stream record again: nothing changes
    assert len(env.credly.issued()) == 2
    assert len(env.credly.issued("pending")) == 1


def test_refunded_fee_paid_again_restores_and_annual_fee_refunds_touch_no_badge(
    env: Env, business_date: Any
) -> None:
    recertify(env, business_date, "ana")
    business_date("2027-05-03")
    annual_fee(env, "pi_annual", "2027-05-03")
    refund(env, "re_annual", "pi_annual", "2027-05-04")
    env.tap.settle()
    assert [r.method for r in env.credly.requests].count("PUT") == 0  # annual fee: no badge change
    business_date("2027-05-05")
    refund(env, "re_ana", "pi_ana", "2027-05-05")
    env.tap.settle()
    assert env.credly.issued("revoked")
    business_date("2027-05-06")
    env.pay("ana", "ana.RMA.1", 12500, "2027-05-06", key="pi_ana_again")
    env.tap.settle()
    assert env.status("ana")["certified_on"] == "2027-05-06"  # recertified when the fee was paid again
    [live] = env.credly.issued("pending")
    assert live["issued_at"].startswith("2027-05-06")


def draw_audit(env: Env, member_id: str, audit_id: str, on: str) -> None:
    """What the daily run's audit draw records."""
    day = date.fromisoformat(on)
    env.fact(
        member_id,
        AuditDrawn(
            key=audit_id,
            recorded_on=day,
            audit_id=audit_id,
            credential="RMA",
            cycle_start=date(2026, 5, 21),
            cycle_end=date(2029, 5, 20),
            drawn_on=day,
            deadline=date(day.year, 3, 16),
            seed="test",
        ),
    )
    env.tap.settle()  # the consumer indexes the audit by id


def test_failed_audit_lapses_with_reason_and_revokes(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    business_date("2027-01-15")
    draw_audit(env, "ana", "AUD-2027-ana-RMA", "2027-01-15")
    record_evidence(  # what CE ingest's upload handler records (data.s3_key, as in production)
        env.repository,
        "ana",
        "audit",
        "AUD-2027-ana-RMA",
        "evidence/ana/audit/certificate.pdf",
        today=date(2027, 2, 1),
        credential="RMA",
    )
    record = call_api("GET", "/audits/AUD-2027-ana-RMA").body
    assert record["member_id"] == "ana"
    assert record["decision"] is None
    assert [e["data"]["s3_key"] for e in record["evidence"]] == ["evidence/ana/audit/certificate.pdf"]

    business_date("2027-03-01")
    decided = call_api(
        "POST", "/audits/AUD-2027-ana-RMA/decision", {"decision": "failed", "reason": "certificates forged"}
    )
    assert decided.status == 200, decided.body
    assert decided.body["status"] == "lapsed"
    assert decided.body["decision"]["outcome"] == "failed"
    status = env.status("ana")
    assert (status["status"], status["reasons"], status["lapsed_on"]) == (
        "lapsed",
        ["audit_failed"],
        "2027-03-01",
    )
    summaries = [e["summary"] for e in env.timeline("ana")]
    assert "audit failed: certificates forged" in summaries
    assert "RMA became lapsed (audit_failed: certificates forged)" in summaries
    env.tap.settle()
    assert env.credly.issued()[0]["state"] == "revoked"
    assert env.credly.issued()[0]["revoke_reason"] == "certificates forged"

    same = call_api(
        "POST", "/audits/AUD-2027-ana-RMA/decision", {"decision": "failed", "reason": "certificates forged"}
    )
    assert same.status == 200
    other = call_api("POST", "/audits/AUD-2027-ana-RMA/decision", {"decision": "passed"})
    assert other.status == 409
    assert call_api("POST", "/audits/AUD-nope/decision", {"decision": "passed"}).status == 404


def test_audit_decision_without_the_index_item_finds_the_member_from_the_drawn_id(
    env: Env, business_date: Any
) -> None:
    recertify(env, business_date, "ana-b")  # member ids may contain hyphens
    business_date("2027-01-15")
    env.fact(
        "ana-b",
        AuditDrawn(
            key="2027-RMA-ana-b",
            recorded_on=date(2027, 1, 15),
            audit_id="2027-RMA-ana-b",  # shared.rules.audit.audit_id(2027, "ana-b", "RMA")
            credential="RMA",
            cycle_start=date(2026, 5, 21),
            cycle_end=date(2029, 5, 20),
            drawn_on=date(2027, 1, 15),
            deadline=date(2027, 3, 16),
            seed="test",
        ),
    )  # the stream is NOT delivered: no audit index item
    assert call_api("GET", "/audits/2027-RMA-ana-b").body["member_id"] == "ana-b"
    decided = call_api("POST", "/audits/2027-RMA-ana-b/decision", {"decision": "passed"})
    assert decided.status == 200, decided.body
    assert decided.body["decision"]["outcome"] == "passed"
    assert call_api("POST", "/audits/2027-RMA-nobody/decision", {"decision": "passed"}).status == 404
    assert call_api("POST", "/audits/2027-MLS-ana-b/decision", {"decision": "passed"}).status == 404


def test_passed_audit_keeps_the_certification(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    business_date("2027-01-15")
    draw_audit(env, "ana", "AUD-1", "2027-01-15")
    passed = call_api("POST", "/audits/AUD-1/decision", {"decision": "passed"})
    assert passed.body["status"] == "active"
    env.tap.settle()
    assert env.credly.issued()[0]["state"] == "pending"


# ---------------------------------------------------------------------- Credly webhook


def webhook(envelope: Any) -> Any:
    raw = json.dumps(envelope).encode() if not isinstance(envelope, bytes) else envelope
    return call_api("POST", "/webhooks/credly", raw_body=raw)


def test_webhook_state_change_is_confirmed_with_credly_and_stored(env: Env, business_date: Any) -> None:
    recertify(env, business_date, "ana")
    [badge] = env.credly.issued()
    event_id = env.credly.change_state(badge["id"], "accepted")
    envelope = {
        "id": event_id,
        "organization_id": "test-org",
        "event_type": "badge.state.changed",
        "occurred_at": "x",
    }
    answer = webhook(envelope)
    assert (answer.status, answer.body) == (200, {"outcome": "updated"})
    assert badge_events(env, "ana")[0]["data"]["state"] == "accepted"
    assert env.credly.requests[-1].path == f"/organizations/test-org/events/{event_id}"
    assert webhook(envelope).body == {"outcome": "unchanged"}


@pytest.mark.parametrize(
    "envelope",
    [
        {"id": "forged", "organization_id": "test-org", "event_type": "badge.state.changed"},
        {"id": "x", "organization_id": "another-org", "event_type": "badge.state.changed"},
        {"organization_id": "test-org"},
        b"not json",
        ["a", "list"],
        b"[" * 8000 + b"]" * 8000,  # nesting deeper than the parser's recursion limit
        b'{"id": "e1", "organization_id": "test-org", "x": ' + b"[" * 7000 + b"]" * 7000 + b"}",
        b'{"id": "' + b"x" * 20_000 + b'"}',  # over the body limit
    ],
    ids=["forged", "other-org", "no-id", "not-json", "list", "deep", "deep-in-envelope", "too-big"],
)
def test_webhook_unknown_or_unconfirmable_events_are_200_and_ignored(env: Env, envelope: Any) -> None:
    answer = webhook(envelope)
    assert answer.status == 200
    assert answer.body == {"outcome": "ignored"}


def test_webhook_when_credly_is_down_is_ignored(env: Env) -> None:
    env.credly.fail_next("500", times=10)
    answer = webhook({"id": "e1", "organization_id": "test-org", "event_type": "badge.state.changed"})
    assert answer.body == {"outcome": "ignored"}


def _matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering, the subset our patterns use: nested keys, lists of exact values."""
    if isinstance(pattern, list):
        return value in pattern
    return isinstance(value, dict) and all(_matches(p, value.get(k)) for k, p in pattern.items())


def test_template_filter_passes_every_record_kind_the_consumer_acts_on(env: Env, business_date: Any) -> None:
    """Production only hands the consumer what FilterCriteria lets through (the local stack and
    these tests hand it everything), so the patterns must cover each kind the consumer acts on."""
    from local import template as tpl

    mapping = tpl.load_template()["Resources"]["BadgeIssueFunction"]["Properties"]["Events"]
    [source] = [e for e in mapping.values() if e["Type"] == "DynamoDB"]
    patterns = [json.loads(f["Pattern"]) for f in source["Properties"]["FilterCriteria"]["Filters"]]
    recertify(env, business_date, "ana")
    refund(env, "dp_ana", "pi_ana", "2026-05-21", reason="dispute")
    won(env, "dpw_ana", "dp_ana", "2026-05-21")
    annual_fee(env, "pi_annual", "2026-05-21")
    env.repository.record_event("ana", lapse_transition("2026-05-21"))
    env.tap.settle()
    passed = {}
    for record in env.tap.seen:
        image = record["dynamodb"].get("NewImage", {})
        label = kind_of(record)
        if label == "payment":
            label += ":" + image["body"]["M"]["purpose"]["S"]
        passed[label] = any(_matches(p, record) for p in patterns)
    acted_on = [
        "recertified",
        "payment:recertification",
        "payment_reversal",
        "reversal_withdrawn",
        "transition",
    ]
    assert {k: passed.get(k) for k in acted_on} == dict.fromkeys(acted_on, True)
    assert passed["payment:annual_fee"] is False
    assert passed["recert_application"] is False


def test_badges_issued_and_revoked_and_credly_failures_are_counted(
    env: Env, business_date: Any, emitted_metrics: Any
) -> None:
    recertify(env, business_date, "ana", settle=False)
    records = [r for r in env.tap.drain() if kind_of(r) == "recertified"]
    emitted_metrics()
    env.credly.fail_next("500", times=4)
    env.tap.deliver(records)
    emitted = emitted_metrics()
    assert emitted[("CredlyFailures", ())] == 1
    assert ("BadgesIssued", ()) not in emitted
    env.tap.deliver(records)  # Lambda's retry
    assert emitted_metrics()[("BadgesIssued", ())] == 1
    env.tap.deliver(records)  # a redelivery finds the badge recorded: nothing issued, nothing counted
    assert ("BadgesIssued", ()) not in emitted_metrics()
    business_date("2030-07-01")
    env.repository.record_event("ana", lapse_transition("2030-07-01"))
    env.tap.settle()
    assert emitted_metrics()[("BadgesRevoked", ())] == 1
