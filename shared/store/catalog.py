"""The CE activity catalog and the CE ingest's own records (statement ids, unmatched statements,
quarantined uploads), in the single table. See docs/data-model.md.

| item | pk | sk | ListIndex |
|---|---|---|---|
| catalog activity | ``ACTIVITY#{iri}`` | ``ACTIVITY`` | ``CATALOG`` / iri |
| xAPI statement record | ``XAPI#{statement id}`` | ``STATEMENT`` | ``UNMATCHED_STATEMENT`` / actor#date#id while no member matched |
| quarantined upload | ``QUARANTINE#{original key}`` | ``QUARANTINE`` | ``QUARANTINE`` / date#key |

Unmapped completions need no item of their own: the CE fact carries ``list_pk = UNMAPPED_ACTIVITY``.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable, Iterator
from datetime import date
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, ConditionExpressionBuilder
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from shared.rules.models import ActivitySpec
from shared.store import keys
from shared.store.dynamo import TableAccess, from_item, json_body, to_item

CATALOG_LIST = "CATALOG"
UNMAPPED_LIST = "UNMAPPED_ACTIVITY"
UNMATCHED_LIST = "UNMATCHED_STATEMENT"
QUARANTINE_LIST = "QUARANTINE"
_BATCH_GET_LIMIT = 100
_UNPROCESSED_RETRIES = 8


class PutCondition(StrEnum):
    """What a put in ``transact_new`` requires of the item already under its key."""

    NEW = "new"  # nothing yet
    # nothing yet, or an unmatched statement record with the same content hash (its member takes it over)
    NEW_OR_UNMATCHED = "new_or_unmatched"


def _condition(condition: PutCondition, item: dict[str, Any]) -> dict[str, Any]:
    """The put's ``ConditionExpression`` with its names and values, built together by boto3."""
    expression: ConditionBase = Attr(keys.PK).not_exists()
    if condition is PutCondition.NEW_OR_UNMATCHED:
        content_hash = from_item({"h": item["content_hash"]})["h"]
        expression = expression | (Attr(keys.LIST_PK).exists() & Attr("content_hash").eq(content_hash))
    built = ConditionExpressionBuilder().build_expression(expression)
    parts: dict[str, Any] = {
        "ConditionExpression": built.condition_expression,
        "ExpressionAttributeNames": built.attribute_name_placeholders,
    }
    if built.attribute_value_placeholders:
        parts["ExpressionAttributeValues"] = to_item(built.attribute_value_placeholders)
    return parts


def activity_pk(activity_id: str) -> str:
    return f"ACTIVITY#{activity_id}"


def statement_pk(statement_id: str) -> str:
    return f"XAPI#{statement_id}"


