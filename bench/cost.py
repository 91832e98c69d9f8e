"""The AWS bill from the measured counts: reads bench/results.json, writes docs/cost.md and prints the
benchmark summary table (every figure beside its target).

Run: ``.venv/bin/python -m bench.cost`` (``make bench`` runs it after the bench scripts).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
COST_DOC = ROOT / "docs" / "cost.md"

REGION = "us-east-1"
PRICES_AS_OF = "2025-06 (AWS public list prices, on-demand, no free tier, no savings plans)"
# USD list prices, us-east-1.
PRICE = {
    "lambda_request": 0.20 / 1e6,  # per request
    "lambda_gb_second_arm64": 0.0000133334,  # first 7.5 billion GB-s per month
    "ddb_wru": 0.625 / 1e6,  # on-demand write request unit (price as cut on 2024-11-01)
    "ddb_rru": 0.125 / 1e6,  # on-demand read request unit
    "ddb_storage_gb_month": 0.25,
    "http_api_request": 1.00 / 1e6,  # first 300 million per month, per 512 KB
    "ses_email": 0.10 / 1000,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_storage_gb_month": 0.023,
    "scheduler_invocation": 1.00 / 1e6,  # after 14 million free per month
}

# Traffic assumptions, per member per year (stated in the doc).
ASSUME = {
    "status_reads": 12,  # portal/staff status, timeline, standing reads
    "roster_upserts": 1,
    "stripe_deliveries": 3,  # one annual fee arrives as ~3 event types (checkout, payment_intent, invoice)
    "refunds": 0.02,
    "courses_xapi": 8,  # online CE courses; each a cmi5 sequence of 6 statements in one POST
    "csv_rows": 2,  # provider-reported CE rows
    "emails": 4,  # renewal 60/30, CCP progress, lapse/audit: see the daily run figures
    "mailed_share": 0.10,  # notices also printed (members with a postal address)
    "evidence_uploads": 0.1,  # audit / recertification evidence files
    "self_reported_activities": 3,  # activities members record themselves (each PUT once, 1 retry in 3)
}
LAMBDA_MEMORY_GB = 0.5  # 512 MB arm64
LAMBDA_MS = {"api": 120, "daily_per_due": 60, "csv_per_row": 5}  # assumed warm durations
WCU_PER = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "TransactWriteItems": 6, "BatchWriteItem": 25}
RCU_PER = {"GetItem": 0.5, "BatchGetItem": 2.0}  # Query: measured (partition_growth)


@dataclass
class Bill:
    members: int
    lines: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.lines.values())


def _units(calls: dict[str, int], query_rru: float) -> tuple[float, float]:
    reads = sum(n * RCU_PER.get(op, 0.0) for op, n in calls.items()) + calls.get("Query", 0) * query_rru
    writes = sum(n * WCU_PER.get(op, 0) for op, n in calls.items())
    return reads, writes


def per_member_year(results: dict[str, Any]) -> dict[str, float]:
    """Requests, invocations, read/write units per member per year, from the measured counts."""
    events = results["requests_per_event"]["per_event"]
    growth = results["partition_growth"]["by_years"]
    # a member with 10 years of history read without a checkpoint: every fact (what the writers' and
    # the daily run's Queries read; status reads from a checkpoint cost less)
    query_rru = float(growth["10"]["without_checkpoint"]["rcu_eventually_consistent"])
    bytes_per_member = float(growth["10"]["without_checkpoint"]["bytes_read"])
    daily = results["renewal_daily"]
    due_per_member_year = daily["due_on_run_date"] / daily["members"] * 365
    csv = results["ce_csv"]
    cmi5_requests = results["ce_xapi"]["cmi5_sequence_6_statements_one_request"]

    rru = wru = 0.0
    for name, per_year in (
        ("status_read", ASSUME["status_reads"]),
        ("roster_upsert_new", ASSUME["roster_upserts"]),
        ("stripe_payment", 1),
        ("stripe_payment_duplicate", ASSUME["stripe_deliveries"] - 1),
        ("stripe_refund", ASSUME["refunds"]),
        ("activity_record", ASSUME["self_reported_activities"]),
        ("activity_record_repeat", ASSUME["self_reported_activities"] / 3),
    ):
        r, w = _units(events[name]["ours_calls"], query_rru)
        rru, wru = rru + r * per_year, wru + w * per_year
    # cmi5: measured requests of one 6-statement POST; as crediting statements (Query + transaction)
    xapi_r, xapi_w = _units(events["xapi_statement"]["ours_calls"], query_rru)
    rru += ASSUME["courses_xapi"] * xapi_r * cmi5_requests / 2
    wru += ASSUME["courses_xapi"] * xapi_w * cmi5_requests / 2
    csv_r, csv_w = _units(csv["requests_by_operation"], query_rru)
    rru += ASSUME["csv_rows"] * csv_r / csv["rows"]
    wru += ASSUME["csv_rows"] * csv_w / csv["rows"]
    daily_r, daily_w = _units(daily["requests"], query_rru)
    rru += due_per_member_year * daily_r / max(daily["due_on_run_date"], 1)
    wru += due_per_member_year * daily_w / max(daily["due_on_run_date"], 1)

    api_invocations = (
        ASSUME["status_reads"]
        + ASSUME["roster_upserts"]
        + ASSUME["stripe_deliveries"]
        + ASSUME["refunds"]
        + ASSUME["courses_xapi"]
        + ASSUME["self_reported_activities"] * 4 / 3
    )
    return {
        "api_requests": api_invocations,
        "lambda_gb_seconds": LAMBDA_MEMORY_GB
        * (
            api_invocations * LAMBDA_MS["api"]
            + due_per_member_year * LAMBDA_MS["daily_per_due"]
            + ASSUME["csv_rows"] * LAMBDA_MS["csv_per_row"]
        )
        / 1000,
        "lambda_invocations": api_invocations + ASSUME["evidence_uploads"],
        "rru": rru,
        "wru": wru,
        "emails": ASSUME["emails"],
        "s3_puts": ASSUME["evidence_uploads"] + ASSUME["emails"] * ASSUME["mailed_share"] / 50,
        "bytes_stored": bytes_per_member,
        "due_per_member_year": due_per_member_year,
        "query_rru": query_rru,
    }


def monthly_bill(members: int, unit: dict[str, float]) -> Bill:
    month = members / 12
    daily_invocations = 30 * 2  # the daily schedule (+ 1 retry budget), independent of members
    lines = {
        "Lambda requests": (unit["lambda_invocations"] * month + daily_invocations) * PRICE["lambda_request"],
        "Lambda GB-seconds (arm64, 512 MB)": unit["lambda_gb_seconds"]
        * month
        * PRICE["lambda_gb_second_arm64"],
        "DynamoDB reads (RRU)": unit["rru"] * month * PRICE["ddb_rru"],
        "DynamoDB writes (WRU)": unit["wru"] * month * PRICE["ddb_wru"],
        "DynamoDB storage": members * unit["bytes_stored"] / 1e9 * PRICE["ddb_storage_gb_month"],
        "API Gateway HTTP API": unit["api_requests"] * month * PRICE["http_api_request"],
        "SES e-mail": unit["emails"] * month * PRICE["ses_email"],
        "S3 requests": unit["s3_puts"] * month * PRICE["s3_put"],
        "EventBridge Scheduler": 30 * PRICE["scheduler_invocation"],
    }
    return Bill(members, lines)


def render_cost(results: dict[str, Any]) -> str:
    unit = per_member_year(results)
    bills = [monthly_bill(n, unit) for n in (100_000, 1_000_000)]
    out = [
        "# What it costs to run: the monthly AWS bill",
        "",
        "<!-- generated by `python -m bench.cost` from bench/results.json; `make bench` regenerates it -->",
        "",
        f"Generated by `make bench` (or `.venv/bin/python -m bench.cost`) from the counts measured in "
        f"[bench/results.json](../bench/results.json). Region **{REGION}**; prices are AWS list prices as of "
        f"**{PRICES_AS_OF}** - check the pricing pages before quoting them. Free tiers are ignored.",
        "",
        "| monthly cost (USD) | 100,000 members | 1,000,000 members |",
        "|---|---:|---:|",
    ]
    for line in bills[0].lines:
        out.append(f"| {line} | {bills[0].lines[line]:,.2f} | {bills[1].lines[line]:,.2f} |")
    out.append(f"| **total** | **{bills[0].total:,.2f}** | **{bills[1].total:,.2f}** |")
    out += [
        "",
        "## Assumptions (per member per year)",
        "",
        "| traffic | per member per year |",
        "|---|---:|",
    ]
    out += [f"| {name.replace('_', ' ')} | {value:g} |" for name, value in ASSUME.items()]
    out += [
        f"| certifications due in the daily run (measured spread) | {unit['due_per_member_year']:.2f} |",
        "",
        "Derived per member per year: "
        f"{unit['api_requests']:g} API requests, {unit['lambda_invocations']:g} Lambda invocations, "
        f"{unit['lambda_gb_seconds']:.2f} GB-s, {unit['rru']:.1f} RRU, {unit['wru']:.1f} WRU.",
        "",
        "- **DynamoDB requests** per event are the measured ones (`requests_per_event`, `ce_xapi`, `ce_csv`, "
        "`renewal_daily` in results.json). Units per request: a partition Query is the measured read capacity "
        f"of a member with 10 years of history ({unit['query_rru']} RRU, eventually consistent; "
        "`partition_growth`); GetItem 0.5, BatchGetItem 2 RRU (consistent, ~2 items found); PutItem 1 WRU "
        "(items under 1 KB); TransactWriteItems 6 WRU (3 items, transactional writes cost double); "
        "BatchWriteItem 25 WRU.",
        "- **Stripe**: each annual fee arrives as ~3 event types; the first credits (2 requests), the others are "
        "duplicates (1 request each).",
        "- **xAPI**: one POST per course with the cmi5 sequence (6 statements); its measured requests "
        f"({results['ce_xapi']['cmi5_sequence_6_statements_one_request']}) are costed as crediting statements.",
        f"- **Lambda**: {int(LAMBDA_MEMORY_GB * 1024)} MB arm64; assumed warm durations "
        f"{LAMBDA_MS['api']} ms per API/webhook request, {LAMBDA_MS['daily_per_due']} ms per certification "
        f"due in the daily run, {LAMBDA_MS['csv_per_row']} ms per CSV row (moto timings are not "
        "representative of Lambda, so durations are assumptions, not measurements).",
        "- **Storage**: the measured partition size of a member with 10 years of history "
        f"({unit['bytes_stored'] / 1024:.1f} KB), without index overhead. RecordedIndex (status reads "
        "from checkpoints) holds a second copy of the facts and header items, and each write of one is "
        "also a write to that index (about 1 WRU more per fact written); neither is in the figures above.",
        "- **Not included**: CloudWatch Logs and X-Ray (usually the largest line at this scale: keep log level "
        "at INFO with one line per request), Secrets Manager ($0.40 per secret per month plus API calls, "
        "cached 5 min), KMS, data transfer, Credly and Stripe fees.",
        "- Powertools `@idempotent` on the webhooks and statements would add the `extra_with_powertools` "
        "requests of `requests_per_event` (2 writes per first delivery).",
        "",
    ]
    if "ce_roster" in results:
        out += _import_cost(results["ce_roster"])
    return "\n".join(out)


def _import_cost(roster: dict[str, Any]) -> list[str]:
    """The one-off bulk roster import, measured at ``rows`` and extrapolated linearly (every request
    is per chunk of members: nothing in it grows faster than the file)."""
    rows = roster["rows"]
    rru, wru = _units(roster["requests_by_operation"], 0.5)
    out = [
        "## One-off: the bulk roster import",
        "",
        f"Measured on moto with {rows:,} rows ({roster['members']:,} members): {roster['requests']:,} DynamoDB "
        f"requests ({roster['requests_per_row']} per row: "
        + ", ".join(f"{op} {n:,}" for op, n in sorted(roster["requests_by_operation"].items()))
        + f"), {roster['rows_per_second_moto']:,} rows/s in-process; the re-upload wrote no member item "
        f"({roster['reupload_requests']:,} requests: reads and its chunk progress items). The first daily run on the cutover date "
        f"made {roster['first_daily_run']['requests']:,} requests ("
        + ", ".join(
            f"{op} {n:,}" for op, n in sorted(roster["first_daily_run"]["requests_by_operation"].items())
        )
        + f") for {roster['first_daily_run']['due']:,} certifications due and sent "
        f"{roster['first_daily_run']['notices']} notices (transitions {roster['first_daily_run']['transitions']}): "
        "nothing dated before the cutover.",
        "",
        "| rows | DynamoDB requests | write units | cost (USD) |",
        "|---:|---:|---:|---:|",
    ]
    for size in (rows, 100_000, 1_000_000):
        factor = size / rows
        cost = (wru * PRICE["ddb_wru"] + rru * PRICE["ddb_rru"]) * factor
        out.append(
            f"| {size:,} | {round(roster['requests'] * factor):,} | {round(wru * factor):,} | {cost:,.2f} |"
        )
    batch_writes = roster["requests_by_operation"].get("BatchWriteItem", 0) * 100_000 // rows
    out += [
        "",
        f"At 100,000 rows the import is about {batch_writes:,} BatchWriteItem requests, in chunks of 250 "
        "members; each chunk's progress is recorded, and an invocation stops with 20 s left and fails, so "
        "Lambda's retries of the S3 event (2) continue after the last completed chunk, and uploading the "
        f"file again continues after those. At the {roster['rows_per_second_moto']} rows/s measured "
        "in-process on moto (DynamoDB itself is not the bottleneck at these request counts), 100,000 rows "
        f"are about {100_000 / roster['rows_per_second_moto'] / 60:.0f} minutes of work: more than one "
        "10-minute invocation is handled, not required to fit.",
        "",
    ]
    return out


def _row(figure: str, value: Any, target: str, ok: bool | None) -> str:
    verdict = "-" if ok is None else ("meets" if ok else "MISSES")
    return f"| {figure} | {value} | {target} | {verdict} |"


_REQUEST_TARGETS = {
    "status_read": "1 Query",
    "activity_record": "<= 2",
    "activity_record_repeat": "1",
    "activity_list": "= status read",
}


def _meets_request_target(name: str, entry: dict[str, Any], rpe: dict[str, Any]) -> bool | None:
    if name.startswith(("stripe", "xapi")) or name == "activity_record":
        return bool(entry["ours"] <= 2)
    if name == "activity_record_repeat":
        return bool(entry["ours"] <= 1)
    if name == "activity_list":
        return bool(entry["ours_calls"] == rpe["per_event"]["status_read"]["ours_calls"])
    if name == "status_read":
        return bool(rpe["meets_target_status_read"])
    return None


def summary_table(results: dict[str, Any]) -> str:
    rows = ["| figure | measured | target | verdict |", "|---|---|---|---|"]
    if "requests_per_event" in results:
        rpe = results["requests_per_event"]
        for name, entry in rpe["per_event"].items():
            rows.append(
                _row(
                    f"DynamoDB requests: {name}",
                    f"{entry['ours']} (Powertools @idempotent: {entry['powertools_idempotent']}, "
                    f"+{entry['extra_with_powertools']})",
                    _REQUEST_TARGETS.get(name, "<= 2" if name.startswith(("stripe", "xapi")) else ""),
                    _meets_request_target(name, entry, rpe),
                )
            )
    if "renewal_webhook" in results:
        rw = results["renewal_webhook"]
        rows.append(_row("Stripe webhook, worst of 12 cases", rw["max_requests"], "<= 2", rw["meets_target"]))
    if "ce_xapi" in results:
        x = results["ce_xapi"]
        rows.append(
            _row(
                "xAPI statement / resend / void (max)",
                f"{x['requests_per_crediting_statement_max']} / {x['requests_per_resend_max']} / "
                f"{x['requests_per_voiding_statement']}",
                "<= 2",
                x["meets_target"],
            )
        )
    if "renewal_daily" in results:
        for members, d in results["renewal_daily"].get("by_members", {}).items():
            rows.append(
                _row(
                    f"daily run, {int(members):,} members: DueIndex entries read / due",
                    f"{d['due_index_entries_read']} / {d['due_on_run_date']} = {d['index_entries_per_due']}",
                    "<= 1.5",
                    d["meets_target_due_index"],
                )
            )
            for label, run in (("first run", d.get("first_run", d)), ("steady state", d.get("steady_state"))):
                if run is None:
                    continue
                rows.append(
                    _row(
                        f"daily run, {int(members):,} members, {label}: all items read / due",
                        f"{run['items_read_total']} / {run['due_on_run_date']} = {run['items_read_per_due']} "
                        f"({run['requests_total']} requests)",
                        "<= 1.5",
                        run["meets_target_all_items"],
                    )
                )
    if "ce_csv" in results:
        c = results["ce_csv"]
        rows.append(
            _row(
                f"CE CSV {c['rows']:,} rows / {c['members']:,} members: requests",
                f"{c['requests']} ({c['rows_per_second_moto']} rows/s in-process on moto)",
                f"<= {c['budget']}",
                c["meets_target"],
            )
        )
    if "ce_roster" in results:
        r = results["ce_roster"]
        rows.append(
            _row(
                f"roster import {r['rows']:,} rows: requests per row",
                f"{r['requests_per_row']} ({r['rows_per_second_moto']} rows/s in-process on moto; "
                f"re-upload {r['reupload_requests']} requests)",
                "batched",
                None,
            )
        )
    if "cold_start" in results:
        cs = results["cold_start"]
        for name, entry in cs["per_handler"].items():
            rows.append(
                _row(
                    f"cold start {name} / boto3+client",
                    f"{entry['ratio']}x ({entry['init_ms']} ms vs {cs['baseline_ms']} ms)",
                    f"<= {cs['target_ratio']}x",
                    entry["ratio"] <= cs["target_ratio"],
                )
            )
    if "partition_growth" in results:
        pg = results["partition_growth"]
        for years, entry in pg["by_years"].items():
            rows.append(
                _row(
                    f"status read RCU, {years} years of history (checkpoint; without)",
                    f"{entry['rcu_eventually_consistent']} ({entry['items_read']} items, {entry['bytes_read']:,} B);"
                    f" {entry['without_checkpoint']['rcu_eventually_consistent']}",
                    "<= 1.5 x 1 year",
                    None
                    if years == "1"
                    else entry["rcu_eventually_consistent"]
                    <= 1.5 * pg["by_years"]["1"]["rcu_eventually_consistent"],
                )
            )
    return "\n".join(rows)


def main() -> int:
    results: dict[str, Any] = json.loads(RESULTS.read_text())
    needed = ("requests_per_event", "partition_growth", "renewal_daily", "ce_csv", "ce_xapi")
    if all(key in results for key in needed):
        COST_DOC.write_text(render_cost(results))
        totals = [monthly_bill(n, per_member_year(results)).total for n in (100_000, 1_000_000)]
        print(f"docs/cost.md: ${totals[0]:,.2f}/month at 100k members, ${totals[1]:,.2f}/month at 1M")
    else:
        print("docs/cost.md not regenerated: results.json lacks", [k for k in needed if k not in results])
    print(summary_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
