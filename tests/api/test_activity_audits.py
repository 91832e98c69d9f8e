"""An audit of a cycle with self-reported activities: per-activity evidence, disallowing activities
(their points removed; a cycle short after that fails the audit, R7c)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.rules.models import AuditDrawn
from shared.services.ce_evidence import parse_evidence_key, record_evidence
from shared.store.members import MemberRepository
from tests.api.test_activities_api import put, with_
from tests.conftest import TABLE
from tests.helpers import call_api

AUDIT = "2023-RMA-ana"  # the draw's id format names the member


@pytest.fixture
def audited(member: str, business_date: Any) -> str:
    """RMA cycle 1 (2019-05-14..2022-05-13) holds 8 + 30 + 4 self-reported points; audited in 2023."""
    put("conf", with_())
    put("course", with_(category="formal_education", completed_on="2020-09-01", units={"semester_hours": 2}))
    put(
        "talk",
        with_(
            category="instructional_presentation", completed_on="2021-02-01", units={"presentation_hours": 2}
        ),
    )
    business_date("2023-01-15")
    repository = MemberRepository(TABLE)
    repository.record_fact(
        "ana",
        AuditDrawn(
            key=AUDIT,
            recorded_on=date(2023, 1, 15),
            audit_id=AUDIT,
            credential="RMA",
            cycle_start=date(2019, 5, 14),
            cycle_end=date(2022, 5, 13),
            drawn_on=date(2023, 1, 15),
            deadline=date(2023, 3, 16),
            seed="test",
        ),
    )
    key = "evidence/ana/audit/course/transcript.pdf"
    parsed = parse_evidence_key(key)
    assert not isinstance(parsed, str)
    record_evidence(
        repository,
        "ana",
        "audit",
        AUDIT,
        key,
        today=date(2023, 1, 20),
        credential="RMA",
        activity_id=parsed.activity_id,
    )
    return AUDIT


def test_the_audit_lists_the_cycles_activities_with_evidence_present(audited: str) -> None:
    record = call_api("GET", f"/audits/{audited}").body
    assert [(a["activity_id"], a["points"], a["evidence_present"]) for a in record["activities"]] == [
        ("course", 30, True),
        ("talk", 4, False),
        ("conf", 8, False),
    ]


def test_disallowing_an_activity_removes_its_points(audited: str) -> None:
    decided = call_api(
        "POST", f"/audits/{audited}/decision", {"decision": "passed", "disallowed_activities": ["talk"]}
    )
    assert decided.status == 200, decided.body
    assert decided.body["decision"]["outcome"] == "passed"
    [talk] = [a for a in decided.body["activities"] if a["activity_id"] == "talk"]
    assert (talk["points"], talk["counted"], talk["reason"]) == (0, False, "disallowed by the CCP audit")
    assert decided.body["status"] != "lapsed"


def test_a_cycle_short_after_disallowing_fails_the_audit_and_lapses(audited: str) -> None:
    decided = call_api(
        "POST", f"/audits/{audited}/decision", {"decision": "passed", "disallowed_activities": ["course"]}
    )
    assert decided.status == 200, decided.body
    assert decided.body["decision"]["outcome"] == "failed"
    assert "cycle short after disallowing course: 12 of 30 points" in decided.body["decision"]["reason"]
    [rma] = [
        c for c in call_api("GET", "/members/ana/status").body["certifications"] if c["credential"] == "RMA"
    ]
    assert (rma["status"], rma["reasons"], rma["lapsed_on"]) == ("lapsed", ["audit_failed"], "2023-01-15")


def test_disallowing_an_activity_outside_the_audited_cycle_is_400(aws: dict[str, Any], audited: str) -> None:
    items = aws["dynamodb"].scan(TableName=aws["table"])["Items"]
    refused = call_api(
        "POST",
        f"/audits/{audited}/decision",
        {"decision": "passed", "disallowed_activities": ["talk", "nope"]},
    )
    assert (refused.status, refused.body["field"]) == (400, "disallowed_activities[1]")
    assert aws["dynamodb"].scan(TableName=aws["table"])["Items"] == items


@pytest.mark.parametrize(
    ("key", "activity_id"),
    [
        ("evidence/ana/audit/course/transcript.pdf", "course"),
        ("evidence/ana/audit/transcript.pdf", None),
        ("evidence/ana/recertification/course/transcript.pdf", "refused"),
        ("evidence/ana/audit/bad!id/transcript.pdf", "refused"),
    ],
)
def test_audit_evidence_keys_may_name_the_activity(key: str, activity_id: str | None) -> None:
    parsed = parse_evidence_key(key)
    if activity_id == "refused":
        assert isinstance(parsed, str)
    else:
        assert not isinstance(parsed, str)
        assert parsed.activity_id == activity_id
