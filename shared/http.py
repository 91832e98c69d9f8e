"""One place that maps errors to HTTP for every API function (Powertools event handler)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from shared.errors import DomainError
from shared.observability import logger


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _field_path(location: tuple[Any, ...]) -> str:
    """('body', 'certifications', 0, 'certified_on') -> 'certifications[0].certified_on'."""
    path = ""
    for part in location[1:] if location and location[0] in ("body", "path", "query", "header") else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(location[0] if location else "body")


def make_resolver() -> APIGatewayHttpResolver:
    """A resolver with pydantic validation on, validation errors as 400 with field paths, and domain
    errors mapped by their own status code - never a 500 for bad input."""
    app = APIGatewayHttpResolver(enable_validation=True)

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
        return _json(error.status_code, error.body())

    return app


def json_response(status: int, body: dict[str, Any]) -> Response[Any]:
    return _json(status, body)


def problem(description: str) -> OpenAPIResponse:
    """OpenAPI entry for an error response, for a route's ``responses=`` (docs/openapi.json)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
