"""``staycert ops`` end to end on the local stack, through the console script's entry point: a badge
record that keeps failing at Credly lands in BadgeDlq (as Lambda's on-failure record), the outage
ends, one redrive issues exactly one badge and a second does nothing; replay-daily over a range
twice records and sends what once did; inspect prints status and timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.cli import main
from local.events import s3_object_created_event
from local.stack import LOCAL_SECRETS, LocalStack
from tests.recertification.test_e2e_local_stack import (
    lapsed_member_applies_by_exam,
    post_signed,
    stripe_payment,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", "CREDLY_BACKOFF_SECONDS": "0"}
    ) as running:
        yield running


def ops(stack: LocalStack, *args: str) -> int:
    return main(["ops", "--local", stack.url, *args])


def queue_depth(stack: LocalStack, logical_id: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.refs[f"{logical_id}.QueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def recertify_by_exam(stack: LocalStack, member_id: str) -> None:
    """A lapsed member applies, pays the fee (Stripe) and passes the exam (vendor callback)."""
    app_id = lapsed_member_applies_by_exam(stack.url, member_id)["application"]["application_id"]
    paid = post_signed(
        stack,
        "/webhooks/stripe",
        stripe_payment(member_id, app_id, 12500),
        LOCAL_SECRETS["StripeWebhookSecret"]["current"],
        "stripe-signature",
    )
    assert paid.status_code == 200, paid.text
    result = {
        "member_id": member_id,
        "credential": "RMA",
        "passed": True,
        "exam_date": "2026-05-01",
        "result_id": f"v-{member_id}",
    }
    exam = post_signed(
        stack, "/exam-results", result, LOCAL_SECRETS["ExamVendorSecret"]["current"], "exam-signature"
    )
    assert exam.status_code == 200, exam.text


def test_badge_record_failing_at_credly_lands_in_badge_dlq_and_one_redrive_issues_one_badge(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = stack.fake_credly
    assert fake is not None
    fake.fail_next("500", times=1000, only="POST")  # Credly refuses every issue request

    recertify_by_exam(stack, "ana")

    # the stream record went through its retries and ended in BadgeDlq, as Lambda's on-failure record
    assert fake.issued() == []
    assert len(stack.dead_letters) == 1
    assert queue_depth(stack, "BadgeDlq") == 1
    [message] = stack.client("sqs").receive_message(QueueUrl=stack.refs["BadgeDlq.QueueUrl"])["Messages"]
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert "Records" not in body  # the records stay in the stream
    stack.client("sqs").change_message_visibility(
        QueueUrl=stack.refs["BadgeDlq.QueueUrl"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    status = requests.get(f"{stack.url}/members/ana/status", timeout=30).json()
    assert status["certifications"][0]["status"] == "active"
    assert status["badges"] == []

    # while Credly still fails, a redrive changes nothing and keeps the message
    assert ops(stack, "redrive", "--queue", "badge") == 1
    assert "failed: 1 record(s) still failing" in capsys.readouterr().out
    assert queue_depth(stack, "BadgeDlq") == 1
    assert fake.issued() == []

    # the outage ends; a dry run says what it would do and does nothing
    assert fake.stop_failing() > 0
    assert ops(stack, "redrive", "--queue", "badge", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would redrive" in out
    assert "recertified of ana" in out
    assert queue_depth(stack, "BadgeDlq") == 1
    assert fake.issued() == []

    assert ops(stack, "redrive", "--queue", "badge") == 0
    out = capsys.readouterr().out
    assert "1 message(s) read from the badge queue, 1 redriven" in out
    assert len(fake.issued()) == 1
    assert queue_depth(stack, "BadgeDlq") == 0
    status = requests.get(f"{stack.url}/members/ana/status", timeout=30).json()
    assert [b["badge_id"] for b in status["badges"]] == [b["id"] for b in fake.issued()]

    # a second redrive finds nothing to do
    assert ops(stack, "redrive", "--queue", "badge") == 0
    assert "0 message(s) read from the badge queue, 0 redriven" in capsys.readouterr().out
    assert len(fake.issued()) == 1

    # and the on-call view shows it
    assert ops(stack, "inspect", "member", "ana") == 0
    out = capsys.readouterr().out
    assert "RMA: active (certified 2026-05-01" in out
    assert f"badge {fake.issued()[0]['id']} RMA" in out
    assert "ana@example.org" not in out  # ids, standings and summaries - no contact details


def _recorded(stack: LocalStack, member_id: str) -> list[dict[str, Any]]:
    timeline = requests.get(f"{stack.url}/members/{member_id}/timeline", timeout=30).json()
    return [e for e in timeline["entries"] if e["kind"] in ("notice", "transition")]


def _summaries(out: str) -> list[dict[str, Any]]:
    """The replay's per-day lines (the handlers' own JSON log lines share stdout locally)."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"')]
    return [line for line in lines if line.get("function") == "DailyFunction"]


