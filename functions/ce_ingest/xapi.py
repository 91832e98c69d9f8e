"""LMS completion callbacks: ``POST /xapi/statements`` (LRS-style; HTTP Basic auth per LMS client,
not IAM).

Order of checks, each before the next: Basic credentials (401 + WWW-Authenticate) ->
``X-Experience-API-Version`` 1.0.x (400) -> body size (413) -> JSON and every statement (400 naming
``statements[i].field``; nothing written). Then 200 with the list of statement ids (ids assigned
to statements sent without one included), or 409 naming the statements whose id is stored with
other content: those are not written, every other statement of the request is.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.xapi import (
    RESPONSE_VERSION,
    SUPPORTED_VERSION,
    LmsAuthenticator,
    StatementProblem,
    parse_statements,
)
from shared.clock import business_today
from shared.config.ce import get_ce_settings
from shared.config.settings import get_policy, get_settings
from shared.errors import DomainError
from shared.http import load_json, make_resolver, problem, raw_body
from shared.observability import BusinessMetric, lambda_entry, logger, record
from shared.services.ce_xapi import CREDITED_OUTCOMES, Outcome, XapiIngest
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository

# The one route declares no parameters and no body: it reads the raw body and validates every
# statement itself (400 naming statements[i].field), so Powertools has nothing to validate.
app = make_resolver(validation=False)
_authenticators: dict[str, LmsAuthenticator] = {}


def _authenticator() -> LmsAuthenticator:
    name = get_ce_settings().lms_clients_secret
    if name not in _authenticators:
        _authenticators[name] = LmsAuthenticator(name)
    return _authenticators[name]


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"X-Experience-API-Version": RESPONSE_VERSION, **(headers or {})},
    )


def _refuse(status: int, error: str, message: str, **extra: Any) -> Response[Any]:
    logger.info("xapi request refused", extra={"status": status, "error": error, "reason": message})
    headers = {"WWW-Authenticate": 'Basic realm="xapi", charset="UTF-8"'} if status == 401 else None
    return _answer(status, {"error": error, "message": message, **extra}, headers)


@app.post(
    "/xapi/statements",
    summary="LMS statements (xAPI 1.0.3 / cmi5): one statement or an array",
    description=(
        "HTTP Basic auth with the LMS client's id and password (not IAM). Header X-Experience-API-Version "
        "1.0.x required. Credits completed/passed (ADL) and cmi5 satisfied once per course; voided "
        "statements reverse; other verbs are accepted and ignored. A statement without id gets one derived "
        "from its content (a resend is a duplicate). Answers 200 with the statement ids."
    ),
    responses={
        200: {"description": "Statement ids, in request order (LRS convention)"},
        400: problem(
            "Missing/unsupported version header, invalid JSON, or a statement field (statements[i].field)"
        ),
        401: problem("Missing or invalid Basic credentials"),
        409: problem(
            "Statement ids already stored with different content (statement_ids): those are not written,"
            " the other statements are"
        ),
        413: problem("Body too large"),
    },
)
def post_statements() -> Response[Any]:
    event = app.current_event
    client = _authenticator().authenticate(event.headers.get("authorization"))
    if client is None:
        return _refuse(401, "unauthorized", "valid LMS client credentials (HTTP Basic) required")
    version = event.headers.get("x-experience-api-version") or ""
    if not SUPPORTED_VERSION.fullmatch(version.strip()):
        return _refuse(400, "unsupported_version", "header X-Experience-API-Version: 1.0.x required")
    settings = get_ce_settings()
    try:
        raw = raw_body(event, settings.xapi_max_body_bytes)
    except DomainError as refused:  # 413 over the limit, 400 broken base64
        return _refuse(refused.status_code, refused.code, refused.message)
    try:
        payload = load_json(raw)
    except ValueError:
        return _refuse(
            400,
            "validation_failed",
            "body is not JSON",
            problems=[{"field": "body", "reason": "invalid JSON"}],
        )
    try:
        statements = parse_statements(payload, settings.xapi_max_statements)
    except StatementProblem as error:
        return _refuse(400, "validation_failed", "invalid statements", problems=error.problems)
    except RecursionError:  # nested deeper than validation or the content hash can follow
        return _refuse(
            400,
            "validation_failed",
            "invalid statements",
            problems=[{"field": "body", "reason": "JSON nested too deeply"}],
        )
    common = get_settings()
    ingest = XapiIngest(
        MemberRepository(common.table_name), CatalogRepository(common.table_name), get_policy(), common.zone
    )
    result = ingest.ingest(client, statements, business_today(common.zone))
    outcomes = list(result.outcomes.values())
    credited = sum(outcome in CREDITED_OUTCOMES for outcome in outcomes)
    rejected = outcomes.count(Outcome.REJECTED)
    if credited:
        record(BusinessMetric.CE_CREDITED, credited, dimension=("source", "xapi"))
    if rejected:
        record(BusinessMetric.CE_REFUSED, rejected, dimension=("source", "xapi"))
    if result.conflicts:
        return _refuse(
            409,
            "conflict",
            "statement id already stored with different content; the other statements were recorded",
            statement_ids=result.conflicts,
        )
    return _answer(200, result.statement_ids)


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
