"""Chapter: lapsed members recertify by exam and receive exactly one Credly badge; another is audited,
fails, lapses and has the badge revoked.

Outside parties are played with the real wire formats: the Stripe fee as a signed
``payment_intent.succeeded`` webhook (the renewal endpoint), the exam vendor's signed result callback,
and the fake Credly server the local stack starts (its own API is used to count badges). Each
callback is sent twice - they are at-least-once - and still yields one badge.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime
from datetime import time as time_of_day
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests

from local.stack import LOCAL_REFS, LOCAL_SECRETS
from shared.adapters.signatures import sign

if TYPE_CHECKING:
    from local.demo import Demo


def _signed(demo: Demo, path: str, body: dict[str, Any], secret: str, header: str) -> Any:
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json", header: sign(raw, secret, int(time.time()))}
    return demo.call("POST", path, data=raw, headers=headers)


def _stripe_fee(demo: Demo, member_id: str, application_id: str, amount: int) -> Any:
    # Stripe's ``created`` is when the customer paid: noon of the demo's business day (the signature's
    # timestamp stays the wall clock - it is about transport, not business).
    paid_at = datetime.combine(date.fromisoformat(demo.today), time_of_day(12), ZoneInfo("America/Chicago"))
    created = int(paid_at.timestamp())
    event = {
        "id": f"evt_demo_{application_id}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": created,
        "data": {
            "object": {
                "id": f"pi_demo_{member_id}_recert",
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": "usd",
                "created": created,
                "status": "succeeded",
                "metadata": {
                    "member_id": member_id,
                    "credential": application_id.split(".")[1],
                    "purpose": "recertification",
                    "application_id": application_id,
                },
            }
        },
    }
    secret = LOCAL_SECRETS["StripeWebhookSecret"]["current"]
    return _signed(demo, "/webhooks/stripe", event, secret, "stripe-signature")


def _exam(demo: Demo, member_id: str, credential: str, exam_date: str, result_id: str) -> Any:
    body = {
        "member_id": member_id,
        "credential": credential,
        "passed": True,
        "exam_date": exam_date,
        "result_id": result_id,
    }
    return _signed(
        demo, "/exam-results", body, LOCAL_SECRETS["ExamVendorSecret"]["current"], "exam-signature"
    )


def _credly_badges() -> list[dict[str, Any]]:
    """Every badge the fake Credly holds, through Credly's own list API."""
    base = os.environ["CREDLY_BASE_URL"]
    org = LOCAL_REFS["CredlyOrganizationId"]
    token = LOCAL_SECRETS["CredlySecret"]["token"]
    response = requests.get(f"{base}/organizations/{org}/badges", auth=(token, ""), timeout=10)
    response.raise_for_status()
    badges: list[dict[str, Any]] = response.json()["data"]
    return badges


def _show_badges(demo: Demo) -> None:
    badges = _credly_badges()
    demo.say(f"Credly holds {len(badges)} badge(s):")
    for badge in badges:
        reason = f" - {badge['revoke_reason']}" if badge.get("revoke_reason") else ""
        demo.say(
            f"  {badge['issuer_earner_id']:<6} {badge['badge_template']['id']:<22} {badge['state']}{reason}"
        )


def _open(demo: Demo, member_id: str, body: dict[str, Any], expect: int = 201) -> Any:
    return demo.call("POST", f"/members/{member_id}/recertifications", expect=expect, json=body)


