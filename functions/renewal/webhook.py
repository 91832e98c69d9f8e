"""Stripe webhooks (``POST /webhooks/stripe``, no IAM: the Stripe-Signature header authenticates) and
the staff listings and decisions (IAM): ``GET /admin/parked-payments``, ``GET /admin/payment-exceptions``,
``POST /admin/payment-exceptions/{payment_key}/resolution``.

Order of checks, each before the next: body size (413) -> signature header present and well formed
(400) -> HMAC and timestamp tolerance against the rotating secret (401) -> JSON (400) -> event shape
(400). Only then is anything read or written. Unknown event types answer 200 ``ignored``. Each refusal
is a typed error of the adapter that found it, mapped to its status and code in ``shared.http``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared.adapters.secrets import RotatingSecret
from shared.adapters.signatures import verify_with_refresh
from shared.adapters.stripe_events import MalformedEvent, interpret
from shared.clock import business_today, wall_clock_seconds
from shared.config.settings import get_policy, get_settings
from shared.http import json_response, load_json, make_resolver, problem, raw_body
from shared.observability import BusinessMetric, lambda_entry, logger, record
from shared.services.payment_schemas import (
    ParkedItem,
    PaymentExceptionItem,
    Resolution,
    ResolutionRequest,
    WebhookResult,
)
from shared.services.payments import PaymentService
from shared.store.payments import PaymentLedger

MAX_BODY_BYTES = 64 * 1024  # Stripe events are a few KiB; anything bigger is refused before the HMAC

app = make_resolver()


class WebhookAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)

    result: str


class ParkedPayments(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[ParkedItem]


class PaymentExceptions(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[PaymentExceptionItem]


class ResolutionAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)

    payment_key: str
    action: Resolution


PAYMENT_METRICS = {
    WebhookResult.CREDITED: BusinessMetric.PAYMENTS_CREDITED,
    WebhookResult.PARKED: BusinessMetric.PAYMENTS_PARKED,
    WebhookResult.REVERSED: BusinessMetric.PAYMENTS_REVERSED,
    WebhookResult.EXCEPTION: BusinessMetric.PAYMENT_EXCEPTIONS,
}


def service() -> PaymentService:
    settings = get_settings()
    return PaymentService(PaymentLedger(settings.table_name), get_policy(), settings.zone)


def _secrets(force: bool) -> list[str]:
    return RotatingSecret(get_settings().stripe_webhook_secret).values(force=force)


@app.post(
    "/webhooks/stripe",
    summary="Stripe webhook: payments, refunds and disputes",
    description=(
        "Authenticated by the Stripe-Signature header (HMAC-SHA256, 300 s tolerance both ways), not IAM. "
        f"Body limit {MAX_BODY_BYTES} bytes. Always 200 for a verified event: credited, duplicate, "
        "reversed, ignored (unhandled type or not ours), parked (unknown member/credential) or exception "
        "(held for staff: amount, currency or invoices do not match)."
    ),
    responses={
        200: {
            "description": "Event accepted: {'result': credited|duplicate|reversed|ignored|parked|exception}"
        },
        400: problem("Missing or malformed Stripe-Signature header, invalid JSON, not a Stripe event"),
        401: problem("Signature does not match, or its timestamp is stale or in the future"),
        413: problem(f"Body over {MAX_BODY_BYTES} bytes"),
    },
)
def stripe_webhook() -> Response[Any]:
    payload = raw_body(app.current_event, MAX_BODY_BYTES)  # 413 over the limit, 400 broken base64
    header = app.current_event.headers.get("stripe-signature")
    # a mismatch forces a secret reload: at most one a minute per secret (shared.adapters.secrets)
    verify_with_refresh(header, payload, _secrets, wall_clock_seconds())
    try:
        event = load_json(payload)
    except ValueError:
        raise MalformedEvent("invalid JSON") from None
    action = interpret(event)
    settings = get_settings()
    try:
        result = service().handle(action, business_today(settings.zone))
    except Exception:  # a signed event we could not process: Stripe retries, staff are told
        record(BusinessMetric.PAYMENT_EXCEPTIONS)
        raise
    if result in PAYMENT_METRICS:
        record(PAYMENT_METRICS[result])
    logger.info(
        "stripe event handled",
        extra={"event_id": event.get("id"), "type": event.get("type"), "result": result},
    )
    return json_response(200, WebhookAnswer(result=result.value).model_dump())


@app.get(
    "/admin/parked-payments",
    summary="Payments waiting for their member, and reversals waiting for their payment",
    description="Parked payments are credited automatically when the roster brings the member/credential.",
)
def parked_payments() -> ParkedPayments:
    return ParkedPayments(items=list(service().parked()))


@app.get(
    "/admin/payment-exceptions",
    summary="Payments held for staff: wrong amount or currency, invoice unknown or already paid",
    description="Exceptions credit nothing until resolved; resolved ones leave the list (their resolution "
    "is on the member's timeline).",
)
def payment_exceptions() -> PaymentExceptions:
    return PaymentExceptions(items=list(service().exceptions()))


@app.post(
    "/admin/payment-exceptions/<payment_key>/resolution",
    summary="Resolve a payment exception: credit the invoices it names, or mark it for refund",
    responses={
        200: {"description": "Resolved", "content": {"application/json": {"model": ResolutionAnswer}}},
        404: problem("No payment exception under this payment key"),
        409: problem("Already resolved, or (credit) an invoice it names is paid meanwhile"),
        422: problem("(credit) The payment names no invoice of the member's certification"),
    },
)
def resolve_payment_exception(
    payment_key: Annotated[str, Path(min_length=1, max_length=255, description="Stripe payment id")],
    body: ResolutionRequest,
) -> ResolutionAnswer:
    service().resolve(payment_key, body.action, body.note, business_today(get_settings().zone))
    return ResolutionAnswer(payment_key=payment_key, action=body.action)


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
