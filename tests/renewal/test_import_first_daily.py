"""A bulk import followed by the first daily run: exactly the notices due from the cutover on, none
for the past (200 members here; 10,000 in the slow tier)."""

# ruff: noqa: F811 - the daily-run fixtures are imported from test_daily and used as arguments

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import boto3
import pytest

from shared.config.settings import get_policy
from shared.rules.dates import add_years, day_before, last_of_month
from shared.rules.models import Certification, OpeningBalance, Standing
from shared.rules.schedule import notices_due
from shared.rules.status import evaluate
from tests.helpers import invoke
from tests.renewal.conftest import BUCKET
from tests.renewal.test_daily import FakeNotifier, daily, notifier  # noqa: F401 - fixtures

CUTOVER = date(2024, 3, 20)
HEADER = "member_id,first_name,last_name,email,credential,certified_on,cutover_on,paid_through,cycle_start,points,standing"


def population(size: int) -> list[tuple[str, Certification, OpeningBalance]]:
    """Active members certified 2008-2022 on spread-out days (a tenth with a CCP notice due on the
    cutover day), fees paid up to the fee whose month ends on or after the cutover, CCP points short
    in the cycle containing it."""
    policy = get_policy()
    found = []
    for i in range(size):
        certified = date(2008 + i % 15, 1 + (i * 7) % 12, 1 + (i * 11) % 28)
        if i % 10 == 0:  # a cycle ending 2024-04-19, 06-18 or 09-16: a CCP notice due on the cutover day
            month, day = ((4, 20), (6, 19), (9, 17))[(i // 10) % 3]
            certified = date(2012 + 3 * ((i // 30) % 4), month, day)
        n = 1
        while last_of_month(add_years(certified, n)) < CUTOVER:
            n += 1
        cycles = 0
        while add_years(certified, 3 * (cycles + 1)) <= CUTOVER:
            cycles += 1
        cert = Certification(credential="RMA", certified_on=certified)
        balance = OpeningBalance(
            key="RMA",
            recorded_on=CUTOVER,
            credential="RMA",
            cutover_on=CUTOVER,
            paid_through=day_before(add_years(certified, n)),
            cycle_start=add_years(certified, 3 * cycles),
            points={"professional_education": 5},  # type: ignore[dict-item]
            standing=Standing.ACTIVE,
        )
        assert evaluate(cert, [balance], CUTOVER, policy).status is Standing.ACTIVE
        found.append((f"p{i:05d}", cert, balance))
    return found


def csv_of(members: list[tuple[str, Certification, OpeningBalance]]) -> bytes:
    lines = [HEADER]
    for member_id, cert, b in members:
        lines.append(
            f"{member_id},Ana,Quintero,{member_id}@example.org,RMA,{cert.certified_on},{b.cutover_on},"
            f"{b.paid_through},{b.cycle_start},professional_education=5,active"
        )
    return ("\n".join(lines) + "\n").encode()


def notices(aws: dict[str, Any]) -> list[tuple[str, str]]:
    """(member, kind@period) of every notice recorded in the table."""
    found = []
    for page in aws["dynamodb"].get_paginator("scan").paginate(TableName=aws["table"]):
        for item in page["Items"]:
            if item["sk"]["S"].startswith("EVENT#notice#"):
                _, _, _credential, kind, period = item["sk"]["S"].split("#", 4)
                found.append((item["pk"]["S"].removeprefix("MEMBER#"), f"{kind}@{period}"))
    return found


@pytest.mark.parametrize("size", [200, pytest.param(10_000, marks=pytest.mark.slow)])
def test_first_daily_run_after_an_import_sends_only_what_is_due_from_the_cutover(
    renewal_aws: dict[str, Any], daily: Any, notifier: FakeNotifier, business_date: Any, size: int
) -> None:
    members = population(size)
    policy = get_policy()
    due_now: set[tuple[str, str]] = set()
    due_without_cutover: set[tuple[str, str]] = set()
    for member_id, cert, balance in members:
        status = evaluate(cert, [balance], CUTOVER, policy)
        due_now.update((member_id, f"{n.kind}@{n.period}") for n in notices_due(status, CUTOVER, policy))
        stale = notices_due(status.model_copy(update={"cutover_on": None}), CUTOVER, policy)
        due_without_cutover.update((member_id, f"{n.kind}@{n.period}") for n in stale)
    # the population has notices dated before the cutover (what a naive run would send) and on it
    assert due_now
    assert due_without_cutover - due_now

    business_date(CUTOVER.isoformat())
    key = "roster-imports/first-run.csv"
    body = csv_of(members)
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key=key, Body=body)
    record = {"s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": len(body)}}}
    invoke(
        "CeUploadFunction",
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", **record}]},
    )
    report = json.loads(
        boto3.client("s3", region_name="us-east-1")
        .get_object(Bucket=BUCKET, Key="roster-imports-results/first-run.json")["Body"]
        .read()
    )
    assert (report["accepted"], report["refused"]) == (size, [])

    summary = daily(CUTOVER.isoformat())
    assert (summary.due, summary.transitions, summary.cycles_started) == (size, 0, 0)
    sent = set(notices(renewal_aws))
    assert sent == due_now
    assert len(notifier.emails) == len(due_now)
    later = daily((CUTOVER + timedelta(days=1)).isoformat())  # nothing of the past comes later either
    assert later.notices == 0
