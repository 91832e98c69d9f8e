"""Members API: roster upsert, status, timeline and standing (API Gateway HTTP API, IAM auth)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from shared.adapters.secrets import RotatingSecret
from shared.adapters.stripe_checkout import CheckoutRequest, CheckoutSession, StripeCheckout
from shared.clock import business_today
from shared.config.settings import get_policy, get_settings
from shared.http import json_response, make_resolver, problem
from shared.observability import lambda_entry
from shared.services.catalog import CatalogService
from shared.services.members import Invoices, MemberService, MemberStatus, MemberUpsert, Standing, Timeline
from shared.services.payment_links import PaymentLink, PaymentLinkRequest, PaymentLinkService
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository

MEMBER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MemberIdPath = Annotated[str, Path(pattern=MEMBER_ID_PATTERN, description="Association member id")]

app = make_resolver()


class UpsertAnswer(BaseModel):
    member_id: str
    created: bool


def service() -> MemberService:
    """Cheap to build per request: the settings and the DynamoDB client behind it are cached."""
    settings = get_settings()
    # Completions of activities that were not in the catalog yet count once they are (one BatchGetItem).
    catalog = CatalogService(CatalogRepository(settings.table_name)).lookup
    return MemberService(MemberRepository(settings.table_name), get_policy(), catalog)


def _create_session(request: CheckoutRequest) -> CheckoutSession:
    settings = get_settings()
    [api_key, *_] = RotatingSecret(settings.stripe_api_secret).values()  # the current restricted key
    return StripeCheckout(api_key, settings.stripe_api_base, settings.stripe_timeout_seconds).create(request)


def _today() -> Any:
    return business_today(get_settings().zone)


@app.put(
    "/members/<member_id>",
    summary="Create or update a member from the roster",
    description="Idempotent. Certifications missing from the body are kept. 201 when the member is new.",
    responses={
        200: {"description": "Member updated", "content": {"application/json": {"model": UpsertAnswer}}},
        201: {"description": "Member created", "content": {"application/json": {"model": UpsertAnswer}}},
        400: problem(
            "Invalid field (with its path), unknown credential (with the known codes and aliases), "
            "a credential listed twice, or a certification dated after today"
        ),
    },
)
def put_member(member_id: MemberIdPath, body: MemberUpsert) -> Response[Any]:
    created = service().upsert(member_id, body, _today())
    answer = UpsertAnswer(member_id=member_id, created=created)
    return json_response(201 if created else 200, answer.model_dump())


@app.get(
    "/members/<member_id>/status",
    summary="Certification status as of today",
    responses={
        200: {"description": "OK", "content": {"application/json": {"model": MemberStatus}}},
        404: problem("Unknown member"),
    },
)
def get_status(member_id: MemberIdPath) -> MemberStatus:
    return service().status(member_id, _today())


@app.get(
    "/members/<member_id>/timeline",
    summary="Every fact for the member in date order",
    responses={
        200: {"description": "OK", "content": {"application/json": {"model": Timeline}}},
        404: problem("Unknown member"),
    },
)
def get_timeline(member_id: MemberIdPath) -> Timeline:
    return service().timeline(member_id)


@app.get(
    "/members/<member_id>/invoices",
    summary="Annual-fee invoices of every certification: amount, due month, status, payment",
    description=(
        "Derived from the facts (no invoice ledger): one invoice per fee year whose due month has begun "
        "(or that is paid ahead), numbered {member}-{credential}-{year}; status open, overdue, paid, "
        "refunded, disputed or void."
    ),
    responses={
        200: {"description": "OK", "content": {"application/json": {"model": Invoices}}},
        404: problem("Unknown member"),
    },
)
def get_invoices(member_id: MemberIdPath) -> Invoices:
    return service().invoices(member_id, _today())


@app.post(
    "/members/<member_id>/payments",
    summary="A payment link (Stripe Checkout) for one or more open invoices",
    description=(
        "Creates a Stripe Checkout Session for exactly these invoices (metadata: member, credential, "
        "invoice numbers) and returns its URL. Retrying the same request returns the same session (the "
        "Idempotency-Key is derived from the invoice set). Nothing is recorded until Stripe's webhook "
        "says it was paid."
    ),
    responses={
        201: {"description": "Link created", "content": {"application/json": {"model": PaymentLink}}},
        404: problem("Unknown member"),
        409: problem("invoice_not_payable: an invoice named is paid or void"),
        422: problem("unknown_invoice (not this member's, or named twice) or mixed_credentials"),
        503: problem("Stripe is down or throttling: nothing created; retry after the Retry-After seconds"),
    },
)
def create_payment_link(member_id: MemberIdPath, body: PaymentLinkRequest) -> Response[Any]:
    links = PaymentLinkService(service(), _create_session, get_settings().portal_url)
    return json_response(201, links.create(member_id, body, _today()).model_dump())


@app.get(
    "/members/<member_id>/standing",
    summary="Good standing, for the CE store's member discount",
    responses={
        200: {"description": "OK", "content": {"application/json": {"model": Standing}}},
        404: problem("Unknown member"),
    },
)
def get_standing(member_id: MemberIdPath) -> Standing:
    return service().standing(member_id, _today())


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
