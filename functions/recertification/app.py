"""Recertification API (IAM auth): applications, staff decisions, the eligibility assistant, audits.

409 = the state forbids it (not lapsed, an application already open, already decided);
422 = a rule refuses it (method not allowed - CCP after 10+ years lapsed -, eligibility not met,
points or evidence missing for an approval); 404 unknown member/application/audit; 400 invalid body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.clock import business_today
from shared.config.settings import get_settings
from shared.http import json_response, make_resolver, problem
from shared.observability import lambda_entry
from shared.rules.eligibility import EligibilityAnswers, EligibilityResult
from shared.rules.ids import MEMBER_ID_ANCHORED, MEMBER_ID_PATTERN
from shared.services.recert_schemas import (
    ApplicationView,
    AuditDecisionRequest,
    AuditRecord,
    DecisionRequest,
    OpenApplication,
)

if TYPE_CHECKING:
    from shared.services.audits import AuditService
    from shared.services.recertification import RecertificationService

MemberIdPath = Annotated[str, Path(pattern=MEMBER_ID_ANCHORED, description="Member id")]
ApplicationIdPath = Annotated[
    str,
    Path(
        pattern=rf"^{MEMBER_ID_PATTERN}\.[A-Za-z0-9]{{1,10}}\.[0-9]{{1,4}}$",
        description="Application id: {member_id}.{credential}.{n}",
    ),
]
AuditIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:#-]{0,127}$", description="Audit id")]
CredentialPath = Annotated[str, Path(pattern=r"^[A-Za-z]{1,10}$", description="Credential code or alias")]

app = make_resolver()


# The services (and the stores, members and catalog code under them) are imported by the first
# request that needs one, not at cold start: the routes declare only the wire models above, and a
# cold start pays for the route it serves (tests/unit/test_import_closure.py keeps it so).


def recertifications() -> RecertificationService:
    from shared.services.factories import recertification_service

    return recertification_service()


def audits() -> AuditService:
    from shared.services.factories import audit_service

    return audit_service()


def _today() -> Any:
    return business_today(get_settings().zone)


@app.post(
    "/members/<member_id>/recertifications",
    summary="Open a recertification application for a lapsed certification",
    description="Returns the application id, the fee due and what is still required.",
    responses={
        201: {"description": "Application opened"},
        404: problem("Unknown member, or the member holds no such certification"),
        409: problem("Not lapsed (not_lapsed), or an application is already open (application_open)"),
        422: problem("Method not allowed (method_not_allowed: CCP after 10+ years lapsed) or not eligible"),
    },
)
def open_application(member_id: MemberIdPath, body: OpenApplication) -> Response[Any]:
    view = recertifications().open(member_id, body, _today())
    return json_response(201, view.model_dump(mode="json"))


@app.get(
    "/recertifications/<application_id>",
    summary="A recertification application and what it still needs",
    responses={200: {"description": "The application"}, 404: problem("Unknown application")},
)
def get_application(application_id: ApplicationIdPath) -> ApplicationView:
    return recertifications().get(application_id, _today())


@app.post(
    "/recertifications/<application_id>/decision",
    summary="Staff decision on a CCP recertification application",
    responses={
        200: {"description": "The application with the decision"},
        404: problem("Unknown application"),
        409: problem("Already decided differently, or closed"),
        422: problem("Exam application, or required CCP points or evidence missing for an approval"),
    },
)
def decide_application(application_id: ApplicationIdPath, body: DecisionRequest) -> ApplicationView:
    return recertifications().decide(application_id, body, _today())


@app.post(
    "/eligibility/<credential>",
    summary="Eligibility assistant: which current exam eligibility routes the answers meet",
    responses={
        200: {"description": "The eligibility routes met and missed"},
        400: problem("Unknown credential or invalid answers"),
    },
)
def check_eligibility(credential: CredentialPath, body: EligibilityAnswers) -> EligibilityResult:
    return recertifications().eligibility(credential, body, _today())


@app.post(
    "/audits/<audit_id>/decision",
    summary="Record a CCP audit decision (failed lapses the certification, R7c)",
    responses={
        200: {"description": "The audit with its decision"},
        404: problem("Unknown audit"),
        409: problem("Already decided differently"),
    },
)
def decide_audit(audit_id: AuditIdPath, body: AuditDecisionRequest) -> AuditRecord:
    return audits().decide(audit_id, body, _today())


@app.get(
    "/audits/<audit_id>",
    summary="An audit with its decision and the evidence uploaded for it",
    responses={200: {"description": "The audit"}, 404: problem("Unknown audit")},
)
def get_audit(audit_id: AuditIdPath) -> AuditRecord:
    return audits().record(audit_id, _today())


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
