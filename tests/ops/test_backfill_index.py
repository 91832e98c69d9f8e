"""Migration to RecordedIndex: items written before it existed (no ``rec_sk``) are not seen by the
status read until ``staycert ops backfill-index`` gives them their key."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import boto3

from local import ops
from shared.config.settings import get_policy
from shared.rules.models import FeePayment
from shared.rules.status import evaluate
from shared.store import keys
from shared.store.dynamo import default_client
from shared.store.members import MemberRepository
from tests.conftest import TABLE
from tests.helpers import call_api


@dataclass
class MotoTarget:
    """The ops tools' target over in-process moto (the tests' table)."""

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")

    def physical_id(self, logical_id: str) -> str:
        assert logical_id == "StayCertTable"
        return TABLE

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        raise AssertionError("not used")


def _without_index_key(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name != keys.RECORDED_SK}


def test_backfill_gives_old_items_their_recorded_index_key(aws: dict[str, Any], business_date: Any) -> None:
    business_date("2024-06-01")
    body = {
        "first_name": "Ana",
        "last_name": "Diaz",
        "email": "ana@example.org",
        "certifications": [{"credential": "RMA", "certified_on": "2019-05-14"}],
    }
    assert call_api("PUT", "/members/ana", body).status == 201
    repository = MemberRepository(TABLE)
    payment = FeePayment(
        key="pi_1",
        recorded_on=date(2020, 5, 1),
        credential="RMA",
        purpose="annual_fee",
        paid_on=date(2020, 5, 1),
        amount_cents=5000,
    )
    # the old layout: the same items without rec_sk
    client = default_client()
    for item in (repository.fact_item("ana", payment), *_raw_partition(client)):
        client.put_item(TableName=TABLE, Item=_without_index_key(item))
    assert repository.load_recent("ana") is None  # RecordedIndex has nothing of the member
    reads = Counter[str]()
    client.meta.events.register(
        "before-parameter-build.dynamodb.Query",
        lambda params, **_: reads.update([params.get("IndexName", "table")]),
    )
    assert call_api("GET", "/members/ana/status").status == 200  # served from the whole partition
    assert reads == {"RecordedIndex": 1, "table": 1}

    assert ops.backfill_recorded_index(MotoTarget()) == 3  # profile, certification row, payment
    assert ops.backfill_recorded_index(MotoTarget()) == 0  # idempotent

    record = repository.load("ana")
    assert record is not None
    expected = evaluate(
        record.certifications["RMA"].as_certification(), record.facts, date(2024, 6, 1), get_policy()
    )
    response = call_api("GET", "/members/ana/status")
    assert response.status == 200
    assert response.body["certifications"][0]["fees"]["fees_paid"] == expected.fees.fees_paid == 1


def _raw_partition(client: Any) -> list[dict[str, Any]]:
    return client.query(
        TableName=TABLE,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": keys.PK},
        ExpressionAttributeValues={":pk": {"S": keys.member_pk("ana")}},
    )["Items"]
