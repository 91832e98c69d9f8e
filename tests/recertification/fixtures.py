"""Fixtures for recertification and badge tests: moto + a real fake-Credly HTTP server + the stream."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.fake_credly import FakeCredly
from shared.adapters.signatures import sign
from shared.clock import wall_clock_seconds
from shared.rules.models import Fact, FeePayment
from shared.store.members import MemberRepository
from tests.conftest import reset_caches
from tests.helpers import HttpResult, call_api
from tests.recertification.streams import StreamTap

EXAM_SECRET = "exam_test_secret"
TEMPLATES = {"RMA": "tpl-rma", "MLS": "tpl-mls", "RPT": "tpl-rpt"}


@dataclass
class Env:
    aws: dict[str, Any]
    credly: FakeCredly
    tap: StreamTap
    repository: MemberRepository

    def member(self, member_id: str, credential: str, certified_on: str, email: str | None = None) -> None:
        body = {
            "first_name": member_id.capitalize(),
            "last_name": "Tester",
            "email": email or f"{member_id}@example.org",
            "certifications": [{"credential": credential, "certified_on": certified_on}],
        }
        assert call_api("PUT", f"/members/{member_id}", body).status in (200, 201)

    def fact(self, member_id: str, fact: Fact) -> None:
        self.repository.record_fact(member_id, fact)

    def pay(self, member_id: str, application_id: str, amount: int, on: str, key: str = "pi_1") -> FeePayment:
        """What the renewal Stripe webhook records for a recertification fee."""
        from datetime import date

        payment = FeePayment(
            key=key,
            recorded_on=date.fromisoformat(on),
            credential=application_id.split(".")[1],
            purpose="recertification",
            paid_on=date.fromisoformat(on),
            amount_cents=amount,
            application_id=application_id,
        )
        self.repository.record_fact(member_id, payment)
        return payment

    def evidence(self, member_id: str, application_id: str, on: str, name: str = "ce-log.pdf") -> None:
        """What CE ingest's upload handler records for a recertification evidence upload."""
        from datetime import date

        from shared.services.ce_evidence import record_evidence

        s3_key = f"evidence/{member_id}/recertification/{name}"
        record_evidence(
            self.repository,
            member_id,
            "recertification",
            application_id,
            s3_key,
            today=date.fromisoformat(on),
            credential=application_id.split(".")[1],
        )

    def exam_result(self, body: dict[str, Any], secret: str = EXAM_SECRET) -> HttpResult:
        raw = json.dumps(body).encode()
        header = sign(raw, secret, wall_clock_seconds())
        return call_api("POST", "/exam-results", raw_body=raw, headers={"exam-signature": header})

    def status(self, member_id: str) -> dict[str, Any]:
        result = call_api("GET", f"/members/{member_id}/status")
        assert result.status == 200, result.body
        certs: list[dict[str, Any]] = result.body["certifications"]
        return certs[0]

    def timeline(self, member_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
        return entries


MILITARY_ROUTE = {"military": {"completed_on": "2024-01-15", "program": "68W"}}


def recertify(env: Env, business_date: Callable[[str], Any], member_id: str, *, settle: bool = True) -> None:
    """A lapsed member (RMA 2015, never paid) recertifies by exam on 2026-05-21: application, fee
    (``pi_{member}``), passing result ``x-{member}``; ``settle`` hands the stream to the consumer."""
    business_date("2026-05-01")
    env.member(member_id, "RMA", "2015-03-10")
    body = {"credential": "RMA", "method": "exam", "eligibility": MILITARY_ROUTE}
    assert call_api("POST", f"/members/{member_id}/recertifications", body).status == 201
    env.pay(member_id, f"{member_id}.RMA.1", 12500, "2026-05-01", key=f"pi_{member_id}")
    business_date("2026-05-21")
    result = {
        "member_id": member_id,
        "credential": "RMA",
        "passed": True,
        "exam_date": "2026-05-20",
        "result_id": f"x-{member_id}",
    }
    assert env.exam_result(result).body["completed"] is True
    if settle:
        env.tap.settle()


@pytest.fixture
def credly() -> Iterator[FakeCredly]:
    fake = FakeCredly(organization_id="test-org", token="test-token", hang_seconds=1.0).start()
    yield fake
    fake.stop()


@pytest.fixture
def env(aws: dict[str, Any], credly: FakeCredly, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("CREDLY_BASE_URL", credly.url)
    monkeypatch.setenv("CREDLY_ORGANIZATION_ID", "test-org")
    monkeypatch.setenv("CREDLY_BACKOFF_SECONDS", "0")  # no waiting between retries in tests
    monkeypatch.setenv("CREDLY_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("BADGE_TEMPLATE_IDS", json.dumps(TEMPLATES))
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="staycert/credly", SecretString=json.dumps({"token": credly.token}))
    secrets.create_secret(
        Name="staycert/exam-vendor", SecretString=json.dumps({"current": EXAM_SECRET, "previous": ""})
    )
    reset_caches()
    return Env(aws, credly, StreamTap(aws["dynamodb"], aws["table"]), MemberRepository(aws["table"]))


DateSetter = Callable[[str], None]
