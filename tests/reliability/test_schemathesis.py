"""A schemathesis run against docs/openapi.json on the local stack - zero 5xx.

One local stack for the module (moto server + gateway, loopback only, business date fixed), seeded
with two members (one active, one lapsed with an open recertification application) and one catalog
activity. For every operation of the document schemathesis generates requests - valid and invalid
(positive and negative modes, plus the deterministic coverage cases in the slow run) - and sends them
over real HTTP; about a third of the generated path parameters are swapped for the seeded ids so the
requests reach existing resources, not only 404s.

Every response must pass ``not_a_server_error`` (no 5xx) and conform to the document: a documented
status code, the documented content type and the documented schema. Signed routes (Stripe, exam
vendor, xAPI Basic auth) mostly answer 400/401: the point there is zero 5xx.

- ``test_schemathesis`` (normal suite): fuzzing phase, ``FAST_EXAMPLES`` examples per operation.
- ``test_schemathesis_slow`` (``make test-slow``): also schemathesis' coverage phase (boundary values,
  missing/extra fields, wrong and malformed content types) and ``SLOW_EXAMPLES`` examples.
- The 5xx the slow run found once are pinned by ``test_found_5xx_stay_fixed`` in the fast suite.
- ``test_every_operation_was_exercised`` (last) prints and checks the figures for docs/reliability.md.

Reproducible: derandomized Hypothesis (the seed derives from each operation), no example database.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local import openapi
from local.stack import LocalStack
from shared.clock import BUSINESS_DATE_ENV

pytestmark = pytest.mark.e2e

BUSINESS_DATE = "2026-05-01"
FAST_EXAMPLES = 15
SLOW_EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "print_blob": False,
    "suppress_health_check": list(HealthCheck),
}

ACTIVE_MEMBER = "seed-ana"
LAPSED_MEMBER = "seed-ben"
ACTIVITY_ID = "https://lms.example.org/activities/seed-course"
MEMBERS: dict[str, dict[str, Any]] = {
    ACTIVE_MEMBER: {
        "first_name": "Ana",
        "last_name": "Diaz",
        "email": "ana@example.org",
        "certifications": [{"credential": "RMA", "certified_on": "2025-03-10"}],
    },
    LAPSED_MEMBER: {
        "first_name": "Ben",
        "last_name": "Okafor",
        "email": "ben@example.org",
        "certifications": [{"credential": "RMA", "certified_on": "2015-03-10"}],
    },
}

DOCUMENT: dict[str, Any] = json.loads(openapi.OPENAPI_PATH.read_text(encoding="utf-8"))
OPERATIONS = sorted(f"{method.upper()} {path}" for path, ops in DOCUMENT["paths"].items() for method in ops)
FAST_SCHEMA = schemathesis.openapi.from_path(
    openapi.OPENAPI_PATH, config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
)
SLOW_SCHEMA = schemathesis.openapi.from_path(openapi.OPENAPI_PATH)

# ids of what the fixture seeded, by path parameter name (filled once the stack is up)
SEEDED: dict[str, list[str]] = {}
# requests sent per variant ("fast" / "slow"): by operation, by phase, by status
SENT: dict[str, Counter[str]] = {"fast": Counter(), "slow": Counter()}
PHASES: dict[str, Counter[str]] = {"fast": Counter(), "slow": Counter()}
STATUSES: dict[str, Counter[int]] = {"fast": Counter(), "slow": Counter()}


def seeded_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Keep the generated path parameters, or swap in a seeded id (existing resources get hit too)."""
    generated = path_parameters or {}
    swaps = [{**generated, name: seeded} for name in generated for seeded in SEEDED.get(name, [])]
    if not swaps:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.just(path_parameters), st.sampled_from(swaps))


for _schema in (FAST_SCHEMA, SLOW_SCHEMA):
    _schema.hook("flatmap_path_parameters")(seeded_path_parameters)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BUSINESS_DATE_ENV, BUSINESS_DATE)  # generated dates meet a fixed "today"
        with LocalStack(
            env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", "CREDLY_BACKOFF_SECONDS": "0"}
        ) as running:
            assert running.url.startswith("http://127.0.0.1:")
            assert running.endpoint_url.startswith("http://127.0.0.1:")
            _seed(running)
            yield running
    SEEDED.clear()


