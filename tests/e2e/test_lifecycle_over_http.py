"""End to end over real HTTP: roster upsert -> status -> daily -> status on the local stack."""

from __future__ import annotations

import pytest
import requests

from local.stack import LocalStack

pytestmark = pytest.mark.e2e

MEMBER = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2019-05-14"}],
}


def status_of(stack: LocalStack, member_id: str) -> dict[str, object]:
    response = requests.get(f"{stack.url}/members/{member_id}/status", timeout=10)
    assert response.status_code == 200
    certs = response.json()["certifications"]
    return {"status": certs[0]["status"], "reasons": certs[0]["reasons"], "as_of": response.json()["as_of"]}


def test_roster_status_daily_status(stack: LocalStack) -> None:
    assert (
        requests.post(f"{stack.url}/_local/daily", json={"date": "2020-05-01"}, timeout=10).status_code == 200
    )
    created = requests.put(f"{stack.url}/members/ana", json=MEMBER, timeout=10)
    assert created.status_code == 201

    assert status_of(stack, "ana") == {"status": "active", "reasons": [], "as_of": "2020-05-01"}

    daily = requests.post(f"{stack.url}/_local/daily", json={"date": "2020-06-01"}, timeout=10)
    assert daily.status_code == 200
    assert status_of(stack, "ana") == {
        "status": "delinquent",
        "reasons": ["fee_overdue"],
        "as_of": "2020-06-01",
    }

    requests.post(f"{stack.url}/_local/daily", json={"date": "2023-06-01"}, timeout=10)
    after = status_of(stack, "ana")
    assert after["status"] == "lapsed"
    # the daily runs recorded each change on the day it happened (status alone is derived on read)
    timeline = requests.get(f"{stack.url}/members/ana/timeline", timeout=10).json()["entries"]
    transitions = [(e["on"], e["data"]["status"]) for e in timeline if e["kind"] == "transition"]
    assert transitions[0] == ("2020-06-01", "delinquent")
    assert transitions[-1][1] == "lapsed"


def test_bad_input_over_http_is_400_and_unknown_route_404(stack: LocalStack) -> None:
    bad = requests.put(f"{stack.url}/members/ana", json={**MEMBER, "email": "x"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["problems"][0]["field"] == "email"
    assert requests.get(f"{stack.url}/members/ana/status", timeout=10).status_code == 404
    assert requests.get(f"{stack.url}/nope", timeout=10).status_code == 404
    bad_date = requests.post(f"{stack.url}/_local/daily", json={"date": "someday"}, timeout=10)
    assert bad_date.status_code == 400
    # the README's curl example sends JSON with a form content type
    as_form = requests.post(f"{stack.url}/_local/daily", data='{"date": "2020-06-01"}', timeout=10)
    assert as_form.status_code == 200
