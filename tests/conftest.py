"""Shared fixtures: AWS under in-process moto, with the table built from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import template as tpl
from local.stack import reset_process_caches

TABLE = "StayCertTest"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)


def reset_caches() -> None:
    reset_process_caches()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """In-process moto with the template's table; handlers see it through TABLE_NAME."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    with mock_aws():
        reset_caches()
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **tpl.table_definition())
        yield {"dynamodb": client, "table": TABLE}
    reset_caches()


@pytest.fixture
def business_date(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the business clock: ``business_date("2026-05-31")``."""

    def set_date(day: str) -> None:
        monkeypatch.setenv("STAYCERT_BUSINESS_DATE", day)

    return set_date
