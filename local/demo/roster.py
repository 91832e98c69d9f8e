"""Chapter 1: the roster arrives and the years go by - active, delinquent, lapsed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.demo import Demo

MEMBERS = {
    "ana": {
        "first_name": "Ana",
        "last_name": "Diaz",
        "email": "ana@example.org",
        "postal_address": {
            "line1": "12 Elm St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
        },
        "certifications": [{"credential": "RMA", "certified_on": "2021-05-14"}],
    },
    "ben": {
        "first_name": "Ben",
        "last_name": "Okafor",
        "email": "ben@example.org",
        "certifications": [{"credential": "MT", "certified_on": "2021-09-02"}],
    },
    "carla": {
        "first_name": "Carla",
        "last_name": "Nguyen",
        "email": "carla@example.org",
        "certifications": [{"credential": "CMAS", "certified_on": "2004-02-10"}],
    },
}


def play(demo: Demo) -> None:
    demo.heading("Roster sync: three members arrive from the association's member system")
    demo.daily("2021-10-01")
    for member_id, body in MEMBERS.items():
        result = demo.call("PUT", f"/members/{member_id}", json=body)
        demo.say(f"PUT /members/{member_id} -> created={result['created']}")
    demo.say("bad input is refused with the field and the reason:")
    refused = demo.call(
        "PUT",
        "/members/dora",
        expect=400,
        json={
            "first_name": "Dora",
            "last_name": "X",
            "email": "dora@example.org",
            "certifications": [{"credential": "XYZ", "certified_on": "2021-01-01"}],
        },
    )
    demo.say(f"  400 {refused['error']}: {refused['message']} (known: {', '.join(refused['known'])})")
    demo.status_table(list(MEMBERS))

    for day in ("2022-05-31", "2022-06-01", "2023-06-01", "2024-07-01", "2025-06-02"):
        demo.heading(f"Daily run on {day}")
        demo.daily(day)
        demo.status_table(list(MEMBERS))
    demo.timeline("ana")
