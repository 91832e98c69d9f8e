"""Bulk roster import benchmark: DynamoDB requests per imported member-certification and rows per
second for a file of 10,000 rows (8,000 members, 2,000 of them with two credentials), its re-upload,
and the first daily run after it (requests and notices), counted with botocore hooks on in-process moto.

Run: ``.venv/bin/python bench/bench_roster.py`` (or ``make bench``); merges ``ce_roster`` into
bench/results.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.counting import bench_environment  # noqa: E402

bench_environment(
    POWERTOOLS_LOG_LEVEL="WARNING",
    TABLE_NAME="StayCertBench",
    BUCKET_NAME="staycert-bench",
    STAYCERT_BUSINESS_DATE="2024-03-20",
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.bench_ce import _context, _handler  # noqa: E402
from bench.counting import Counting, fast_partition_queries, merge_results  # noqa: E402
from local import template as tpl  # noqa: E402
from shared.rules.dates import add_years, day_before, last_of_month  # noqa: E402

HEADER = "member_id,first_name,last_name,email,credential,certified_on,cutover_on,paid_through,cycle_start,points,standing"
CUTOVER = date(2024, 3, 20)


def roster_rows(rows: int) -> list[str]:
    """Active members certified 2007..2022 (fees paid, none overdue on the cutover), a fifth with a
    second credential."""
    lines = [HEADER]
    member = 0
    while len(lines) - 1 < rows:
        year, month = 2007 + member % 16, 1 + member % 12
        certified = date(year, month, 15)
        years = 0
        while date(year + years + 3, month, 15) <= CUTOVER:
            years += 3
        cycle_start = date(year + years, month, 15)
        paid = 1  # fees paid up to the one whose anniversary month ends on or after the cutover
        while last_of_month(add_years(certified, paid)) < CUTOVER:
            paid += 1
        paid_through = day_before(add_years(certified, paid))
        credentials = ("RMA", "AHI") if member % 5 == 0 else ("RMA",)
        for code in credentials:
            lines.append(
                f"r{member:05d},Ana,Bench,r{member:05d}@example.org,{code},{certified},{CUTOVER},"
                f"{paid_through},{cycle_start},professional_education=10,active"
            )
        member += 1
    return lines[: rows + 1]


def bench_import(counter: Counting, rows: int = 10_000) -> dict[str, Any]:
    body = ("\n".join(roster_rows(rows)) + "\n").encode()
    bucket = os.environ["BUCKET_NAME"]
    s3 = boto3.client("s3", region_name="us-east-1")
    key = "roster-imports/bench.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": len(body)}},
            }
        ]
    }
    handler = _handler("CeUploadFunction")
    counter.take()
    started = time.perf_counter()
    handler(event, _context("CeUploadFunction"))
    elapsed = time.perf_counter() - started
    first = counter.take_requests()
    report = json.loads(s3.get_object(Bucket=bucket, Key="roster-imports-results/bench.json")["Body"].read())
    started = time.perf_counter()
    handler(event, _context("CeUploadFunction"))
    again_elapsed = time.perf_counter() - started
    again = counter.take_requests()
    again_report = json.loads(
        s3.get_object(Bucket=bucket, Key="roster-imports-results/bench.json")["Body"].read()
    )
    requests = sum(first.values())
    return {
        "rows": rows,
        "members": len({line.split(",", 1)[0] for line in roster_rows(rows)[1:]}),
        "accepted": report["accepted"],
        "refused": len(report["refused"]),
        "requests": requests,
        "requests_per_row": round(requests / rows, 3),
        "requests_by_operation": dict(first),
        "seconds_moto": round(elapsed, 2),
        "rows_per_second_moto": round(rows / elapsed),
        "extrapolated_100k_requests": round(requests / rows * 100_000),
        "reupload_requests": sum(again.values()),
        "reupload_unchanged": again_report["unchanged"],
        "reupload_seconds_moto": round(again_elapsed, 2),
    }


def bench_first_daily(counter: Counting) -> dict[str, Any]:
    """The first daily run after the import, on the cutover date: what it reads and sends."""
    from shared.adapters.notifier import Email
    from shared.config.settings import get_policy
    from shared.services.daily import DailyRun
    from shared.store.members import MemberRepository

    class Notifier:
        emails: list[Email] = []

        def send_email(self, email: Email) -> str:
            self.emails.append(email)
            return "bench"

        def write_print_batch(self, day: date, rows: Any) -> str:
            return f"print-batches/{day}.csv"

    notifier = Notifier()
    counter.take()
    summary = DailyRun(MemberRepository(os.environ["TABLE_NAME"]), get_policy(), notifier).run(CUTOVER)
    used = counter.take_requests()
    return {
        "due": summary.due,
        "notices": summary.notices,
        "transitions": summary.transitions,
        "cycles_started": summary.cycles_started,
        "requests": sum(used.values()),
        "requests_by_operation": dict(used),
    }


def main() -> int:
    fast_partition_queries()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=os.environ["TABLE_NAME"], **tpl.table_definition())
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=os.environ["BUCKET_NAME"])
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress="notices@example.org")
        from shared.store import dynamo

        dynamo.reset_default_client()
        counter = Counting().attach(dynamo.default_client())
        figures = bench_import(counter)
        figures["first_daily_run"] = bench_first_daily(counter)
    merge_results({"ce_roster": figures})
    print(json.dumps({"ce_roster": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
