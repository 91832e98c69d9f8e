"""Chapter 1: the roster arrives and the years go by - active, delinquent, lapsed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
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
}
# Carla comes from the association's previous system with her state on the cutover date (the README's
# example file): without that opening balance a 2004 certification with no history here would arrive
# lapsed (since 2008).
EXAMPLE_IMPORT = Path(__file__).parents[2] / "docs" / "examples" / "roster-import.csv"
SHOWN = [*MEMBERS, "carla", "gus"]
CARLA_PAYS_ON = ("2022-02-01", "2023-02-01", "2024-02-01", "2025-02-01")  # her fee month: February


def play(demo: Demo) -> None:
    demo.heading("Migration: the previous system's members arrive with opening balances (cutover 2021-10-01)")
    demo.daily("2021-10-01")
    data = EXAMPLE_IMPORT.read_bytes()
    for key in (
        "roster-imports/dry-run/cutover.csv",
        "roster-imports/cutover.csv",
        "roster-imports/cutover.csv",
    ):
        [invocation] = demo.call("PUT", f"/_local/uploads/{key}", data=data)["results"]
        [result] = invocation["results"]
        demo.say(
            f"{key}: {result['accepted']} accepted, {result['unchanged']} unchanged, {result['refused']} refused "
            "(report in roster-imports-results/)"
        )
    demo.heading("Roster sync: members arrive from the association's member system")
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
    demo.status_table(SHOWN)

    for day in sorted(("2022-05-31", "2022-06-01", "2023-06-01", "2024-07-01", "2025-06-02", *CARLA_PAYS_ON)):
        if day in CARLA_PAYS_ON:
            demo.daily(day)
            demo.say(f"{day}: carla (pre-2006, CCP voluntary) pays her annual fee -> {_pay_carla(demo, day)}")
            continue
        demo.heading(f"Daily run on {day}")
        demo.daily(day)
        demo.status_table(SHOWN)
    demo.timeline("ana")


def _pay_carla(demo: Demo, day: str) -> str:
    created = int(datetime.fromisoformat(f"{day}T17:00:00").replace(tzinfo=UTC).timestamp())
    session = paid_checkout(f"cs_carla_{day}", f"pi_carla_{day}", "carla", "CMAS", created)
    return str(post_stripe(demo, stripe_event("checkout.session.completed", session))["result"])
