"""Members API: roster upsert, status, timeline, standing and self-reported CE activities (API Gateway
HTTP API, IAM auth)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared.clock import business_today
from shared.config.settings import get_policy, get_settings
from shared.http import json_response, make_resolver, problem
from shared.observability import lambda_entry
from shared.rules.ids import ACTIVITY_ID_PATTERN, MEMBER_ID_ANCHORED
from shared.services.activity_schemas import (
    ACTOR_PATTERN,
    ActivityAnswer,
    ActivityList,
    ActivityRequest,
    CycleFilter,
)
from shared.services.catalog import CatalogService
from shared.services.member_schemas import Invoices, MemberStatus, MemberUpsert, Timeline
from shared.services.members import MemberService, Standing
from shared.services.payment_schemas import PaymentLink, PaymentLinkRequest
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository

if TYPE_CHECKING:
    from shared.adapters.stripe_checkout import CheckoutRequest, CheckoutSession
    from shared.services.activities import ActivityService

MemberIdPath = Annotated[str, Path(pattern=MEMBER_ID_ANCHORED, description="Association member id")]
ActivityIdPath = Annotated[
    str,
    Path(pattern=ACTIVITY_ID_PATTERN, description="Chosen by the caller: a retried request is idempotent"),
]
CredentialQuery = Annotated[str | None, Query(min_length=1, max_length=10, description="One certification")]
CycleQuery = Annotated[CycleFilter, Query(description="current, previous or all cycles")]
ActorHeader = Annotated[
    str | None,
    Header(
        alias="x-actor",
        pattern=ACTOR_PATTERN,
        description="Who enters or changes it, e.g. member:{id} or staff:{id} (on the timeline)",
    ),
]

app = make_resolver()


class UpsertAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)

    member_id: str
    created: bool


def service() -> MemberService:
    """Cheap to build per request: the settings and the DynamoDB client behind it are cached."""
    settings = get_settings()
    # Completions of activities that were not in the catalog yet count once they are (one BatchGetItem).
    catalog = CatalogService(CatalogRepository(settings.table_name)).lookup
    return MemberService(MemberRepository(settings.table_name), get_policy(), catalog)


# Every route reads the member (the members service above); the CE activity routes also need the
# activities service, and payment links Stripe and Secrets Manager: those are imported by the first
# request that needs them, not at cold start (tests/unit/test_import_closure.py keeps it so).


def activities() -> ActivityService:
    from shared.services.activities import ActivityService

    table = get_settings().table_name
    catalog = CatalogService(CatalogRepository(table)).lookup
    return ActivityService(MemberRepository(table), get_policy(), catalog)


def _create_session(request: CheckoutRequest) -> CheckoutSession:
    from shared.adapters.secrets import RotatingSecret
    from shared.adapters.stripe_checkout import StripeCheckout

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
    summary="Invoices of every certification (annual fees, recertification fees): amount, due month, status",
    description=(
        "Derived from the facts (no invoice ledger): one invoice per fee year whose due month has begun "
        "(or that is paid ahead), numbered {member}-{credential}-{year}, at the fee in force in its due "
        "month; and one per recertification application, numbered {member}-{credential}-R{n}, at the "
        "application's fee. Status open, overdue, paid, refunded, disputed or void."
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
        422: problem(
            "unknown_invoice (not this member's, or named twice), mixed_credentials or mixed_invoice_kinds "
            "(a recertification fee is linked on its own)"
        ),
        503: problem("Stripe is down or throttling: nothing created; retry after the Retry-After seconds"),
    },
)
def create_payment_link(member_id: MemberIdPath, body: PaymentLinkRequest) -> Response[Any]:
    from shared.services.payment_links import PaymentLinkService

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


@app.put(
    "/members/<member_id>/activities/<activity_id>",
    summary="Record or correct a self-reported CE activity",
    description=(
        "Idempotent by activity_id: the same body again changes nothing. A changed body is a new version "
        "(every version stays on the timeline). The answer has the points the activity counts for each "
        "certification and, where it counts 0, why."
    ),
    responses={
        200: {
            "description": "Changed or unchanged",
            "content": {"application/json": {"model": ActivityAnswer}},
        },
        201: {"description": "Recorded", "content": {"application/json": {"model": ActivityAnswer}}},
        400: problem("Invalid field (with its path): units of another category, a future date, ..."),
        404: problem("Unknown member"),
        409: problem(
            "activity_withdrawn, cycle_closed (its late-documentation window ended) or concurrent_change"
        ),
        422: problem("not_countable: the activity counts for no certification (reason per certification)"),
    },
)
def put_activity(
    member_id: MemberIdPath, activity_id: ActivityIdPath, body: ActivityRequest, x_actor: ActorHeader = None
) -> Response[Any]:
    recorded = activities().record(member_id, activity_id, body, x_actor, _today())
    return json_response(201 if recorded.created else 200, recorded.answer.model_dump(mode="json"))


@app.delete(
    "/members/<member_id>/activities/<activity_id>",
    summary="Withdraw a self-reported CE activity",
    description=(
        "Allowed while the cycles it counts in are open or inside their late-documentation window. "
        "Withdrawing again is a no-op."
    ),
    responses={
        200: {"description": "Withdrawn", "content": {"application/json": {"model": ActivityAnswer}}},
        404: problem("Unknown member"),
        409: problem("cycle_closed, not_self_reported (an LMS or provider record: names its source)"),
    },
)
def delete_activity(
    member_id: MemberIdPath, activity_id: ActivityIdPath, x_actor: ActorHeader = None
) -> ActivityAnswer:
    return activities().withdraw(member_id, activity_id, x_actor, _today())


@app.get(
    "/members/<member_id>/activities",
    summary="The member's CE record from every source",
    description="Self-reported, LMS and provider-file records, newest first, with points per certification.",
    responses={
        200: {"description": "OK", "content": {"application/json": {"model": ActivityList}}},
        404: problem("Unknown member"),
    },
)
def list_activities(
    member_id: MemberIdPath,
    credential: CredentialQuery = None,
    cycle: CycleQuery = CycleFilter.CURRENT,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size")] = 50,
    next_token: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,6}$", description="From the previous page")
    ] = None,
) -> ActivityList:
    return activities().listing(member_id, credential, cycle, limit, next_token, _today())


@app.get(
    "/members/<member_id>/transcript",
    summary="CE transcript (PDF)",
    description=(
        "Activities per certification and cycle with their points (or why 0), totals per category and "
        "certification, and the date produced. Always application/pdf."
    ),
    responses={
        200: {
            "description": "The transcript",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        404: problem("Unknown member"),
    },
)
def get_transcript(
    member_id: MemberIdPath,
    credential: CredentialQuery = None,
    cycle: CycleQuery = CycleFilter.CURRENT,
) -> Response[str]:
    pdf = activities().transcript(member_id, credential, cycle, _today())
    disposition = f'inline; filename="ce-transcript-{member_id}.pdf"'
    # Powertools base64-encodes a bytes body itself, but its response validation would first try to
    # serialise those bytes as UTF-8 text; so the body goes out already encoded and flagged.
    response: Response[str] = Response(
        status_code=200,
        content_type="application/pdf",
        body=base64.b64encode(pdf).decode("ascii"),
        headers={"Content-Disposition": disposition},
    )
    response.base64_encoded = True
    return response


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
