"""A self-report of learning an LMS statement or a provider file already credited counts 0 - and
telling so costs no catalog read: the credit carries its catalog title and provider. Facts recorded
before they were kept still work, through one catalog read."""

from __future__ import annotations

from typing import Any

import pytest

from shared.services.catalog import CACHE
from tests.ce_ingest.conftest import COURSE, ccp, cmi5_sequence, post
from tests.ce_ingest.test_uploads import HEADER, upload
from tests.helpers import call_api
from tests.recertification.test_request_costs import Calls

SAME_LEARNING = {
    "category": "professional_education",
    "title": "  infection CONTROL ",  # compared case- and blank-insensitively
    "provider": "Acme",
    "completed_on": "2024-03-10",
    "units": {"contact_hours": 3},
    "attestation": {"criteria": ["improves_job_performance"], "true_and_correct": True},
}
DUPLICATE = "duplicate of another record of the same learning"


pytestmark = pytest.mark.usefixtures("ana")  # a member with a catalogued course (ce_ingest conftest)


def put(activity_id: str, body: dict[str, Any] = SAME_LEARNING) -> Any:
    return call_api("PUT", f"/members/m-1/activities/{activity_id}", body)


def credits_of(answer: Any) -> list[tuple[int, str | None, str | None]]:
    return [(c["points"], c["reason"], c["duplicate_of"]) for c in answer.body["activity"]["credits"]]


def test_a_same_day_lms_credit_is_told_from_the_member_read_alone(ce: dict[str, Any]) -> None:
    assert post(cmi5_sequence(day="2024-03-10")).status == 200
    CACHE.forget()  # no warm catalog cache hides a read
    calls = Calls()
    answer = put("conf")
    assert answer.status == 201, answer.body
    [(points, reason, other)] = credits_of(answer)
    assert (points, reason, other.partition(" statement ")[0]) == (0, DUPLICATE, f"lms:{COURSE}")
    assert calls.take() == {"Query": 1, "PutItem": 1}
    assert put("conf").status == 200
    assert calls.take() == {"Query": 1}
    lms = [i for i in call_api("GET", "/members/m-1/activities").body["items"] if i["source"] == "lms"]
    # one record per crediting statement of the course (completed, passed, satisfied)
    assert [(i["title"], i["provider"]) for i in lms] == [("Infection control", "acme")] * 3
    assert calls.take() == {"Query": 1}
    assert ccp()["earned"] == 3  # the LMS credit, once


def test_a_same_day_provider_file_credit_is_told_from_the_member_read_alone(ce: dict[str, Any]) -> None:
    row = f"m-1,{COURSE},2024-03-10,3,professional_education,C-1\n"
    upload(ce, "ce-batches/acme/2024-03.csv", (HEADER + row).encode())
    assert ccp()["earned"] == 3
    CACHE.forget()
    calls = Calls()
    answer = put("conf")
    assert credits_of(answer) == [(0, DUPLICATE, "provider_file:acme/C-1")]
    assert calls.take() == {"Query": 1, "PutItem": 1}


def test_a_credit_recorded_before_titles_were_kept_falls_back_to_one_catalog_read(ce: dict[str, Any]) -> None:
    from shared.rules.models import CeCompletion
    from shared.store.members import MemberRepository
    from tests.conftest import TABLE

    old = CeCompletion(
        key=COURSE,
        recorded_on="2024-03-11",
        activity_id=COURSE,
        completed_on="2024-03-10",
        points=3,
        category="professional_education",
        source="xapi:lms-a",
    )
    assert (old.title, old.provider) == (None, None)
    MemberRepository(TABLE).record_fact("m-1", old)
    CACHE.forget()
    calls = Calls()
    answer = put("conf")
    assert credits_of(answer) == [(0, DUPLICATE, f"lms:{COURSE}")]
    assert calls.take() == {"Query": 1, "BatchGetItem": 1, "PutItem": 1}


def test_another_title_on_the_same_day_is_not_a_duplicate(ce: dict[str, Any]) -> None:
    assert post(cmi5_sequence(day="2024-03-10")).status == 200
    answer = put("other", {**SAME_LEARNING, "title": "Hand hygiene"})
    assert credits_of(answer) == [(3, None, None)]
    assert ccp()["earned"] == 6
