"""CE catalog and CE ingest listings for staff (IAM auth): ``PUT /catalog/activities``,
``GET /catalog/activities/{activity_id}`` (URL-encoded IRI), ``GET /admin/unmapped-activities``,
``GET /admin/unmatched-statements``, ``GET /admin/quarantined-uploads``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.clock import business_today
from shared.config.settings import get_settings
from shared.errors import DomainError
from shared.http import json_response, make_resolver, problem
from shared.observability import lambda_entry
from shared.rules.models import ActivitySpec
from shared.services.catalog import ActivityUpsert, CatalogService, Listing, UnmappedActivities
from shared.store.catalog import CatalogRepository

app = make_resolver()
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Token = Annotated[str | None, Query(max_length=2000, description="next_token of the previous page")]


def service() -> CatalogService:
    return CatalogService(CatalogRepository(get_settings().table_name))


@app.put(
    "/catalog/activities",
    summary="Add or update an approved CE activity (points and category)",
    description="Upsert by activity_id (an IRI). Completions recorded while it was unmapped count from now on.",
    responses={200: {"description": "Updated"}, 201: {"description": "Created"}},
)
def put_activity(body: ActivityUpsert) -> Response[Any]:
    created = service().upsert(body, business_today(get_settings().zone))
    return json_response(201 if created else 200, {"activity_id": body.activity_id, "created": created})


@app.get(
    "/catalog/activities/<activity_id>",
    summary="One catalog activity by its URL-encoded IRI",
    responses={200: {"description": "The activity"}, 404: problem("Not in the catalog")},
)
def get_activity(activity_id: str) -> ActivitySpec:
    return service().get(unquote(activity_id))


@app.get(
    "/admin/unmapped-activities",
    summary="Completed activities not (yet) in the catalog, with the members who completed them",
)
def unmapped_activities() -> UnmappedActivities:
    return service().unmapped()


@app.get(
    "/admin/unmatched-statements",
    summary="LMS statements whose actor matched no member, newest first",
)
def unmatched_statements(limit: Limit = 100, next_token: Token = None) -> Listing:
    return _page(lambda: service().unmatched_statements(limit, next_token))


@app.get(
    "/admin/quarantined-uploads",
    summary="Uploads moved to quarantine/ and why, newest first",
)
def quarantined_uploads(limit: Limit = 100, next_token: Token = None) -> Listing:
    return _page(lambda: service().quarantined(limit, next_token))


def _page(fetch: Any) -> Listing:
    try:
        page: Listing = fetch()
    except ValueError as error:
        raise DomainError(str(error), field="next_token") from error
    return page


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
