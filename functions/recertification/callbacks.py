"""Outside callers without IAM: the exam vendor's signed results and Credly's webhook.

``POST /exam-results``: HMAC-signed like Stripe (``Exam-Signature: t=...,v1=...`` over
``"{t}.{raw body}"``, secret ``{"current","previous"}`` in Secrets Manager); the signature is checked
on the raw body before anything is parsed. Idempotent on ``result_id`` (the event key).

``POST /webhooks/credly``: Credly signs nothing, so the envelope is only a hint: the event is fetched
back from Credly and its organization checked. Always 200 (Credly retries anything else for 25 days);
what happened is logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from shared.adapters.secrets import RotatingSecret
from shared.adapters.signatures import SignatureError, verify_with_refresh
from shared.clock import business_today, wall_clock_seconds
from shared.config.integrations import eligibility_criteria, get_integration_settings
from shared.config.settings import get_policy, get_settings
from shared.errors import DomainError, Unauthorized
from shared.http import json_response, load_json, make_resolver, problem, raw_body, validation_problems
from shared.observability import lambda_entry, logger
from shared.services.recert_schemas import ExamResultIn

SIGNATURE_HEADER = "exam-signature"
MAX_BODY_BYTES = 16 * 1024  # a result is ~200 bytes; refuse big bodies before computing an HMAC

app = make_resolver()


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class InvalidBody(DomainError):
    code = "validation_failed"


@app.post(
    "/exam-results",
    summary="Exam vendor result (HMAC-signed, idempotent on result_id)",
    responses={
        200: {"description": "Recorded (or a duplicate of a recorded result)"},
        400: problem("Invalid body"),
        401: problem("Missing or invalid Exam-Signature"),
        413: problem("Body over 16 KiB"),
        404: problem("Unknown member"),
        409: problem("result_id already reported with different content"),
    },
)
def exam_result() -> Response[Any]:
    raw = raw_body(app.current_event, MAX_BODY_BYTES)
    settings = get_integration_settings()
    secret = RotatingSecret(settings.exam_vendor_secret_name)
    try:
        verify_with_refresh(
            app.current_event.headers.get(SIGNATURE_HEADER),
            raw,
            lambda force: secret.values(force=force),
            wall_clock_seconds(),
            settings.signature_tolerance_seconds,
        )
    except SignatureError as error:
        logger.warning("exam result signature rejected", extra={"reason": error.reason})
        raise InvalidSignature(error.reason) from None
    try:
        result = ExamResultIn.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidBody("invalid exam result", problems=validation_problems(error)) from None
    # imported by the first exam result, not at cold start (each route pays for its own service)
    from shared.services.catalog import CatalogService
    from shared.services.recertification import RecertificationService
    from shared.store.catalog import CatalogRepository
    from shared.store.members import MemberRepository

    base = get_settings()
    service = RecertificationService(
        MemberRepository(base.table_name),
        get_policy(),
        eligibility_criteria(),
        catalog=CatalogService(CatalogRepository(base.table_name)).lookup,
    )
    outcome = service.record_exam_result(result, business_today(base.zone))
    return json_response(200, outcome.model_dump(mode="json"))


@app.post(
    "/webhooks/credly",
    summary="Credly event notification (confirmed by fetching the event back from Credly)",
    responses={200: {"description": "Accepted; unknown or unconfirmable events are ignored"}},
)
def credly_webhook() -> Response[Any]:
    try:  # Credly retries non-200 for 25 days: anything unusable is answered 200 and ignored
        envelope = load_json(raw_body(app.current_event, MAX_BODY_BYTES))
    except (ValueError, DomainError):
        envelope = None
    if not isinstance(envelope, dict):
        logger.info("credly webhook ignored", extra={"outcome": "ignored: not a JSON object"})
        return json_response(200, {"outcome": "ignored"})
    from shared.services.badges import default_badge_service  # on the first Credly event

    base = get_settings()
    outcome = default_badge_service(base.table_name, get_policy(), base.zone).apply_webhook(
        envelope, business_today(base.zone)
    )
    logger.info("credly webhook", extra={"outcome": outcome, "event_id": envelope.get("id")})
    return json_response(200, {"outcome": outcome.split(":")[0]})


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