class StatementRecord(BaseModel):
    """What we kept of one xAPI statement id: for voiding (which member, which CE fact) and for the
    same-id-different-content check. ``member_id`` is None while the actor matched no member."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    statement_id: str
    content_hash: str
    verb: str
    client_id: str
    recorded_on: date
    member_id: str | None = None
    fact_key: str | None = None  # the CE fact this statement reported (credited or already credited)
    outcome: str
    reason: str | None = None
    statement: dict[str, Any] | None = None  # kept whole while unmatched, for staff
    actor: str | None = None
    # while unmatched: the member it is for once the roster has them (``member:{id}`` or
    # ``mbox:{e-mail}``); None when no roster change can match it (another LMS's account, ...)
    awaits: str | None = None
    # outcome "voided_early": a placeholder for a statement that was voided before it arrived; the
    # voiding statement's id, applied when the voided statement arrives (out-of-order delivery)
    voided_by: str | None = None


class QuarantineRecord(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    original_key: str
    quarantine_key: str
    reason: str
    recorded_on: date
    size: int | None = None
    content_type: str | None = None


class ListedItems(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    items: list[dict[str, Any]] = Field(default_factory=list)
    next_token: str | None = None


class CatalogRepository(TableAccess):
    """Catalog activities, statement records and listings. ``client`` defaults to the shared one."""

    # ------------------------------------------------------------------ catalog

    def put_activity(self, spec: ActivitySpec, updated_on: date) -> bool:
        """Upsert; True when the activity is new."""
        item = to_item(
            {
                keys.PK: activity_pk(spec.activity_id),
                keys.SK: "ACTIVITY",
                keys.LIST_PK: CATALOG_LIST,
                keys.LIST_SK: spec.activity_id,
                "updated_on": updated_on.isoformat(),
                "body": json_body(spec),
            }
        )
        response = self.client.put_item(TableName=self.table_name, Item=item, ReturnValues="ALL_OLD")
        return not response.get("Attributes")

    def get_activity(self, activity_id: str) -> ActivitySpec | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key=to_item({keys.PK: activity_pk(activity_id), keys.SK: "ACTIVITY"}),
        )
        item = response.get("Item")
        return ActivitySpec.model_validate(from_item(item)["body"]) if item else None

    def get_activities(self, activity_ids: Iterable[str]) -> dict[str, ActivitySpec]:
        """Catalog entries for the ids that exist: BatchGetItem, 100 keys per request."""
        found: dict[str, ActivitySpec] = {}
        wanted = sorted(set(activity_ids))
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            chunk = [
                {keys.PK: activity_pk(a), keys.SK: "ACTIVITY"}
                for a in wanted[start : start + _BATCH_GET_LIMIT]
            ]
            for item in self.batch_get(chunk):
                spec = ActivitySpec.model_validate(item["body"])
                found[spec.activity_id] = spec
        return found

    # ------------------------------------------------------------------ generic batch get

    def batch_get(self, key_values: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Items for up to 100 keys (plain values), retrying UnprocessedKeys with bounded backoff."""
        if not key_values:
            return []
        items: list[dict[str, Any]] = []
        pending: dict[str, Any] = {self.table_name: {"Keys": [to_item(k) for k in key_values]}}
        attempt = 0
        while pending:
            if attempt:
                if attempt > _UNPROCESSED_RETRIES:
                    raise RuntimeError("BatchGetItem left keys unprocessed")
                time.sleep(min(5.0, 0.05 * 2**attempt) * random.random())  # noqa: S311
            response = self.client.batch_get_item(RequestItems=pending)
            attempt += 1
            items.extend(from_item(i) for i in response.get("Responses", {}).get(self.table_name, []))
            pending = response.get("UnprocessedKeys") or {}
        return items

    # ------------------------------------------------------------------ xAPI statement records

    def statement_item(self, record: StatementRecord) -> dict[str, Any]:
        values: dict[str, Any] = {
            keys.PK: statement_pk(record.statement_id),
            keys.SK: "STATEMENT",
            "content_hash": record.content_hash,
            "body": json_body(record),
        }
        if record.outcome == "unmatched":
            values[keys.LIST_PK] = UNMATCHED_LIST
            values[keys.LIST_SK] = _bounded(
                f"{record.awaits or 'nobody'}#{record.recorded_on.isoformat()}#{record.statement_id}"
            )
        return to_item(values)

    def awaiting(self, awaits: str) -> list[StatementRecord]:
        """The unmatched statement records that wait for ``awaits`` (a ``member:`` or ``mbox:`` key):
        one Query of the ListIndex on the ``{awaits}#`` sort-key prefix, paginated; it reads only
        those records (an empty answer costs 0.5 read units)."""
        found: list[StatementRecord] = []
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="#l = :l AND begins_with(#s, :prefix)",
            ExpressionAttributeNames={"#l": keys.LIST_PK, "#s": keys.LIST_SK},
            ExpressionAttributeValues={":l": {"S": UNMATCHED_LIST}, ":prefix": {"S": f"{awaits}#"}},
        ):
            found.extend(StatementRecord.model_validate(from_item(i)["body"]) for i in page.get("Items", []))
        return found

    def awaited(self) -> set[str]:
        """Whom unmatched statements wait for (their ``member:`` and ``mbox:`` keys): the whole
        ``UNMATCHED_STATEMENT`` listing with only ``body.awaits`` projected (one Query per 1 MB page;
        a bulk roster import asks once per chunk instead of twice per member)."""
        paginator = self.client.get_paginator("query")
        found: set[str] = set()
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=keys.LIST_INDEX,
            KeyConditionExpression="#l = :l",
            ProjectionExpression="#b.#a",
            ExpressionAttributeNames={"#l": keys.LIST_PK, "#b": "body", "#a": "awaits"},
            ExpressionAttributeValues={":l": {"S": UNMATCHED_LIST}},
        ):
            for item in page.get("Items", []):
                awaits = from_item(item).get("body", {}).get("awaits")
                if awaits:
                    found.add(str(awaits))
        return found

    def get_statements(self, statement_ids: Iterable[str]) -> dict[str, StatementRecord]:
        wanted = sorted(set(statement_ids))
        found: dict[str, StatementRecord] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            chunk = [{keys.PK: statement_pk(s), keys.SK: "STATEMENT"} for s in wanted[start : start + 100]]
            for item in self.batch_get(chunk):
                record = StatementRecord.model_validate(item["body"])
                found[record.statement_id] = record
        return found

    def put_statement_once(self, record: StatementRecord) -> StatementRecord | None:
        """Conditional put; on an existing id returns what is stored (the caller compares)."""
        existing = self.put_new(self.statement_item(record))
        if existing is None:
            return None
        return StatementRecord.model_validate(existing["body"]) if existing else record

    def transact_new(self, items: list[tuple[dict[str, Any], PutCondition | None]]) -> bool:
        """Put several items in one TransactWriteItems, each with its condition (None: none).
        False when a condition failed (nothing written)."""
        writes: list[dict[str, Any]] = []
        for item, condition in items:
            put: dict[str, Any] = {"TableName": self.table_name, "Item": item}
            if condition:
                put.update(_condition(condition, item))
            writes.append({"Put": put})
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            if reasons and any(
                r.get("Code") not in (None, "None", "ConditionalCheckFailed") for r in reasons
            ):
                raise
            return False
        return True

    # ------------------------------------------------------------------ quarantine

    def record_quarantine(self, record: QuarantineRecord) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    keys.PK: f"QUARANTINE#{record.original_key}",
                    keys.SK: "QUARANTINE",
                    keys.LIST_PK: QUARANTINE_LIST,
                    keys.LIST_SK: f"{record.recorded_on.isoformat()}#{_bounded(record.original_key)}",
                    "body": json_body(record),
                }
            ),
        )

    # ------------------------------------------------------------------ listings (ListIndex)

    def listing(self, list_pk: str, limit: int = 100, token: str | None = None) -> ListedItems:
        """One page of a ListIndex listing, newest first; ``token`` continues a previous page."""
        args: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": keys.LIST_INDEX,
            "KeyConditionExpression": "#l = :l",
            "ExpressionAttributeNames": {"#l": keys.LIST_PK},
            "ExpressionAttributeValues": {":l": {"S": list_pk}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if token:
            args["ExclusiveStartKey"] = _decode_token(token, list_pk)
        response = self.client.query(**args)
        items = [from_item(i) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return ListedItems(items=items, next_token=_encode_token(last) if last else None)

    def iter_listing(self, list_pk: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self.listing(list_pk, limit=500, token=token)
            yield from page.items
            if page.next_token is None:
                return
            token = page.next_token


def _bounded(value: str, limit: int = 900) -> str:
    """``value`` if short enough for a ListIndex sort key (1024 bytes), else a prefix and its hash."""
    if len(value.encode("utf-8")) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return value.encode("utf-8")[: limit - 72].decode("utf-8", "ignore") + "#sha256:" + digest


def _encode_token(key: dict[str, Any]) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_token(token: str, list_pk: str) -> dict[str, Any]:
    import base64
    import json

    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested beyond the parser
        raise ValueError("invalid next_token") from error
    # A ListIndex key: the table and index key attributes, each a DynamoDB string.
    wanted = {keys.PK, keys.SK, keys.LIST_PK, keys.LIST_SK}
    if (
        not isinstance(decoded, dict)
        or set(decoded) != wanted
        or not all(
            isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) and v["S"]
            for v in decoded.values()
        )
        or decoded[keys.LIST_PK]["S"] != list_pk
    ):
        raise ValueError("invalid next_token")
    return decoded
