"""Chapter: a member with two certifications records her own CE once - a conference, a college course
and employment that runs past the employment cut-off - and it lands on both certifications; she
corrects one, withdraws another, and downloads her transcript (written to a file).

Played in early 2021 (before the roster chapter), while the member's cycles still contain 2020.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.demo import Demo

MEMBER_ID = "hana"
ATTESTED = {
    "criteria": ["improves_job_performance", "advances_health_care_knowledge"],
    "true_and_correct": True,
}
ACTIVITIES: dict[str, dict[str, Any]] = {
    "spring-conference-2021": {
        "category": "professional_education",
        "title": "State society spring conference",
        "provider": "State society",
        "completed_on": "2021-02-10",
        "units": {"contact_hours": 8},
    },
    "anatomy-ii": {
        "category": "formal_education",
        "title": "Anatomy and physiology II",
        "provider": "Community college",
        "completed_on": "2020-12-15",
        "units": {"semester_hours": 1},
    },
    "clinic-ma": {
        "category": "employment",
        "title": "Medical assistant, family clinic",
        "provider": "Family clinic",
        "completed_on": "2021-02-28",
        "units": {"started_on": "2020-01-01"},
    },
    "brown-bag-talk": {
        "category": "instructional_presentation",
        "title": "Brown-bag talk on specimen labelling",
        "provider": "Family clinic",
        "completed_on": "2021-02-20",
        "units": {"presentation_hours": 1},
    },
}


def _points(answer: dict[str, Any]) -> str:
    activity = answer["activity"]
    parts = []
    for credit in activity["credits"]:
        why = "" if credit["counted"] else f" ({credit['reason']})"
        parts.append(f"{credit['credential']} {credit['points']}{why}")
    return ", ".join(parts)


def play(demo: Demo) -> None:
    demo.heading("Self-reported CE: entered once, counted for every certification")
    demo.daily("2021-03-01")
    demo.call(
        "PUT",
        f"/members/{MEMBER_ID}",
        json={
            "first_name": "Hana",
            "last_name": "Berg",
            "email": "hana@example.org",
            "certifications": [
                {"credential": "RMA", "certified_on": "2019-05-14"},
                {"credential": "RPT", "certified_on": "2020-01-10"},
            ],
        },
    )
    demo.say("Hana holds RMA (since 2019-05-14) and RPT (since 2020-01-10)")
    member = {"X-Actor": f"member:{MEMBER_ID}"}
    for activity_id, body in ACTIVITIES.items():
        answer = demo.call(
            "PUT",
            f"/members/{MEMBER_ID}/activities/{activity_id}",
            json={**body, "attestation": ATTESTED},
            headers=member,
        )
        demo.say(f"PUT .../activities/{activity_id} ({body['category']}) -> points {_points(answer)}")
    demo.say(
        "employment 2020-01-01..2021-02-28 counts whole months through 2020-12-31 (and inside each cycle)"
    )

    late_job = {
        **ACTIVITIES["clinic-ma"],
        "completed_on": "2021-02-28",
        "units": {"started_on": "2021-01-04"},
    }
    refused = demo.call(
        "PUT",
        f"/members/{MEMBER_ID}/activities/new-job",
        json={**late_job, "attestation": ATTESTED},
        expect=400,
    )
    demo.say(f"employment only after the cut-off -> 400 {refused['field']}: {refused['message']}")

    corrected = demo.call(
        "PUT",
        f"/members/{MEMBER_ID}/activities/spring-conference-2021",
        json={
            **ACTIVITIES["spring-conference-2021"],
            "units": {"contact_hours": 10},
            "attestation": ATTESTED,
        },
        headers={"X-Actor": "staff:registrar"},
    )
    demo.say(
        f"staff correct the conference to 10 hours -> version {corrected['version']}: {_points(corrected)}"
    )
    withdrawn = demo.call("DELETE", f"/members/{MEMBER_ID}/activities/brown-bag-talk", headers=member)
    demo.say(f"DELETE .../activities/brown-bag-talk -> withdrawn (version {withdrawn['version']})")

    for cert in demo.call("GET", f"/members/{MEMBER_ID}/status")["certifications"]:
        ccp = cert["ccp"]
        plan = ccp["projection"]
        sources = {k: v for k, v in ccp["by_source"].items() if v}
        demo.say(
            f"{cert['credential']}: {ccp['earned']}/{ccp['required']} points by source {sources}; "
            f"{plan['points_needed']} still needed, earn by {plan['earn_by']}, record by {plan['record_by']} "
            f"({plan['days_left']} days left)"
        )
    listed = demo.call("GET", f"/members/{MEMBER_ID}/activities?cycle=all")["items"]
    demo.say(f"GET .../activities: {', '.join(i['activity_id'] for i in listed)}")

    response = demo.session.get(
        f"{demo.base_url}/members/{MEMBER_ID}/transcript?cycle=all",
        headers={"Accept": "application/pdf"},
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"GET transcript -> {response.status_code}: {response.text}")
    target = Path(tempfile.gettempdir()) / "staycert-demo" / f"ce-transcript-{MEMBER_ID}.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(response.content)
    demo.say(f"transcript PDF ({len(response.content)} bytes) written to {target}")
    demo.timeline(MEMBER_ID)
