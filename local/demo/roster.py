"""Chapter 1: the roster arrives and the years go by - active, delinquent, lapsed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from local.demo.payments import paid_checkout, post_stripe, stripe_event

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
        # Brought over from the previous system with her state on the cutover date: without this
        # opening balance a 2004 certification with no history here would arrive lapsed (since 2008).
        "certifications": [
            {
                "credential": "CMAS",
                "certified_on": "2004-02-10",
                "opening_balance": {
                    "cutover_on": "2021-10-01",
                    "paid_through": "2022-02-09",
                    "cycle_start": "2019-02-10",
                    "standing": "active",
                },
            }
        ],
    },
}
CARLA_PAYS_ON = ("2022-02-01", "2023-02-01", "2024-02-01", "2025-02-01")  # her fee month: February


def play(demo: Demo) -> None:
    demo.heading("Roster sync: three members arrive from the association's member system")
    demo.daily("2021-10-01")
    for member_id, body in MEMBERS.items():
        result = demo.call("PUT", f"/members/{member_id}", json=body)
        demo.say(f"PUT /members/{member_id} -> created={result['created']}")
    demo.say("carla (CMAS 2004) came with an opening balance: fees paid through 2022-02-09, active")
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

    for day in sorted(("2022-05-31", "2022-06-01", "2023-06-01", "2024-07-01", "2025-06-02", *CARLA_PAYS_ON)):
        if day in CARLA_PAYS_ON:
            demo.daily(day)
            demo.say(f"{day}: carla (pre-2006, CCP voluntary) pays her annual fee -> {_pay_carla(demo, day)}")
            continue
        demo.heading(f"Daily run on {day}")
        demo.daily(day)
        demo.status_table(list(MEMBERS))
    demo.timeline("ana")


def _pay_carla(demo: Demo, day: str) -> str:
    created = int(datetime.fromisoformat(f"{day}T17:00:00").replace(tzinfo=UTC).timestamp())
    session = paid_checkout(f"cs_carla_{day}", f"pi_carla_{day}", "carla", "CMAS", created)
    return str(post_stripe(demo, stripe_event("checkout.session.completed", session))["result"])
