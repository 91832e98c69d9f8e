"""Builders for the events AWS hands to our functions (API Gateway HTTP API v2.0, S3, schedule),
shared by the local stack and the tests so both invoke handlers exactly as Lambda does."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from local import template as tpl

ACCOUNT = "123456789012"
# The local stand-in for the console's authorizer (the local gateway enforces no auth, as it does not
# enforce IAM): routes behind the HTTP API's Lambda authorizer receive the context it gives a signed-in
# staff member's session (functions/console_authorizer).
LOCAL_STAFF_SESSION = {"session": "staff", "sub": "local-staff", "groups": "staff"}
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def http_api_event(
    route: tpl.RouteDef,
    raw_path: str,
    path_parameters: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    query: str = "",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event; non-text bodies (and text that is not UTF-8) are
    base64-encoded and flagged, as API Gateway does."""
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    content_type = headers.get("content-type", "")
    is_text = not body or (any(content_type.startswith(kind) for kind in _TEXT_TYPES) and _is_utf8(body))
    now = datetime.now(UTC)
    authorizer = (
        {"lambda": dict(LOCAL_STAFF_SESSION)} if route.authorizer in tpl.lambda_authorizers() else None
    )
    return {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "pathParameters": path_parameters or None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            **({"authorizer": authorizer} if authorizer else {}),
            "domainName": "localhost",
            "http": {
                "method": route.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body.decode("utf-8") if is_text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not is_text,
    }


def s3_object_created_event(
    bucket: str, key: str, size: int = 0, etag: str = "x", *, encoded_key: str | None = None
) -> dict[str, Any]:
    """The S3 ``ObjectCreated:Put`` notification Lambda receives. S3 sends the key form-encoded
    (``quote_plus``); ``encoded_key`` sends a key exactly as given (tests of hostile encodings)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(key, safe="/") if encoded_key is None else encoded_key,
                        "size": size,
                        "eTag": etag,
                        "sequencer": f"{uuid.uuid4().int >> 64:X}",
                    },
                },
            }
        ]
    }


def _is_utf8(body: bytes) -> bool:
    """A "text" body that is not UTF-8 cannot travel as a JSON string: it goes base64-encoded."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def route_for(method: str, path: str) -> tuple[tpl.RouteDef, dict[str, str]]:
    """The template route serving ``method path`` and its path parameters (LookupError if none)."""
    for route in tpl.routes():
        match = route.pattern().match(path)
        if match and route.method == method.upper():
            return route, match.groupdict()
    raise LookupError(f"no route for {method} {path} in template.yaml")
