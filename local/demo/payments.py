"""Chapter: Stripe payments, renewal and CCP notices by e-mail and mail, and a member lapsing.

The local stack verifies Stripe signatures like production; this chapter signs its events with the
documented local secret (``LOCAL_SECRETS["StripeWebhookSecret"]["current"]`` in local/stack.py).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from local.stack import LOCAL_SECRETS
from shared.adapters.signatures import sign

if TYPE_CHECKING:
    from local.demo import Demo

LOCAL_STRIPE_SECRET = str(LOCAL_SECRETS["StripeWebhookSecret"]["current"])

MEMBERS = {
    "dora": {  # pays after her first renewal notice
        "first_name": "Dora",
        "last_name": "Reyes",
        "email": "dora@example.org",
        "postal_address": {"line1": "8 Oak Ave", "city": "Peoria", "region": "IL", "postal_code": "61602"},
        "certifications": [{"credential": "RMA", "certified_on": "2024-08-20"}],
    },
    "finn": {  # never pays: due notice, delinquent, late notice - by e-mail and mail
        "first_name": "Finn",
        "last_name": "Berg",
        "email": "finn@example.org",
        "postal_address": {"line1": "3 Lake Rd", "city": "Joliet", "region": "IL", "postal_code": "60431"},
        "certifications": [{"credential": "RMA", "certified_on": "2024-08-05"}],
    },
    "eli": {  # no postal address (e-mail only); never reports CCP points: lapses
        "first_name": "Eli",
        "last_name": "Stone",
        "email": "eli@example.org",
        "certifications": [{"credential": "AHI", "certified_on": "2022-07-15"}],
    },
}


def stripe_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{event_type.replace('.', '_')}_{obj['id']}",
        "object": "event",
        "type": event_type,
        "created": obj["created"],
        "data": {"object": obj},
    }


def post_stripe(
    demo: Demo, event: dict[str, Any], secret: str = LOCAL_STRIPE_SECRET, expect: int = 200
) -> Any:
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(body, secret, int(time.time())), "content-type": "application/json"}
    return demo.call("POST", "/webhooks/stripe", expect=expect, data=body, headers=headers)


def paid_checkout(
    session_id: str, intent: str, member_id: str, credential: str, created: int
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "payment_status": "paid",
        "payment_intent": intent,
        "amount_total": 5000,
        "currency": "usd",
        "created": created,
        "metadata": {"member_id": member_id, "credential": credential, "purpose": "annual_fee"},
    }


def show_daily(demo: Demo, day: str) -> None:
    result = demo.daily(day)
    for run in result.get("results", []):
        if isinstance(run, dict) and "notices" in run:
            demo.say(
                f"daily {day}: {run['notices']} notice(s), {run['mailed']} row(s) in {run['print_batch']}, "
                f"{run['email_only']} e-mail only, {run['transitions']} transition(s)"
            )


def play(demo: Demo) -> None:
    demo.heading("Renewal notices and payments by Stripe webhook (signed, credited once)")
    # Stripe objects below are created on 2025-06-02 (17:00 UTC), the business date of this chapter.
    demo.daily("2025-06-02")
    for member_id, body in MEMBERS.items():
        demo.call("PUT", f"/members/{member_id}", json=body)
    show_daily(demo, "2025-06-02")  # 60 days before August: Dora's and Finn's first renewal notice
    session = paid_checkout("cs_demo_1", "pi_demo_1", "dora", "RMA", 1_748_883_600)
    for attempt in ("", " (redelivered)"):
        result = post_stripe(demo, stripe_event("checkout.session.completed", session))
        demo.say(f"Dora pays: checkout.session.completed{attempt} -> {result['result']}")
    intent = {
        "id": "pi_demo_1",
        "object": "payment_intent",
        "amount_received": 5000,
        "currency": "usd",
        "created": 1_748_883_600,
        "metadata": session["metadata"],
    }
    result = post_stripe(demo, stripe_event("payment_intent.succeeded", intent))
    demo.say(f"the same payment as payment_intent.succeeded -> {result['result']}")
    forged = post_stripe(
        demo,
        stripe_event("checkout.session.completed", session),
        secret="whsec_not_ours",  # noqa: S106 - a deliberately wrong secret
        expect=401,
    )
    demo.say(f"the same event signed with another secret -> 401 {forged['error']}")
    stranger = paid_checkout("cs_demo_3", "pi_demo_3", "zoe", "RMA", 1_748_883_700)
    result = post_stripe(demo, stripe_event("checkout.session.completed", stranger))
    parked = demo.call("GET", "/admin/parked-payments")["items"]
    demo.say(
        f"a payment for unknown member zoe -> {result['result']}; parked: {[p['payment_key'] for p in parked]}"
    )
    demo.status_table(list(MEMBERS))

    demo.heading("The daily schedule: notices by e-mail (and mail with an address), transitions, a lapse")
    for day in ("2025-06-14", "2025-08-01", "2025-09-01", "2025-09-30", "2025-10-13"):
        show_daily(demo, day)
    demo.status_table(list(MEMBERS))
    demo.timeline("finn")
    demo.timeline("eli")
