"""Low-level DynamoDB plumbing shared by the repositories: the client, (de)serialisation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel

from shared import aws
from shared.store.keys import PK

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def default_client() -> Any:
    """The process-wide DynamoDB client (``shared.aws``)."""
    return aws.client("dynamodb")


def reset_default_client() -> None:
    """Forget the cached clients (tests switch endpoints between moto instances)."""
    aws.reset_clients()


class TableAccess:
    """Base of every repository: the table name and an injectable client (``None`` -> the shared
    process-wide client, looked up on each use so tests and the local stack can swap it)."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else default_client()

    def put_new(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Put ``item`` (wire form) unless an item with its key is stored: one request either way.
        None when written; otherwise the stored item, deserialised (what the caller compares)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return from_item(error.response.get("Item") or {})  # type: ignore[arg-type]
        return None


# DynamoDB nests maps and lists at most 32 levels deep (the item's ``body`` attribute is the first)
# and holds numbers of at most 38 significant digits with exponents from -130 to +125.
_MAX_NESTING = 30
_MAX_DIGITS = 38


def json_body(model: BaseModel) -> Any:
    """A model as DynamoDB-safe plain data: JSON types, with Decimals instead of floats. Caller JSON a
    model keeps as it came (an unmatched xAPI statement's ``result``, extensions, ...) is made storable
    rather than refused: a number DynamoDB cannot hold is kept as its decimal text, and what is nested
    deeper than DynamoDB allows as its JSON text."""
    return _storable(json.loads(model.model_dump_json(), parse_float=Decimal), 0)


def _storable(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list):
        if depth >= _MAX_NESTING:
            return json.dumps(value, default=str, separators=(",", ":"))
        if isinstance(value, dict):
            return {key: _storable(inner, depth + 1) for key, inner in value.items()}
        return [_storable(inner, depth + 1) for inner in value]
    if isinstance(value, int | Decimal) and not isinstance(value, bool) and abs(value) >= 10**_MAX_DIGITS:
        # boto3 refuses a coefficient over 38 digits even when it is 10**41: write it normalised
        number = Decimal(value).normalize()
        return number if _fits(number) else str(value)
    if isinstance(value, Decimal) and not _fits(value):
        return str(value)
    return value


def _fits(number: Decimal) -> bool:
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    digits = number.normalize().as_tuple().digits
    return len(digits) <= _MAX_DIGITS and -130 <= number.adjusted() <= 125


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
