"""CE ingest fixtures: the files bucket and the LMS clients secret under in-process moto, members,
catalog entries and xAPI statement builders."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.ce_ingest import xapi as xapi_function
from shared.adapters import files
from shared.services.catalog import CACHE
from tests.helpers import call_api

BUCKET = "staycert-files-test"
SECRET = "staycert/lms-clients-test"
HOME = "https://lms.example.org"
PASSWORD = "s3cret-current"
COURSE = "https://courses.example.org/ccp/infection-control"
AU = "https://lms.example.org/au/infection-control-1"
ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {
    "launched": ADL + "launched",
    "initialized": ADL + "initialized",
    "completed": ADL + "completed",
    "passed": ADL + "passed",
    "failed": ADL + "failed",
    "terminated": ADL + "terminated",
    "satisfied": "https://w3id.org/xapi/adl/verbs/satisfied",
    "voided": ADL + "voided",
}


@pytest.fixture
def ce(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Bucket + secret + env on top of the ``aws`` table; caches forgotten before and after."""
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("LMS_CLIENTS_SECRET", SECRET)
    files.reset_default_client()
    CACHE.forget()
    xapi_function._authenticators.clear()  # per-process refresh throttle starts afresh
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(
        Name=SECRET,
        SecretString=json.dumps(
            {
                "clients": {
                    "lms-a": {"homePage": HOME, "passwords": {"current": PASSWORD, "previous": "s3cret-old"}},
                    "lms-b": {
                        "homePage": "https://other-lms.example.org",
                        "passwords": {"current": "b-pass"},
                    },
                }
            }
        ),
    )
    yield {**aws, "s3": s3, "secrets": secrets, "bucket": BUCKET}
    files.reset_default_client()
    CACHE.forget()


@pytest.fixture
def ana(ce: dict[str, Any], business_date: Any) -> dict[str, Any]:
    """Member m-1 (RMA since 2022-01-10) and the default catalog course, on 2024-03-20."""
    business_date("2024-03-20")
    member("m-1", "2022-01-10")
    catalog()
    return ce


def member(member_id: str, certified_on: str, credential: str = "RMA", email: str | None = None) -> None:
    body = {
        "first_name": "Ana",
        "last_name": member_id,
        "email": email or f"{member_id}@example.org",
        "certifications": [{"credential": credential, "certified_on": certified_on}],
    }
    response = call_api("PUT", f"/members/{member_id}", body)
    assert response.status in (200, 201), response.body


def catalog(activity_id: str = COURSE, points: float = 3, category: str = "professional_education") -> None:
    body = {
        "activity_id": activity_id,
        "title": "Infection control",
        "category": category,
        "points": points,
        "provider_id": "acme",
    }
    response = call_api("PUT", "/catalog/activities", body)
    assert response.status in (200, 201), response.body


def statement(
    verb: str,
    member_id: str = "m-1",
    *,
    timestamp: str = "2024-03-10T15:00:00Z",
    obj: dict[str, Any] | None = None,
    course: str = COURSE,
    statement_id: str | None = None,
    actor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A cmi5-shaped statement: AU verbs on the AU with the course in grouping; satisfied on the course."""
    if obj is None:
        if verb == "satisfied":
            obj = {
                "objectType": "Activity",
                "id": course,
                "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course"},
            }
        else:
            obj = {"objectType": "Activity", "id": AU}
    return {
        "id": statement_id or str(uuid.uuid4()),
        "actor": actor or {"objectType": "Agent", "account": {"homePage": HOME, "name": member_id}},
        "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
        "object": obj,
        "timestamp": timestamp,
        "context": {
            "registration": "5ed2d7f2-7fd0-47c9-bf6c-b856de31ee45",
            "contextActivities": {
                "grouping": [{"objectType": "Activity", "id": course}],
                "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
            },
        },
    }


def cmi5_sequence(
    member_id: str = "m-1", day: str = "2024-03-10", course: str = COURSE
) -> list[dict[str, Any]]:
    return [
        statement(v, member_id, timestamp=f"{day}T15:0{i}:00Z", course=course)
        for i, v in enumerate(("launched", "initialized", "completed", "passed", "satisfied", "terminated"))
    ]


def basic(user: str = "lms-a", password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(body: Any, *, auth: str | None = None, version: str | None = "1.0.3") -> Any:
    headers = {"authorization": auth if auth is not None else basic()}
    if version is not None:
        headers["x-experience-api-version"] = version
    return call_api("POST", "/xapi/statements", body, headers=headers)


def ccp(member_id: str = "m-1") -> dict[str, Any]:
    status = call_api("GET", f"/members/{member_id}/status")
    assert status.status == 200, status.body
    result: dict[str, Any] = status.body["certifications"][0]["ccp"]
    return result


def timeline(member_id: str = "m-1") -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
    return entries


def items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["dynamodb"].scan(TableName=aws["table"])["Items"]
