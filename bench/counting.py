"""Shared by the bench scripts: a DynamoDB request counter on botocore event hooks, the bench-only
moto speed-up for base-table Queries, and the results.json merge.

``Counting`` registers ``before-call`` (one per request, by operation) and ``after-call`` (items
returned and their size, from the parsed response) on a client's event system. Everything counted is
at the botocore level, so the figures are the requests the code makes, whatever answers them.
Thread-safe: the CSV ingest loads members from several threads.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

# What every bench process runs under: moto credentials, no tracing or metrics, quiet logs.
_BASE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}


def bench_environment(**variables: str) -> None:
    """Set the bench process environment (in-process moto, never a real endpoint) plus ``variables``
    (TABLE_NAME, STAYCERT_BUSINESS_DATE, ...). Call before the handlers read their settings."""
    os.environ.update({**_BASE_ENVIRONMENT, **variables})
    os.environ.pop("AWS_ENDPOINT_URL", None)


RESULTS = Path(__file__).resolve().parent / "results.json"
RCU_BYTES = 4096  # one read capacity unit: a strongly consistent read of up to 4 KB


def attribute_bytes(value: Any) -> int:
    """Approximate DynamoDB size of one attribute value in wire form (name bytes counted by the caller):
    strings by UTF-8 length, numbers by digits, maps/lists by their elements plus 3 bytes each."""
    (kind, inner), *_ = value.items()
    if kind in ("S", "N"):
        return len(str(inner).encode())
    if kind == "B":
        return len(inner)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_bytes(v) for v in inner)
    if kind in ("SS", "NS"):
        return sum(len(str(v).encode()) for v in inner)
    return len(json.dumps(inner))


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_bytes(value) for name, value in item.items())


class Counting:
    """Counts DynamoDB requests by operation (before-call) and the items/bytes returned (after-call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.bytes = 0
        self.consumed_rcu = 0.0

    def attach(self, client: Any) -> Counting:
        client.meta.events.register("before-call.dynamodb.*", self.before)
        client.meta.events.register("after-call.dynamodb.*", self.after)
        return self

    def before(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[model.name if model is not None else "?"] += 1

    def after(self, model: Any = None, parsed: Any = None, **_: Any) -> None:
        parsed = parsed or {}
        found: list[dict[str, Any]] = []
        if "Items" in parsed:
            found = parsed["Items"]
        elif "Item" in parsed:
            found = [parsed["Item"]]
        elif "Responses" in parsed and isinstance(parsed["Responses"], dict):
            found = [item for items in parsed["Responses"].values() for item in items]
        size = sum(item_bytes(item) for item in found)
        with self._lock:
            self.items += len(found)
            self.bytes += size

    def take(self) -> tuple[Counter[str], int, int]:
        """(requests by operation, items returned, bytes returned) since the last take; resets."""
        with self._lock:
            taken = (self.calls, self.items, self.bytes)
            self.calls, self.items, self.bytes = Counter(), 0, 0
        return taken

    def take_requests(self) -> Counter[str]:
        return self.take()[0]


def query_rcu(total_bytes: int, *, consistent: bool = False) -> float:
    """Read units of one Query returning ``total_bytes``: summed item sizes rounded up to 4 KB, half
    for an eventually consistent read (on-demand RRUs follow the same rule)."""
    units = max(1, -(-total_bytes // RCU_BYTES))
    return float(units) if consistent else units / 2


def fast_partition_queries() -> None:
    """Bench-only speed-up of moto: its base-table Query compares the key of EVERY item in the table
    (seconds per Query once the table holds 10,000+ items). Restrict that scan to the queried
    partition. Request and item counts are unaffected (they are counted in botocore).
    Call it before any table is created."""
    from moto.dynamodb.models.table import StreamShard, Table

    if getattr(Table, "_bench_fast", False):
        return
    original_query, original_all_items = Table.query, Table.all_items
    scope = threading.local()

    def all_items(self: Any) -> Any:
        if getattr(scope, "table", None) is self:
            return scope.partition
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name is not None or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        scope.table = self
        scope.partition = sorted(self.items.get(hash_key, {}).values(), key=lambda item: item.range_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            scope.table = scope.partition = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    Table._bench_fast = True  # type: ignore[attr-defined]
    # No stream records either: nothing in the bench consumes the table stream, and moto builds each
    # record with deep copies and JSON (most of the time of a BatchWriteItem).
    StreamShard.add = lambda self, old, new: None  # type: ignore[method-assign]


def merge_results(figures: dict[str, Any]) -> None:
    """Merge ``figures`` (top-level keys) into bench/results.json."""
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def bulk_put(table_name: str, items: list[dict[str, Any]]) -> None:
    """Bench-only seeding: store items (wire form) straight into in-process moto's table - the same
    ``Item`` objects a PutItem stores, without request parsing, validation and stream records. Seeding
    is not what is measured; through the API it takes minutes for 50,000 members."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(table_name)
    for attrs in items:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr])
        table.items[hash_value][range_value] = Item(hash_value, range_value, attrs)
