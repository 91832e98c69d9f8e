"""The table's stream under in-process moto, handed to the stream consumer like Lambda would.

Known trap (docs/architecture.md): with moto 5 and botocore >= 1.44 the ``dynamodbstreams`` client needs an explicit
``endpoint_url`` in-process. Records are read from the real (moto) stream of the writes the handlers
made, so the consumer sees exactly what the table produced - nothing is hand-built.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.helpers import invoke

STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"


class StreamTap:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.client = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.iterators = {
            shard["ShardId"]: self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for shard in shards
        }
        self.seen: list[dict[str, Any]] = []  # every record ever drained (for redelivery tests)

    def drain(self) -> list[dict[str, Any]]:
        """New stream records since the last drain, in the Lambda event record shape."""
        records: list[dict[str, Any]] = []
        for shard_id, iterator in list(self.iterators.items()):
            response = self.client.get_records(ShardIterator=iterator)
            self.iterators[shard_id] = response["NextShardIterator"]
            records += [{**r, "eventSourceARN": self.arn} for r in response["Records"]]
        records = json.loads(json.dumps(records, default=str))
        self.seen += records
        return records

    def deliver(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Hand records (default: everything new) to the stream consumer in one batch."""
        batch = self.drain() if records is None else records
        if not batch:
            return {"batchItemFailures": []}
        result: dict[str, Any] = invoke("BadgeIssueFunction", {"Records": batch})
        return result

    def settle(self, rounds: int = 5) -> None:
        """Deliver until the consumer's own writes produce nothing new (like the local stack)."""
        for _ in range(rounds):
            batch = self.drain()
            if not batch:
                return
            result = self.deliver(batch)
            assert result["batchItemFailures"] == [], result
