"""Member partition growth: the read capacity of ONE status read (GET /members/{id}/status) for a
member with 1, 10 and 30 years of history, counted with botocore hooks against in-process moto.

History per year (the shapes the real writers produce, via ``MemberRepository.fact_item`` /
``event_item``): one annual-fee payment, four CE completions, two renewal notices, and a
``cycle_started`` transition every third year. The status read runs through the real handler.

Read capacity: a Query is charged on the summed size of the items it returns, rounded up to 4 KB;
eventually consistent reads (ours) cost half a unit per 4 KB. Item sizes are computed from the wire
form (attribute names + values), close to DynamoDB's own accounting.

Target: the 30-year read costs at most 1.5 x the 1-year read. Each member is read twice: without a
checkpoint (the bounded Query then reads every fact) and with the checkpoint the daily run writes on
the certification's last fee anniversary (the read stops at its day).

Run: ``.venv/bin/python bench/bench_partition.py`` (or ``make bench``); merges ``partition_growth``.
"""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = date(2025, 6, 1)
from bench.counting import bench_environment  # noqa: E402

bench_environment(
    TABLE_NAME="StayCertBenchPartition",
    BUCKET_NAME="staycert-bench-partition",
    STAYCERT_BUSINESS_DATE=AS_OF.isoformat(),
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.counting import Counting, bulk_put, merge_results, query_rcu  # noqa: E402
from local import template as tpl  # noqa: E402

YEARS = (1, 10, 30)


def _call(method: str, path: str, body: Any = None) -> dict[str, Any]:
    from tests.helpers import call_api

    response = call_api(method, path, body)
    assert response.status < 300, response.raw
    return response.body  # type: ignore[no-any-return]


def _history(member_id: str, certified: date) -> list[dict[str, Any]]:
    from shared.rules.dates import add_years
    from shared.store.members import MemberRepository
    from shared.store.records import EventRecord
    from tests.rules.rules_helpers import ce, pay

    repo = MemberRepository(os.environ["TABLE_NAME"])
    items: list[dict[str, Any]] = []
    year = 0
    while add_years(certified, year + 1) <= AS_OF:
        anniversary = add_years(certified, year + 1)
        paid = anniversary - timedelta(days=20)
        items.append(repo.fact_item(member_id, pay(f"pi_{member_id}_{year}", paid)))
        for n in range(4):
            done = add_years(certified, year) + timedelta(days=60 + 70 * n)
            course = f"https://courses.example.org/{year}/{n}"
            items.append(repo.fact_item(member_id, ce(course, done, 3, activity_id=course, source="xapi")))
        for kind, days in (("renewal_60", 60), ("renewal_30", 30)):
            sent = anniversary - timedelta(days=days)
            items.append(
                repo.event_item(
                    member_id,
                    EventRecord(
                        kind="notice",
                        key=f"RMA#{kind}#{anniversary:%Y-%m}",
                        occurred_on=sent,
                        recorded_on=sent,
                        credential="RMA",
                        summary=f"Renewal notice ({kind})",
                        data={"channel": "email", "period": f"{anniversary:%Y-%m}"},
                    ),
                )
            )
        if (year + 1) % 3 == 0:
            items.append(
                repo.event_item(
                    member_id,
                    EventRecord(
                        kind="cycle_started",
                        key=f"RMA#cycle_started#{anniversary.isoformat()}",
                        occurred_on=anniversary,
                        recorded_on=anniversary,
                        credential="RMA",
                        summary="CCP cycle started",
                        data={"cycle": (year + 1) // 3 + 1},
                    ),
                )
            )
        year += 1
    return items


def _status_read(counter: Any, member_id: str) -> dict[str, Any]:
    counter.take()
    response = _call("GET", f"/members/{member_id}/status")
    calls, items, size = counter.take()
    return {
        "requests": dict(calls),
        "items_read": items,
        "bytes_read": size,
        "rcu_eventually_consistent": query_rcu(size),
        "status": [cert.get("status") for cert in response.get("certifications", [])],
    }


def main() -> int:
    from bench.counting import fast_partition_queries

    fast_partition_queries()
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=os.environ["TABLE_NAME"], **tpl.table_definition()
        )
        from shared.config.settings import get_policy
        from shared.rules.dates import add_years
        from shared.services.checkpoints import CheckpointWriter
        from shared.store import dynamo
        from shared.store.members import MemberRepository

        repo = MemberRepository(os.environ["TABLE_NAME"])

        dynamo.reset_default_client()
        counter = Counting().attach(dynamo.default_client())
        by_years: dict[str, Any] = {}
        for years in YEARS:
            member_id = f"hist-{years}y"
            certified = add_years(AS_OF, -years) - timedelta(days=10)
            roster = {
                "first_name": "History",
                "last_name": f"{years} years",
                "email": f"{member_id}@example.org",
                "certifications": [{"credential": "RMA", "certified_on": certified.isoformat()}],
            }
            _call("PUT", f"/members/{member_id}", roster)
            history = _history(member_id, certified)
            bulk_put(os.environ["TABLE_NAME"], history)
            without = _status_read(counter, member_id)
            # the checkpoint the daily run writes when it evaluates the certification on its last
            # fee anniversary (its cadence: docs/data-model.md)
            last_due = add_years(certified, years)
            record = repo.load(member_id)
            assert record is not None
            assert CheckpointWriter(repo, get_policy()).settle(record, "RMA", last_due)[0]
            with_checkpoint = _status_read(counter, member_id)
            assert with_checkpoint.pop("status") == without.pop("status")
            by_years[str(years)] = {
                "history_items": len(history),
                "checkpoint_through": (last_due - timedelta(days=1)).isoformat(),
                **with_checkpoint,
                "without_checkpoint": without,
            }
    one, thirty = by_years["1"]["rcu_eventually_consistent"], by_years["30"]["rcu_eventually_consistent"]
    figures = {
        "as_of": AS_OF.isoformat(),
        "by_years": by_years,
        "rcu_growth_30y_over_1y": round(thirty / one, 2),
        "rcu_growth_30y_over_1y_without_checkpoint": round(
            by_years["30"]["without_checkpoint"]["rcu_eventually_consistent"]
            / by_years["1"]["without_checkpoint"]["rcu_eventually_consistent"],
            2,
        ),
        "target": "status read RCU at 30 years <= 1.5 x at 1 year",
        "meets_target": thirty <= 1.5 * one,
        "how": (
            "a checkpoint per certification (written by the daily run) and one Query of RecordedIndex: "
            "header items, then facts newest recorded first, stopping at the checkpoint's day (first page "
            "12 items); without a checkpoint the same Query reads every fact (events stay out of it)"
        ),
    }
    merge_results({"partition_growth": figures})
    for years, entry in by_years.items():
        print(
            f"{years:>3} years: {entry['history_items']:4} history items, {entry['items_read']:4} items read, "
            f"{entry['bytes_read']:7} bytes, {entry['rcu_eventually_consistent']} RCU, {entry['requests']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
