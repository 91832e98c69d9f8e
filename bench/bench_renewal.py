"""Renewal benchmark, counted with botocore hooks against in-process moto.

* DynamoDB requests per Stripe webhook (target <= 2, duplicates and exceptions included): a payment,
  its duplicate and a cross-type redelivery, a refund and its duplicate, a dispute won, a refund before
  its payment, a payment for an unknown member (parked), a payment naming two invoices and its refund,
  an invoice paid again and a 1-cent payment (payment exceptions).
* One daily run over 10,000, 25,000 and 50,000 members (certification due dates spread over a year): items read and
  requests made vs. the certifications due that day (target: all items read <= 1.5 x due; nothing
  grows with the membership). Two runs, both reported, labelled:

  - ``first_run``: no certification due was evaluated by the run before (rows as the roster or a
    migration leaves them: no run state), so each due member's partition is read whole;
  - ``steady_state`` (the normal day): the certifications due were evaluated by an earlier run 30
    days before (a real run over the same table, which leaves its state on their rows) and are due
    again on the run date (their rows moved there by a payment's nudge, which keeps that state).

Run: ``.venv/bin/python bench/bench_renewal.py [members]`` (or ``make bench``); merges its keys into
bench/results.json.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.counting import bench_environment  # noqa: E402

bench_environment(
    TABLE_NAME="StayCertBenchRenewal",
    BUCKET_NAME="staycert-bench-renewal",
    STRIPE_WEBHOOK_SECRET="bench/stripe",
    NOTICE_SENDER="notices@example.org",
    STAYCERT_BUSINESS_DATE="2025-05-23",
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.counting import Counting, bulk_put, fast_partition_queries, merge_results  # noqa: E402
from local import template as tpl  # noqa: E402

SECRET = "whsec_bench"  # noqa: S105 - a moto-only signing secret
RUN_DATE = date(2025, 7, 1)


def _event(event_type: str, obj: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    return {
        "id": f"evt_{event_type}_{obj['id']}{suffix}",
        "object": "event",
        "created": 1_748_000_000,
        "type": event_type,
        "data": {"object": obj},
    }


def _post(payload: dict[str, Any]) -> str:
    import stripe

    from local.events import http_api_event, route_for
    from tests.helpers import lambda_context

    body = json.dumps(payload).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), SECRET, timestamp=int(time.time())
    )
    route, params = route_for("POST", "/webhooks/stripe")
    event = http_api_event(route, route.path, params, headers={"Stripe-Signature": header}, body=body)
    from functions.renewal.webhook import handler

    response = handler(event, lambda_context("WebhookFunction"))
    assert response["statusCode"] == 200, response
    return str(json.loads(response["body"])["result"])


def bench_webhooks(counter: Counting) -> dict[str, Any]:
    from shared.services.member_schemas import MemberUpsert
    from tests.helpers import call_api

    body = MemberUpsert.model_validate(
        {
            "first_name": "Bench",
            "last_name": "Member",
            "email": "bench@example.org",
            "certifications": [{"credential": "RMA", "certified_on": "2024-05-14"}],
        }
    ).model_dump(mode="json")
    assert call_api("PUT", "/members/bench-1", body).status == 201
    meta = {"member_id": "bench-1", "credential": "RMA", "purpose": "annual_fee"}
    pi = {
        "id": "pi_b1",
        "object": "payment_intent",
        "amount_received": 5000,
        "currency": "usd",
        "created": 1_748_000_000,
        "metadata": meta,
    }
    session = {
        "id": "cs_b1",
        "object": "checkout.session",
        "payment_status": "paid",
        "payment_intent": "pi_b1",
        "amount_total": 5000,
        "currency": "usd",
        "created": 1_748_000_000,
        "metadata": meta,
    }
    charge = {
        "id": "ch_b1",
        "object": "charge",
        "payment_intent": "pi_b1",
        "refunded": True,
        "created": 1_748_000_000,
    }
    dispute = {
        "id": "dp_b1",
        "object": "dispute",
        "payment_intent": "pi_b2",
        "charge": "ch_b2",
        "created": 1_748_000_000,
    }
    pi2 = {**pi, "id": "pi_b2"}
    early_refund = {**charge, "id": "ch_b3", "payment_intent": "pi_b3"}
    pi3 = {**pi, "id": "pi_b3"}
    stranger = {**pi, "id": "pi_b4", "metadata": {**meta, "member_id": "nobody"}}
    invoices = {**meta, "invoices": "bench-1-RMA-2025,bench-1-RMA-2026"}
    two_years = {**pi, "id": "pi_b5", "amount_received": 10000, "metadata": invoices}
    paid_again = {**pi, "id": "pi_b6", "metadata": {**meta, "invoices": "bench-1-RMA-2026"}}
    one_cent = {**pi, "id": "pi_b7", "amount_received": 1}
    two_years_refund = {**charge, "id": "ch_b5", "payment_intent": "pi_b5"}
    cases = [
        ("payment", _event("payment_intent.succeeded", pi)),
        ("duplicate", _event("payment_intent.succeeded", pi)),
        ("cross_type_duplicate", _event("checkout.session.completed", session)),
        ("refund", _event("charge.refunded", charge)),
        ("refund_duplicate", _event("charge.refunded", charge)),
        ("payment_2", _event("payment_intent.succeeded", pi2)),
        ("dispute", _event("charge.dispute.created", dispute)),
        ("dispute_won", _event("charge.dispute.closed", {**dispute, "status": "won"})),
        ("refund_before_payment", _event("charge.refunded", early_refund)),
        ("payment_after_its_refund", _event("payment_intent.succeeded", pi3)),
        ("parked_unknown_member", _event("payment_intent.succeeded", stranger)),
        ("parked_duplicate", _event("payment_intent.succeeded", stranger)),
        # payments that name invoices (a payment link), and payment exceptions
        ("invoices_two_years", _event("payment_intent.succeeded", two_years)),
        ("exception_already_paid", _event("payment_intent.succeeded", paid_again)),
        ("exception_duplicate", _event("payment_intent.succeeded", paid_again)),
        ("exception_one_cent", _event("payment_intent.succeeded", one_cent)),
        ("refund_two_invoice_payment", _event("charge.refunded", two_years_refund)),
    ]
    counter.take()
    measured: dict[str, Any] = {}
    for name, payload in cases:
        result = _post(payload)
        calls, _, _ = counter.take()
        measured[name] = {"result": result, "requests": sum(calls.values()), "calls": dict(calls)}
    worst = max(entry["requests"] for entry in measured.values())
    return {"per_event": measured, "max_requests": worst, "target": 2, "meets_target": worst <= 2}


def _populate(members: int) -> list[str]:
    """Members with a profile, one certification (next action date spread over a year from the run
    date) and two payment facts - put straight into moto's table, with the keys the writers give
    them (``keys.indexed``: RecordedIndex). Returns the members due on the run date."""

    from shared.rules.dates import add_years
    from shared.store import keys

    # Straight into moto's table (bench.counting.bulk_put): populating is not what is measured.
    items_out: list[dict[str, Any]] = []
    rng = random.Random(7)
    due_today: list[str] = []
    for n in range(members):
        member_id = f"b{n:06d}"
        certified = date(2015, 1, 1) + timedelta(days=rng.randrange(3000))
        due = RUN_DATE + timedelta(days=rng.randrange(365))
        if due == RUN_DATE:
            due_today.append(member_id)
        pk = {"S": keys.member_pk(member_id)}
        profile = {
            "member_id": member_id,
            "first_name": "B",
            "last_name": str(n),
            "email": f"{member_id}@example.org",
        }
        cert = {"credential": "RMA", "certified_on": certified.isoformat(), "due_on": due.isoformat()}
        items: list[dict[str, Any]] = [
            {"pk": pk, "sk": {"S": "PROFILE"}, "member_id": {"S": member_id}, "body": _m(profile)},
            {
                "pk": pk,
                "sk": {"S": "CERT#RMA"},
                "member_id": {"S": member_id},
                "credential": {"S": "RMA"},
                "due_pk": {"S": keys.due_pk(due)},
                "due_sk": {"S": keys.due_sk(due, member_id, "RMA")},
                "body": _m(cert),
            },
        ]
        for year in (1, 2):
            paid = add_years(certified, year) - timedelta(days=10)
            fact = {
                "kind": "payment",
                "key": f"pi_{member_id}_{year}",
                "recorded_on": paid.isoformat(),
                "credential": "RMA",
                "purpose": "annual_fee",
                "paid_on": paid.isoformat(),
                "amount_cents": 5000,
            }
            items.append(
                {
                    "pk": pk,
                    "sk": {"S": f"FACT#payment#pi_{member_id}_{year}"},
                    "kind": {"S": "payment"},
                    "body": _m(fact),
                }
            )
        for item in items:  # the RecordedIndex key every writer gives its items (keys.indexed)
            recorded = item["body"]["M"].get("recorded_on", {}).get("S")
            index_sk = keys.recorded_index_sk(item["sk"]["S"], recorded)
            if index_sk is not None:
                item[keys.RECORDED_SK] = {"S": index_sk}
        items_out.extend(items)
    bulk_put(os.environ["TABLE_NAME"], items_out)
    return due_today


def _m(values: dict[str, Any]) -> dict[str, Any]:
    return {"M": {k: ({"N": str(v)} if isinstance(v, int) else {"S": str(v)}) for k, v in values.items()}}


def bench_daily(counter: Counting, members: int) -> dict[str, Any]:
    first = _daily_run(counter, members, steady=False)
    steady = _daily_run(counter, members, steady=True)
    return {
        **first,  # the first run's figures stay where they were (bench/cost.py, bench/report.py)
        "first_run": first,
        "steady_state": steady,
        "meets_target_all_items": first["meets_target_all_items"] and steady["meets_target_all_items"],
    }


def _nudge_to(client: Any, table: str, member_ids: list[str], day: date) -> None:
    """Move the members' RMA rows to ``day`` the way a payment's nudge does (UpdateItem of the due
    keys: the rest of the row, the run's state included, is kept)."""
    from shared.store.payments import PaymentLedger

    ledger = PaymentLedger(table, client)
    for member_id in member_ids:
        client.transact_write_items(TransactItems=[ledger._nudge(member_id, "RMA", day)])


def _daily_run(counter: Counting, members: int, *, steady: bool) -> dict[str, Any]:
    from shared.adapters.notifier import SesPrintNotifier
    from shared.config.settings import get_policy
    from shared.services.daily import DailyRun
    from shared.store.members import MemberRepository
    from shared.store.schedule import ScheduleStore

    table = os.environ["TABLE_NAME"]
    client = boto3.client("dynamodb", region_name="us-east-1")
    if table in client.list_tables()["TableNames"]:
        client.delete_table(TableName=table)
    client.create_table(TableName=table, **tpl.table_definition())
    started = time.perf_counter()
    due_ids = _populate(members)
    due = len(due_ids)
    populate_seconds = time.perf_counter() - started
    repository = MemberRepository(table)
    notifier = SesPrintNotifier("notices@example.org", os.environ["BUCKET_NAME"])
    earlier_run: dict[str, Any] = {}
    if steady:
        earlier = RUN_DATE - timedelta(days=30)
        _nudge_to(client, table, due_ids, earlier)
        ScheduleStore(table).set_last_run(earlier - timedelta(days=1))
        before = DailyRun(repository, get_policy(), notifier).run(earlier)
        earlier_run = {
            "date": earlier.isoformat(),
            "evaluated": before.evaluated,
            "read_whole": before.read_whole,
        }
        _nudge_to(client, table, due_ids, RUN_DATE)
    ScheduleStore(table).set_last_run(RUN_DATE - timedelta(days=1))
    counter.take()
    started = time.perf_counter()
    summary = DailyRun(repository, get_policy(), notifier).run(RUN_DATE)
    seconds = time.perf_counter() - started
    calls, items_read, _ = counter.take()
    # DueIndex entries read: the run reads the last run's partition (inclusive) and today's.
    index_read = summary.due
    return {
        "run": "steady_state" if steady else "first_run",
        **({"earlier_run": earlier_run} if steady else {}),
        "members": members,
        "due_on_run_date": due,
        "due_index_entries_read": index_read,
        "index_entries_per_due": round(index_read / due, 3) if due else None,
        "member_partitions_loaded": summary.members,
        "member_partitions_read_whole": summary.read_whole,
        "items_read_total": items_read,
        "items_read_per_due": round(items_read / due, 3) if due else None,
        "requests": dict(calls),
        "requests_total": sum(calls.values()),
        "notices": summary.notices,
        "transitions": summary.transitions,
        "run_seconds_moto": round(seconds, 2),
        "populate_seconds_moto": round(populate_seconds, 2),
        "target": "items read <= 1.5 x due (all items: DueIndex entries, member reads, the run's bookkeeping)",
        "meets_target_due_index": due > 0 and index_read <= 1.5 * due and summary.members <= due,
        # first_run: each due member's partition is read whole (profile, certification, facts,
        # events); steady_state: the due entry carries the row and the run's state, and each member
        # is one bounded RecordedIndex Query (badges, open applications, facts since the checkpoint)
        "meets_target_all_items": due > 0 and items_read <= 1.5 * due,
    }


def main() -> int:
    scales = [int(arg) for arg in sys.argv[1:]] or [10_000, 25_000, 50_000]
    fast_partition_queries()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=os.environ["TABLE_NAME"], **tpl.table_definition())
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=os.environ["BUCKET_NAME"])
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress="notices@example.org")
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=os.environ["STRIPE_WEBHOOK_SECRET"],
            SecretString=json.dumps({"current": SECRET, "previous": ""}),
        )
        from shared.store import dynamo

        dynamo.reset_default_client()
        counter = Counting().attach(dynamo.default_client())
        webhooks = bench_webhooks(counter)
        by_scale = {str(members): bench_daily(counter, members) for members in scales}
    daily = by_scale[str(max(scales))] | {"by_members": by_scale}
    merge_results({"renewal_webhook": webhooks, "renewal_daily": daily})
    print(json.dumps({"renewal_webhook": webhooks, "renewal_daily": daily}, indent=2))
    # Targets are reported (bench/report.py), not enforced here: `make bench` runs every script.
    return 0


if __name__ == "__main__":
    sys.exit(main())
