"""Chapter: CE points from an LMS (cmi5 statements over Basic auth) and a provider CSV, then the member
rolls into the next CCP cycle.

The LMS client is the local development default (``LOCAL_SECRETS["LmsClientsSecret"]`` in
local/stack.py): user ``demo-lms``, password ``demo-lms-local-password``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from local.demo.payments import paid_checkout, post_stripe, stripe_event
from local.stack import LOCAL_SECRETS

if TYPE_CHECKING:
    from local.demo import Demo

_CLIENT = LOCAL_SECRETS["LmsClientsSecret"]["clients"]["demo-lms"]
LMS_AUTH = ("demo-lms", str(_CLIENT["passwords"]["current"]))
HOME = str(_CLIENT["homePage"])
COURSES = {
    "https://courses.example.org/ccp/infection-control": ("Infection control", 12, "professional_education"),
    "https://courses.example.org/ccp/hipaa": ("HIPAA refresher", 10, "professional_education"),
    "https://courses.example.org/ccp/phlebotomy-safety": ("Phlebotomy safety", 8, "formal_education"),
}
ADL = "http://adlnet.gov/expapi/verbs/"


def _statement(verb: str, member_id: str, course: str, when: str) -> dict[str, Any]:
    on_course = verb == "satisfied"
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": HOME, "name": member_id}},
        "verb": {"id": ("https://w3id.org/xapi/adl/verbs/" if on_course else ADL) + verb},
        "object": (
            {"id": course, "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course"}}
            if on_course
            else {"id": f"https://lms.example.org/au/{course.rsplit('/', 1)[-1]}"}
        ),
        "timestamp": when,
        "context": {"contextActivities": {"grouping": [{"id": course}]}},
    }


def _post_statements(demo: Demo, statements: list[dict[str, Any]], **kwargs: Any) -> Any:
    return demo.call(
        "POST",
        "/xapi/statements",
        json=statements,
        auth=kwargs.pop("auth", LMS_AUTH),
        headers={"X-Experience-API-Version": "1.0.3"},
        **kwargs,
    )


def _pay(demo: Demo, member_id: str, day: str) -> str:
    created = int(datetime.fromisoformat(f"{day}T17:00:00").replace(tzinfo=UTC).timestamp())
    session = paid_checkout(f"cs_ce_{member_id}_{day}", f"pi_ce_{member_id}_{day}", member_id, "RMA", created)
    result: dict[str, Any] = post_stripe(demo, stripe_event("checkout.session.completed", session))
    return str(result["result"])


def _ccp(demo: Demo, member_id: str) -> str:
    cert = demo.call("GET", f"/members/{member_id}/status")["certifications"][0]
    ccp = cert["ccp"]
    return (
        f"{cert['status']}: cycle {ccp['cycle_number']} ({ccp['cycle_start']} .. {ccp['cycle_end']}) "
        f"{ccp['earned']}/{ccp['required']} points { ({k: v for k, v in ccp['by_category'].items() if v}) }"
    )


def play(demo: Demo) -> None:
    year = max(2027, int(demo.today[:4]) + 1) if demo.today else 2027
    member_id = "gia"
    demo.heading("CE points: a cmi5 course, a provider CSV, and the next cycle")
    demo.daily(f"{year}-01-05")
    demo.call(
        "PUT",
        f"/members/{member_id}",
        json={
            "first_name": "Gia",
            "last_name": "Moreno",
            "email": "gia@example.org",
            "certifications": [{"credential": "RMA", "certified_on": f"{year - 3}-02-01"}],
        },
    )
    for day in (f"{year - 2}-02-10", f"{year - 1}-02-10"):
        demo.say(f"annual fee paid {day} (Stripe) -> {_pay(demo, member_id, day)}")
    for activity_id, (title, points, category) in COURSES.items():
        demo.call(
            "PUT",
            "/catalog/activities",
            json={
                "activity_id": activity_id,
                "title": title,
                "category": category,
                "points": points,
                "provider_id": "acme",
            },
        )
    demo.say(f"catalog: {', '.join(f'{t} ({p} pts)' for t, p, _ in COURSES.values())}")
    found = demo.call("GET", "/catalog/activities/" + quote(next(iter(COURSES)), safe=""))
    demo.say(f"GET /catalog/activities/{{url-encoded IRI}} -> {found['title']}, {found['points']} points")
    demo.say(_ccp(demo, member_id))

    course = next(iter(COURSES))
    verbs = ("launched", "initialized", "completed", "passed", "satisfied", "terminated")
    sequence = [
        _statement(v, member_id, course, f"{year - 1}-03-10T15:{i:02d}:00Z") for i, v in enumerate(verbs)
    ]
    ids = _post_statements(demo, sequence)
    demo.say(f"LMS posts a full cmi5 sequence ({len(ids)} statements) -> 200; {_ccp(demo, member_id)}")
    _post_statements(demo, sequence)
    demo.say(f"the LMS resends the whole sequence -> 200; still {_ccp(demo, member_id).split(': ', 1)[1]}")
    refused = _post_statements(demo, sequence[:1], auth=("demo-lms", "wrong"), expect=401)
    demo.say(f"wrong LMS password -> 401 {refused['error']}")
    early = _statement("completed", member_id, list(COURSES)[1], f"{year - 3}-01-20T15:00:00Z")
    _post_statements(demo, [early])
    demo.say("a completion dated before the certification is recorded as rejected (see the timeline)")

    rows = [
        "member_id,activity_id,completed_on,points,category,certificate_id",
        f"gia,{list(COURSES)[1]},{year - 1}-09-01,10,professional_education,ACME-1001",
        f"gia,{list(COURSES)[2]},{year - 1}-11-15,8,formal_education,ACME-1002",
        f"gia,https://acme.example.org/job,{year - 1}-12-01,5,employment,ACME-1003",
        f"nobody,{list(COURSES)[1]},{year - 1}-09-01,10,professional_education,ACME-1004",
        f"gia,{list(COURSES)[2]},{year - 1}-11-16,-2,formal_education,ACME-1005",
    ]
    key = f"ce-batches/acme/{year}-01.csv"
    uploaded = demo.call("PUT", f"/_local/uploads/{key}", data="\n".join(rows).encode())
    [result] = uploaded["results"]
    demo.say(
        f"provider CSV {key}: {result['results'][0]['accepted']} accepted, {result['results'][0]['rejected']} rejected"
    )
    demo.call("PUT", f"/_local/uploads/{key}", data="\n".join(rows).encode())
    demo.say(f"the same file uploaded again credits nothing: {_ccp(demo, member_id)}")

    demo.call(
        "PUT",
        f"/_local/uploads/evidence/{member_id}/audit/certificate.pdf",
        data=b"%PDF-1.7 demo",
        headers={"content-type": "application/pdf"},
    )
    quarantined = demo.call("GET", "/admin/quarantined-uploads")["items"]
    demo.say(f"evidence without an open audit -> quarantine: {quarantined[0]['reason']}")

    demo.heading(f"Cycle end {year}-01-31: 30 points inside the cycle, the member rolls into cycle 2")
    demo.daily(f"{year}-02-02")
    demo.say(f"annual fee paid {year}-02-02 (Stripe) -> {_pay(demo, member_id, f'{year}-02-02')}")
    demo.say(_ccp(demo, member_id))
    demo.status_table([member_id])
    demo.timeline(member_id)
