"""One place that maps errors to HTTP for every API function (Powertools event handler)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from pydantic import ValidationError

from shared.adapters.signatures import MalformedSignatureHeader, SignatureError
from shared.adapters.stripe_events import MalformedEvent
from shared.errors import DomainError, MalformedBody, PayloadTooLarge
from shared.observability import logger

# Refusals raised by adapters that know nothing of HTTP: status and error code, by class. Powertools
# answers an exception with the handler of the nearest class in its MRO, so a subclass listed here
# wins over its base (a malformed header is 400, any other signature refusal 401).
ADAPTER_REFUSALS: dict[type[Exception], tuple[int, str]] = {
    MalformedSignatureHeader: (400, "bad_signature_header"),
    SignatureError: (401, "bad_signature"),
    MalformedEvent: (400, "malformed_event"),
}


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _field_path(location: tuple[Any, ...]) -> str:
    """('body', 'certifications', 0, 'certified_on') -> 'certifications[0].certified_on'."""
    path = ""
    for part in location[1:] if location and location[0] in ("body", "path", "query", "header") else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(location[0] if location else "body")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def load_json(text: str | bytes) -> Any:
    """``json.loads`` for a caller's body, every refusal a ValueError: also nesting deeper than the
    parser follows (RecursionError), the ``NaN``/``Infinity`` literals Python accepts but JSON does not,
    and lone surrogate escapes (``"\\ud800"``), which no UTF-8 store, log or HTTP client can carry."""
    try:
        value = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    json.dumps(value, ensure_ascii=False).encode(
        "utf-8"
    )  # UnicodeEncodeError (a ValueError) on a lone surrogate
    return value


def _json_object(text: str) -> dict[str, Any]:
    """Request bodies validated against a model must be JSON objects. Powertools would validate the
    first element of a top-level array as the body (``[{...}, ...]`` upserted the first one); routes
    that take arrays (xAPI) or other shapes read the raw body themselves and never come here."""
    try:
        value = load_json(text)
    except ValueError as error:  # Powertools answers a ValueError here with a 400 without the reason
        reason = "not UTF-8 JSON text" if isinstance(error, UnicodeError) else str(error)
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"invalid JSON: {reason}", "input": {}}]
        ) from None
    if not isinstance(value, dict):
        raise RequestValidationError(
            [{"type": "model_type", "loc": ("body",), "msg": "body must be a JSON object", "input": {}}]
        )
    return value


def make_resolver(*, validation: bool = True) -> APIGatewayHttpResolver:
    """A resolver with pydantic validation on, validation errors as 400 with field paths, and domain
    errors mapped by their own status code - never a 500 for bad input.

    ``validation=False`` only for a function whose routes declare no parameters and no body and read
    the raw body themselves (the xAPI statements route): Powertools would validate nothing there, and
    its validation middleware builds a pydantic model at import, which every cold start would pay for.
    """
    app = APIGatewayHttpResolver(enable_validation=validation, json_body_deserializer=_json_object)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(error: RequestValidationError) -> Response[Any]:
        problems = [
            {"field": _field_path(tuple(item.get("loc", ()))), "reason": item.get("msg", "invalid")}
            for item in error.errors()
        ]
        logger.info("request rejected", extra={"problems": [p["field"] for p in problems]})
        return _json(400, {"error": "validation_failed", "problems": problems})

    @app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
    def _domain(error: DomainError) -> Response[Any]:
        logger.info("request refused", extra={"error": error.code, "status": error.status_code})
        return Response(
            status_code=error.status_code,
            content_type=content_types.APPLICATION_JSON,
            body=error.body(),
            headers=error.headers() or None,
        )

    @app.exception_handler(list(ADAPTER_REFUSALS))  # type: ignore[untyped-decorator]
    def _refused(error: Exception) -> Response[Any]:
        status, code = next(ADAPTER_REFUSALS[cls] for cls in type(error).__mro__ if cls in ADAPTER_REFUSALS)
        logger.info("request refused", extra={"error": code, "status": status, "reason": str(error)})
        return _json(status, {"error": code, "message": str(error)})

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def _unsupported_media_type(error: RequestUnsupportedContentType) -> Response[Any]:
        return _json(415, {"error": "unsupported_media_type", "message": "send the body as application/json"})

    @app.exception_handler(ValueError)  # type: ignore[untyped-decorator]
    def _unreadable_body(error: ValueError) -> Response[Any]:
        # Powertools' body parser raises bare ValueErrors (a 500) for the caller's mistakes: a body that
        # is not UTF-8 (API Gateway hands it over base64-encoded) and `multipart/form-data` without a
        # boundary. Any other ValueError stays a server error.
        event = app.current_event
        content_type = (event.headers or {}).get("content-type", "").lower()
        if isinstance(error, UnicodeDecodeError) and event.is_base64_encoded:
            reason = "body is not UTF-8 text"
        elif content_type.startswith("multipart/form-data") and "boundary=" not in content_type:
            reason = "multipart/form-data without a boundary"
        else:
            raise error
        return _json(400, {"error": "validation_failed", "problems": [{"field": "body", "reason": reason}]})

    return app


def json_response(status: int, body: dict[str, Any]) -> Response[Any]:
    return _json(status, body)


def problem(description: str) -> OpenAPIResponse:
    """OpenAPI entry for an error response, for a route's ``responses=`` (docs/openapi.json)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def raw_body(event: BaseProxyEvent, limit: int) -> bytes:
    """The body exactly as the caller sent it (base64-decoded when API Gateway flagged it), for
    signature checks. Refused with 413 over ``limit`` - checked before any HMAC or parsing, and
    cheaply on the encoded length first - and 400 when the base64 is broken."""
    body = event.body or ""
    too_large = PayloadTooLarge(f"body over {limit} bytes", limit=limit)
    if len(body) > (limit * 4) // 3 + 4:
        raise too_large
    try:
        raw = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedBody("body is not valid base64") from None
    if len(raw) > limit:
        raise too_large
    return raw


def validation_problems(error: ValidationError) -> list[dict[str, str]]:
    """pydantic errors as ``[{"field": "a.b[0]", "reason": ...}]`` for a 400 body."""
    return [
        {"field": _field_path(("body", *item.get("loc", ()))), "reason": item.get("msg", "invalid")}
        for item in error.errors()
    ]