def play(demo: Demo) -> None:
    year = max(2026, int(demo.today[:4]) + 1) if demo.today else 2026

    def on(month_day: str) -> str:
        return f"{year}-{month_day}"

    demo.heading("Recertification: two lapsed members come back by exam")
    demo.daily(on("03-02"))
    members = {
        "dana": ("Dana", "Ruiz", "RMA", f"{year - 11}-04-12"),
        "omar": ("Omar", "Brandt", "RPT", f"{year - 16}-09-01"),
    }
    for member_id, (first, last, credential, certified_on) in members.items():
        demo.call(
            "PUT",
            f"/members/{member_id}",
            json={
                "first_name": first,
                "last_name": last,
                "email": f"{member_id}@example.org",
                "certifications": [{"credential": credential, "certified_on": certified_on}],
            },
        )
    demo.status_table(list(members))

    demo.say("Eligibility assistant (POST /eligibility/RMA) with Dana's answers:")
    answers = {
        "work": [{"start": f"{year - 3}-01-15", "full_time": False}],
        "military": {"completed_on": f"{year - 2}-06-30", "program": "68W Combat Medic"},
    }
    assistant = demo.call("POST", "/eligibility/RMA", json=answers)
    for route in assistant["routes"]:
        demo.say(
            f"  {route['route']:<11} {'met' if route['met'] else 'missing: ' + '; '.join(route['missing'])}"
        )

    opened = _open(demo, "dana", {"credential": "RMA", "method": "exam", "eligibility": answers})
    dana_app = opened["application"]["application_id"]
    still = ", ".join(r["item"] for r in opened["still_required"])
    demo.say(
        f"dana applies by exam -> {dana_app}: fee due ${opened['fee_due_cents'] / 100:.2f}; still required: {still}"
    )
    again = _open(demo, "dana", {"credential": "RMA", "method": "exam", "eligibility": answers}, expect=409)
    demo.say(f"  applying again -> 409 {again['error']} ({again['application_id']})")

    refused = _open(demo, "omar", {"credential": "RPT", "method": "ccp"}, expect=422)
    demo.say(
        f"omar (lapsed {refused['lapsed_on']}) asks for CCP -> 422 {refused['error']}: only {refused['allowed_methods']}"
    )
    omar_answers = {"work": [{"start": f"{year - 2}-01-01", "full_time": True}]}
    omar_app = _open(demo, "omar", {"credential": "RPT", "method": "exam", "eligibility": omar_answers})[
        "application"
    ]["application_id"]
    demo.say(f"omar applies by exam -> {omar_app}")

    demo.heading(
        f"Fees (signed Stripe webhooks) and exam results (signed vendor callbacks), each sent twice, {on('04-20')}"
    )
    demo.daily(on("04-20"))
    for member_id, app_id, credential, fee in (
        ("dana", dana_app, "RMA", 12500),
        ("omar", omar_app, "RPT", 12500),
    ):
        for attempt in (1, 2):
            paid = _stripe_fee(demo, member_id, app_id, fee)
            result = _exam(demo, member_id, credential, on("04-18"), f"vendor-{member_id}-1")
            demo.say(
                f"{member_id} #{attempt}: stripe -> {paid['result']}; exam result -> {result['recorded']}, "
                f"completed={result['completed']}"
            )
    demo.status_table(list(members))
    _show_badges(demo)
    demo.timeline("dana")

    demo.heading(f"CCP audit: omar is selected, uploads evidence, and fails ({on('05-02')})")
    audit_id = _draw_audit(demo, "omar", "RPT", on("05-02"), year)
    demo.daily(on("05-02"))
    upload = demo.call(
        "PUT",
        "/_local/uploads/evidence/omar/audit/ccp-log.pdf",
        data=b"%PDF-1.7 demo evidence",
        headers={"content-type": "application/pdf"},
    )
    demo.say(f"evidence upload {upload['key']}")
    record = demo.call("GET", f"/audits/{audit_id}")
    demo.say(
        f"GET /audits/{audit_id}: status {record['status']}, evidence: {[e['data'].get('s3_key') for e in record['evidence']]}"
    )
    decided = demo.call(
        "POST",
        f"/audits/{audit_id}/decision",
        json={"decision": "failed", "reason": "CE log does not match provider records"},
    )
    demo.say(f"staff decision: failed -> omar is {decided['status']}")
    demo.status_table(list(members))
    _show_badges(demo)
    demo.timeline("omar")


def _draw_audit(demo: Demo, member_id: str, credential: str, day: str, year: int) -> str:
    """The daily draw picks ~10% at random; the demo forces omar's selection by recording the
    same AuditDrawn fact the draw would (local stack only: straight into the local table)."""
    from shared.rules.models import AuditDrawn
    from shared.store.members import MemberRepository

    audit_id = f"AUD-{year}-{member_id}-{credential}"
    drawn_on = date.fromisoformat(day)
    MemberRepository(os.environ["TABLE_NAME"]).record_fact(
        member_id,
        AuditDrawn(
            key=audit_id,
            recorded_on=drawn_on,
            audit_id=audit_id,
            credential=credential,
            cycle_start=date(year, 4, 20),
            cycle_end=date(year + 3, 4, 19),
            drawn_on=drawn_on,
            deadline=date(year, 7, 1),
            seed="demo",
        ),
    )
    demo.say(f"{member_id} drawn for audit {audit_id} (forced for the demo; the daily draw is random)")
    return audit_id
