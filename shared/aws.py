"""The process-wide AWS clients: one per service, created on first use (not at import time) and
reused across invocations. The local stack and the tests move the endpoint (AWS_ENDPOINT_URL), so
the cache is keyed on it and ``reset_clients`` forgets everything."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode backs off on throttling; the SDK default (legacy) retries less sensibly.
_CONFIGS: dict[str, Config] = {
    "dynamodb": Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10),
    "s3": Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=30),
}
_DEFAULT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
_clients: dict[tuple[str, str], Any] = {}


def client(service: str) -> Any:
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""))
    if key not in _clients:
        config = _CONFIGS.get(service, _DEFAULT_CONFIG)
        _clients[key] = boto3.client(service, config=config)  # type: ignore[call-overload]
    return _clients[key]


def reset_clients() -> None:
    _clients.clear()
