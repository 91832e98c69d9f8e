"""The console function in-process (moto, routed through template.yaml): the staff group, the two-step
actions and the refusals in words. The browser tests drive the same pages in Chromium."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest

from local.events import http_api_event, route_for
from local.stack import reset_process_caches
from shared.store.members import MemberRepository
from tests.helpers import HttpResult, call_api, invoke
from tests.rules.rules_helpers import ce

# a browser's form POST from the console itself (the console checks the Origin against the Host)
FORM = {
    "content-type": "application/x-www-form-urlencoded",
    "host": "console.test",
    "origin": "https://console.test",
}
COURSE = "https://courses.example.org/ccp/console-test"


def _home(session: dict[str, Any] | None) -> dict[str, Any]:
    route, params = route_for("GET", "/console")
    event = http_api_event(route, "/console", params)
    if session is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["lambda"] = session
    response: dict[str, Any] = invoke(route.function, event)
    return response


@pytest.mark.parametrize(
    ("session", "status"),
    [
        (None, 403),
        ({"sub": "x"}, 403),
        ({"session": "staff", "sub": "x", "groups": "members"}, 403),
        ({"session": "staff", "sub": "x", "groups": "staffing"}, 403),
        ({"session": "none"}, 303),
        ({"session": "staff", "sub": "x", "groups": "admin staff"}, 200),
    ],
)
def test_only_a_staff_session_gets_in(
    aws: dict[str, Any], session: dict[str, Any] | None, status: int
) -> None:
    """What the console's authorizer said (tests/console/test_console_sign_in.py drives it)."""
    response = _home(session)
    assert response["statusCode"] == status
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert response["headers"]["Content-Security-Policy"].startswith("default-src 'none'")
    if status == 403:
        assert "sign in with a staff account" in response["body"]


def _post(action: str, fields: dict[str, str | list[str]]) -> HttpResult:
    body = urlencode(fields, doseq=True).encode()
    return call_api("POST", f"/console/actions/{action}", raw_body=body, headers=FORM)


def _catalog_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws["dynamodb"].scan(TableName=aws["table"])["Items"]
    return [i for i in items if i["pk"]["S"].startswith("ACTIVITY#")]


def test_an_action_is_confirmed_before_anything_changes(aws: dict[str, Any]) -> None:
    fields = {
        "activity_id": COURSE,
        "title": "Console <b>test</b>",
        "category": "professional_education",
        "points": "2.5",
        "provider_id": "acme",
    }
    asked = _post("catalog-mapping", fields)
    assert asked.status == 200
    assert "is added to the catalog as &#39;Console &lt;b&gt;test&lt;/b&gt;&#39;: 2.5 points" in asked.raw
    assert 'name="confirmed" value="yes"' in asked.raw
    assert _catalog_items(aws) == []
    done = _post("catalog-mapping", {**fields, "confirmed": "yes"})
    assert done.status == 200, done.raw
    assert f"{COURSE} added to the catalog" in done.raw
    assert len(_catalog_items(aws)) == 1


@pytest.mark.parametrize(
    ("action", "fields", "status", "words"),
    [
        ("audit-decision", {"audit_id": "2026-RMA-nobody", "decision": "maybe"}, 400, "decision"),
        ("audit-decision", {"decision": "failed"}, 400, "audit_id"),
        ("recertification-decision", {"application_id": "x.RMA.1", "decision": "approved"}, 404, "not found"),
        ("payment-resolution", {"payment_key": "pi_x", "action": "credit", "note": ""}, 400, "note"),
        ("catalog-mapping", {"activity_id": COURSE, "points": "1e309"}, 400, "points"),
    ],
)
def test_refusals_are_answered_in_words_and_change_nothing(
    aws: dict[str, Any], action: str, fields: dict[str, str], status: int, words: str
) -> None:
    before = aws["dynamodb"].scan(TableName=aws["table"])["Items"]
    answer = _post(action, {**fields, "confirmed": "yes"})
    assert answer.status == status, answer.raw
    assert 'role="alert"' in answer.raw
    assert words in answer.raw
    assert aws["dynamodb"].scan(TableName=aws["table"])["Items"] == before


def test_a_form_must_be_a_form(aws: dict[str, Any]) -> None:
    answer = call_api(
        "POST",
        "/console/actions/audit-decision",
        {"audit_id": "a", "decision": "failed"},
        headers={**FORM, "content-type": "application/json"},
    )
    assert answer.status == 400
    assert "application/x-www-form-urlencoded" in answer.raw


def test_links_forms_and_redirects_keep_the_stage_of_the_console_url(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed behind a named stage the browser's path starts with it: a root-relative ``/console``
    link would leave the API (404), so every link, form and redirect starts with CONSOLE_URL's path."""
    monkeypatch.setenv("CONSOLE_URL", "https://abc.execute-api.us-east-1.amazonaws.com/prod/console")
    reset_process_caches()
    try:
        found = call_api("GET", "/console/members?q=m-7")
        home = _home({"session": "staff", "sub": "x", "groups": "staff"})["body"]
    finally:
        monkeypatch.delenv("CONSOLE_URL")
        reset_process_caches()
    assert found.headers["Location"] == "/prod/console/members/m-7"
    targets = re.findall(r'(?:href|action)="(/[^"]*)"', home)
    assert targets, home
    assert all(target.startswith("/prod/console") for target in targets), targets


def test_search_answers_a_redirect_or_a_not_found_in_words(aws: dict[str, Any]) -> None:
    found = call_api("GET", "/console/members?q=m-7")
    assert (found.status, found.headers["Location"]) == (303, "/console/members/m-7")
    missing = call_api("GET", "/console/members?q=nobody@example.org")
    assert missing.status == 404
    assert "no member has the e-mail" in missing.raw
    odd = call_api("GET", "/console/members?q=" + "%3Cscript%3E")
    assert odd.status == 404
    assert "&lt;script&gt;" in odd.raw


def test_the_timeline_is_paged_newest_first_and_filtered_by_kind(
    aws: dict[str, Any], business_date: Any
) -> None:
    business_date("2024-06-01")
    member = {
        "first_name": "Tim",
        "last_name": "Lee",
        "email": "tim@example.org",
        "certifications": [{"credential": "RMA", "certified_on": "2023-01-10"}],
    }
    assert call_api("PUT", "/members/tim", member).status == 201
    repository = MemberRepository(aws["table"])
    for day in range(1, 31):  # 30 CE completions, one a day in April
        completed = date(2024, 4, day)
        repository.record_fact(
            "tim", ce(f"course-{day:02d}", completed, 1, activity_id=f"https://courses.example.org/c/{day}")
        )
    first = call_api("GET", "/console/members/tim?kind=ce")
    assert first.status == 200, first.raw
    assert "page 1 of 2" in first.raw
    assert first.raw.index("2024-04-30") < first.raw.index("2024-04-06")  # newest first
    assert "2024-04-05" not in first.raw
    assert '<a href="?page=2&amp;kind=ce">Older</a>' in first.raw
    second = call_api("GET", "/console/members/tim?kind=ce&page=2")
    assert "page 2 of 2" in second.raw
    assert "2024-04-01" in second.raw
    assert "2024-04-06" not in second.raw
    assert '<a href="?page=1&amp;kind=ce">Newer</a>' in second.raw
    assert "30 of 30 points earned" in first.raw  # the same completions, counted in the CCP progress