def _emails_sent(stack: LocalStack) -> float:
    return float(stack.client("ses").get_send_quota()["SentLast24Hours"])


def test_replay_daily_twice_records_and_sends_what_once_did(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    url = stack.url
    assert requests.post(f"{url}/_local/daily", json={"date": "2020-04-20"}, timeout=30).status_code == 200
    for member_id, certified_on in (("bo", "2019-05-14"), ("cy", "2017-06-02")):
        member = {
            "first_name": "Bo",
            "last_name": "Lee",
            "email": f"{member_id}@example.org",
            "certifications": [{"credential": "RMA", "certified_on": certified_on}],
        }
        assert requests.put(f"{url}/members/{member_id}", json=member, timeout=30).status_code == 201

    assert ops(stack, "replay-daily", "--from", "2020-04-21", "--to", "2020-07-05") == 0
    out = capsys.readouterr().out
    assert "replay is idempotent" in out
    first = _summaries(out)
    assert [r["run_date"] for r in first][::75] == ["2020-04-21", "2020-07-05"]
    once = {m: _recorded(stack, m) for m in ("bo", "cy")}
    sent_once = _emails_sent(stack)
    assert sum(r["notices"] for r in first) > 0
    assert sum(r["transitions"] for r in first) > 0
    assert sum(len(entries) for entries in once.values()) == sum(
        r["notices"] + r["transitions"] for r in first
    )

    assert ops(stack, "replay-daily", "--from", "2020-04-21", "--to", "2020-07-05") == 0
    again = _summaries(capsys.readouterr().out)
    assert [r["run_date"] for r in again] == [r["run_date"] for r in first]
    assert sum(r["notices"] + r["transitions"] for r in again) == 0
    assert {m: _recorded(stack, m) for m in ("bo", "cy")} == once
    assert _emails_sent(stack) == sent_once


def test_a_failed_async_invocation_is_redriven_with_its_original_event(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "ce-batches/acme/2026-04.csv"
    body = b"member_id,activity_id,completed_on,points,category,certificate_id\n"
    event = s3_object_created_event(stack.refs["FilesBucket"], key, len(body))
    # the S3 event is handled while the object cannot be read: every attempt fails
    assert stack.invoke_async("CeUploadFunction", event) is None
    assert queue_depth(stack, "AsyncFailureQueue") == 1

    assert ops(stack, "redrive", "--queue", "async") == 1  # still failing: kept
    assert "failed: CeUploadFunction failed" in capsys.readouterr().out
    assert queue_depth(stack, "AsyncFailureQueue") == 1

    stack.client("s3").put_object(Bucket=stack.refs["FilesBucket"], Key=key, Body=body)
    assert ops(stack, "redrive", "--queue", "async") == 0
    assert "1 message(s) read from the async queue, 1 redriven" in capsys.readouterr().out
    assert queue_depth(stack, "AsyncFailureQueue") == 0
    results = stack.client("s3").get_object(
        Bucket=stack.refs["FilesBucket"], Key="ce-batches-results/acme/2026-04.json"
    )
    assert json.loads(results["Body"].read())["rows"] == 0
