"""Builds docs/openapi.json from the handlers' own Powertools resolvers, so the document cannot
drift from the code: ``python -m local.openapi`` rewrites it, and a test fails when it is stale.

Route auth comes from template.yaml: routes with the AWS_IAM authorizer get the ``sigv4`` scheme.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from local import template as tpl
from shared.services.staff_sign_in import SESSION_COOKIE

OPENAPI_PATH = tpl.ROOT / "docs" / "openapi.json"
TITLE = "Stay Certified API"
VERSION = "1.0.0"


_PROBLEM_SCHEMAS: dict[str, Any] = {
    "ValidationProblem": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
    "Problem": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        "additionalProperties": True,
    },
}


def _ref_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _document_errors(operation: dict[str, Any]) -> None:
    """The error answers shared/http.py really gives, in place of Powertools' defaults."""
    responses = operation["responses"]
    # Our resolvers answer validation errors with 400 and field paths, not 422; a 422 the route
    # declares itself (a rule refusing the request) stays.
    if "HTTPValidationError" in json.dumps(responses.get("422", {})):
        del responses["422"]
    if "text/html" in json.dumps(responses):
        # an HTML page (the staff console): every answer is a page, refusals included
        page = {"text/html": {"schema": {"type": "string"}}}
        responses["400"] = {
            "description": "Invalid input: a page naming the field and the reason",
            "content": page,
        }
        for answer in responses.values():
            if "content" in answer:
                answer["content"] = page
        return
    responses.setdefault("400", _ref_response("Invalid input", "ValidationProblem"))
    if "parameters" in operation or "requestBody" in operation:
        # validated input: the 400 is either a validation problem (field paths) or a domain problem
        responses["400"]["content"] = {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/ValidationProblem"},
                        {"$ref": "#/components/schemas/Problem"},
                    ]
                }
            }
        }
    if "requestBody" in operation:
        responses.setdefault("415", _ref_response("Body sent with a content type other than JSON", "Problem"))


def _powertools_path(path: str) -> str:
    return path  # API Gateway and OpenAPI share the {name} syntax


def build() -> dict[str, Any]:
    routes = tpl.routes()
    functions = tpl.functions()
    document: dict[str, Any] = {}
    for logical_id in sorted({route.function for route in routes}):
        module = importlib.import_module(functions[logical_id].module)
        resolver = getattr(module, "app", None)
        if not isinstance(resolver, APIGatewayHttpResolver):
            raise TypeError(
                f"{logical_id}: {functions[logical_id].module}.app is not an APIGatewayHttpResolver"
            )
        schema = json.loads(resolver.get_openapi_json_schema(title=TITLE, version=VERSION))
        paths = schema.pop("paths", {})
        if not document:
            document = {**schema, "paths": {}, "components": {}}
        document["paths"].update(paths)
        for section, entries in schema.get("components", {}).items():
            document["components"].setdefault(section, {}).update(entries)
    document["info"]["description"] = (
        "HTTP API of Stay Certified. Admin and portal routes use IAM (SigV4) authorization; "
        "webhooks and LMS callbacks authenticate by signature or Basic auth instead; the staff "
        "console's HTML pages (/console) take the staff session cookie its sign-in sets."
    )
    document["components"].setdefault("securitySchemes", {})["sigv4"] = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    document["components"]["securitySchemes"]["staffSession"] = {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The staff console's session: an access token of the staff Cognito user pool whose "
        "cognito:groups holds staff, set by /console/callback (docs/console.md)",
    }
    session_names = tpl.lambda_authorizers()
    schemas = document["components"].setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(_PROBLEM_SCHEMAS)
    template_routes = {(r.method.lower(), r.path): r for r in routes}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            route = template_routes.get((method, _powertools_path(path)))
            if route is None:
                raise LookupError(
                    f"{method.upper()} {path} is served by code but not routed in template.yaml"
                )
            _document_errors(operation)
            if not any(code.startswith(("2", "303")) for code in operation["responses"]):
                raise LookupError(
                    f"{method.upper()} {path} documents no 2xx (or 303) response: add one to responses="
                )
            if route.authorizer == "AWS_IAM":
                operation["security"] = [{"sigv4": []}]
            elif route.authorizer in session_names:
                operation["security"] = [{"staffSession": []}]
    missing = {f"{m.upper()} {p}" for m, p in template_routes} - {
        f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops
    }
    if missing:
        raise LookupError(f"routed in template.yaml but not served by any resolver: {sorted(missing)}")
    return document


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    Path(OPENAPI_PATH).write_text(render(), encoding="utf-8")
    print(f"wrote {OPENAPI_PATH.relative_to(tpl.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
