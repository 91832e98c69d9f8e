"""Low-level DynamoDB plumbing shared by the repositories: the client, (de)serialisation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import BaseModel

from shared import aws

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


def json_body(model: BaseModel) -> Any:
    """A model as DynamoDB-safe plain data: JSON types, with Decimals instead of floats."""
    return json.loads(model.model_dump_json(), parse_float=Decimal)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
