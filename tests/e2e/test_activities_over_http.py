"""End to end over real HTTP on the local stack: a member with two certifications records a
conference, a college course and pre-2021 employment, corrects one, withdraws one, reads the list,
the status and the PDF transcript."""

from __future__ import annotations

import io
from typing import Any

import requests
from pypdf import PdfReader

from local.stack import LocalStack

MEMBER = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [
        {"credential": "RMA", "certified_on": "2019-05-14"},
        {"credential": "RPT", "certified_on": "2020-01-10"},
    ],
}
ATTESTED = {"criteria": ["improves_job_performance"], "true_and_correct": True}


def activity(category: str, title: str, completed_on: str, units: dict[str, Any]) -> dict[str, Any]:
    return {
        "category": category,
        "title": title,
        "provider": "State society",
        "completed_on": completed_on,
        "units": units,
        "attestation": ATTESTED,
    }


def test_record_correct_withdraw_list_status_transcript(stack: LocalStack) -> None:
    url = stack.url
    assert requests.post(f"{url}/_local/daily", json={"date": "2021-03-01"}, timeout=10).status_code == 200
    assert requests.put(f"{url}/members/ana", json=MEMBER, timeout=10).status_code == 201
    actor = {"X-Actor": "member:ana"}
    conference = activity("professional_education", "Spring conference", "2021-02-10", {"contact_hours": 8})
    course = activity("formal_education", "Anatomy II", "2020-12-15", {"semester_hours": 1})
    job = activity("employment", "Clinic MA", "2021-02-28", {"started_on": "2020-07-01"})
    for activity_id, body in (("conf", conference), ("course", course), ("job", job)):
        answer = requests.put(
            f"{url}/members/ana/activities/{activity_id}", json=body, headers=actor, timeout=10
        )
        assert answer.status_code == 201, answer.text
    retried = requests.put(f"{url}/members/ana/activities/conf", json=conference, timeout=10)
    assert (retried.status_code, retried.json()["changed"]) == (200, False)
    corrected = requests.put(
        f"{url}/members/ana/activities/conf",
        json={**conference, "units": {"contact_hours": 10}},
        headers={"X-Actor": "staff:bo"},
        timeout=10,
    )
    assert corrected.json()["activity"]["points"] == {"RMA": 10, "RPT": 10}
    withdrawn = requests.delete(f"{url}/members/ana/activities/job", headers=actor, timeout=10)
    assert withdrawn.status_code == 200

    listed = requests.get(f"{url}/members/ana/activities", params={"cycle": "all"}, timeout=10).json()[
        "items"
    ]
    assert [(i["activity_id"], i["points"]) for i in listed] == [
        ("conf", {"RMA": 10, "RPT": 10}),
        ("course", {"RMA": 15, "RPT": 15}),
    ]
    status = requests.get(f"{url}/members/ana/status", timeout=10).json()["certifications"]
    assert [
        (c["credential"], c["ccp"]["earned"], c["ccp"]["projection"]["points_needed"]) for c in status
    ] == [
        ("RMA", 25, 5),
        ("RPT", 25, 0),
    ]

    pdf = requests.get(f"{url}/members/ana/transcript", headers={"Accept": "application/pdf"}, timeout=10)
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Spring conference" in text
    assert "Anatomy II" in text
    assert "Clinic MA" not in text  # withdrawn
    assert "Total RMA cycle 1: 25 of 30 points" in text
