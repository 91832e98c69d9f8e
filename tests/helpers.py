"""Test helpers: invoke a function's handler exactly as API Gateway would, through template.yaml."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from local import template as tpl
from local.events import http_api_event, route_for


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any
    raw: str


def lambda_context(
    name: str = "test", *, memory_mb: int = 512, remaining_ms: int = 30_000, request_id: str = "req-1"
) -> Any:
    """The Lambda context object a handler receives (the fields Powertools and our handlers read)."""
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=memory_mb,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="test",
        get_remaining_time_in_millis=lambda: remaining_ms,
    )


def handler_of(logical_id: str) -> Any:
    """The handler of a template.yaml function, imported the way Lambda imports it."""
    function = tpl.functions()[logical_id]
    return getattr(importlib.import_module(function.module), function.attribute)


def call_api(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> HttpResult:
    """Route ``method path`` (``path?query`` too) through template.yaml to its handler and return the
    parsed response."""
    path, _, query = path.partition("?")
    route, params = route_for(method, path)
    handler = handler_of(route.function)
    data = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
    all_headers = {"content-type": "application/json", **(headers or {})}
    event = http_api_event(route, path, params, headers=all_headers, body=data, query=query)
    response = handler(event, lambda_context(route.function))
    text = response.get("body") or ""
    try:
        parsed = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    return HttpResult(int(response["statusCode"]), response.get("headers") or {}, parsed, text)


def invoke(logical_id: str, event: dict[str, Any]) -> Any:
    return handler_of(logical_id)(event, lambda_context(logical_id))