def _seed(stack: LocalStack) -> None:
    url = stack.url
    for member_id, member in MEMBERS.items():
        assert requests.put(f"{url}/members/{member_id}", json=member, timeout=30).status_code == 201
    opened = requests.post(
        f"{url}/members/{LAPSED_MEMBER}/recertifications",
        json={"credential": "RMA", "method": "ccp"},
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    activity = {
        "activity_id": ACTIVITY_ID,
        "title": "Seed course",
        "category": "professional_education",
        "points": "2",
        "provider_id": "seed-provider",
    }
    put_activity = requests.put(f"{url}/catalog/activities", json=activity, timeout=30)
    assert put_activity.status_code == 201, put_activity.text
    SEEDED.update(
        {
            "member_id": [ACTIVE_MEMBER, LAPSED_MEMBER],
            "application_id": [opened.json()["application"]["application_id"]],
            "activity_id": [quote(ACTIVITY_ID, safe="")],
            "credential": ["RMA", "cma"],
        }
    )


@pytest.fixture(scope="module")
def session(stack: LocalStack) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False  # loopback only: never through a proxy from the environment
        yield http


def _run(case: schemathesis.Case, stack: LocalStack, http: requests.Session, variant: str) -> None:
    response = case.call(base_url=stack.url, session=http, timeout=30)
    SENT[variant][case.operation.label] += 1
    PHASES[variant][case.meta.phase.name.value if case.meta else "explicit"] += 1
    STATUSES[variant][response.status_code] += 1
    case.validate_response(response, checks=CHECKS)


@FAST_SCHEMA.parametrize()
@settings(max_examples=FAST_EXAMPLES, **BOUNDED)
def test_schemathesis(case: schemathesis.Case, stack: LocalStack, session: requests.Session) -> None:
    _run(case, stack, session, "fast")


@pytest.mark.slow
@SLOW_SCHEMA.parametrize()
@settings(max_examples=SLOW_EXAMPLES, **BOUNDED)
def test_schemathesis_slow(case: schemathesis.Case, stack: LocalStack, session: requests.Session) -> None:
    _run(case, stack, session, "slow")


def _documented(method: str, path: str, response: requests.Response) -> None:
    """The answer's status is documented for the operation and its body matches the documented schema."""
    assert str(response.status_code) in DOCUMENT["paths"][path][method.lower()]["responses"], response.text
    SLOW_SCHEMA[path][method.upper()].validate_response(response)


def test_found_5xx_stay_fixed(stack: LocalStack, session: requests.Session) -> None:
    """What the schemathesis runs found (each was a 500), and the documentation mismatches."""
    url = stack.url
    body_routes = [
        ("PUT", "/members/{member_id}", f"/members/{ACTIVE_MEMBER}"),
        ("PUT", "/catalog/activities", "/catalog/activities"),
        ("POST", "/eligibility/{credential}", "/eligibility/RMA"),
        ("POST", "/audits/{audit_id}/decision", "/audits/a-1/decision"),
        ("POST", "/members/{member_id}/recertifications", f"/members/{LAPSED_MEMBER}/recertifications"),
        ("POST", "/recertifications/{application_id}/decision", "/recertifications/x.RMA.1/decision"),
    ]
    refused_bodies = [
        # `multipart/form-data` without a boundary: Powertools' body parser raised a bare ValueError
        (
            b'{"a": 1}',
            "multipart/form-data",
            400,
            {"problems": [{"field": "body", "reason": "multipart/form-data without a boundary"}]},
        ),
        # JSON that is not UTF-8: the gateway crashed building the event; API Gateway base64-encodes it,
        # and then Powertools' decoded_body raised UnicodeDecodeError
        (
            b'\xff\xfe{"a": 1}',
            "application/json",
            400,
            {"problems": [{"field": "body", "reason": "body is not UTF-8 text"}]},
        ),
        # another content type: a documented 415 with a Problem body (was Powertools' own shape)
        (b"{}", "text/plain", 415, {"error": "unsupported_media_type"}),
    ]
    for method, path, concrete in body_routes:
        for data, content_type, status, expected in refused_bodies:
            answer = session.request(
                method, url + concrete, data=data, headers={"content-type": content_type}, timeout=30
            )
            assert answer.status_code == status, (path, content_type, answer.text)
            body = answer.json()
            assert {field: body.get(field) for field in expected} == expected, (path, content_type, body)
            _documented(method, path, answer)

    # A validation 400 (field paths, no "message") on routes that document domain 400s too
    missing_body = session.post(f"{url}/eligibility/RMA", timeout=30)
    assert missing_body.status_code == 400
    _documented("POST", "/eligibility/{credential}", missing_body)
    # 200 answers of routes whose `responses=` listed only errors were undocumented
    application_id = SEEDED["application_id"][0]
    application = session.get(f"{url}/recertifications/{application_id}", timeout=30)
    assert application.status_code == 200
    _documented("GET", "/recertifications/{application_id}", application)
    activity = session.get(f"{url}/catalog/activities/{quote(ACTIVITY_ID, safe='')}", timeout=30)
    assert activity.status_code == 200
    _documented("GET", "/catalog/activities/{activity_id}", activity)
    # a rule refusal (422) the route declares was dropped with Powertools' own 422 by the generator
    assert "422" in DOCUMENT["paths"]["/members/{member_id}/recertifications"]["post"]["responses"]
    # the gateway still hands a valid body through unchanged
    fine = session.put(f"{url}/members/{ACTIVE_MEMBER}", json=MEMBERS[ACTIVE_MEMBER], timeout=30)
    assert fine.status_code == 200, fine.text


def _has_inputs(operation: str) -> bool:
    method, path = operation.split(" ", 1)
    definition = DOCUMENT["paths"][path][method.lower()]
    return bool(definition.get("parameters") or definition.get("requestBody"))


@pytest.mark.parametrize("variant", ["fast", pytest.param("slow", marks=pytest.mark.slow)])
def test_every_operation_was_exercised(variant: str) -> None:
    """Runs after the schemathesis tests of this module: checks and prints the figures."""
    sent = SENT[variant]
    assert sent, "run the whole module: the schemathesis tests sent nothing"
    print(
        f"\nschemathesis ({variant}): {sum(sent.values())} requests over {len(sent)} of "
        f"{len(OPERATIONS)} operations; phases {dict(PHASES[variant])}; "
        f"statuses {dict(sorted(STATUSES[variant].items()))}"
    )
    assert len(OPERATIONS) >= 20
    assert sorted(sent) == OPERATIONS
    # operations with parameters or a body get several examples; the others have one request to send
    assert min(sent[op] for op in OPERATIONS if _has_inputs(op)) >= 5, sent
    assert sum(sent.values()) >= 10 * len(OPERATIONS)
    assert not [status for status in STATUSES[variant] if status >= 500]
    # generated requests reached existing resources, not only 404s and 400s
    assert STATUSES[variant][200] >= 20
