"""The staff console: server-rendered HTML (Jinja2, autoescaped) under ``/console``, for staff only:
signed in through the staff user pool's hosted sign-in (``/console/sign-in``, ``/console/callback``,
``/console/sign-out``), whose access token lives in an HttpOnly cookie that the console's Lambda
authorizer verifies on every other console route (docs/console.md, "Sign-in").

No JavaScript: every page works with plain links and forms. An action is two POSTs of the same form:
the first answers a confirmation page saying what will change, the second (``confirmed=yes``) calls the
same service the API route calls, with the same request model, and shows the answer in words - a 409
or 422 with its reason included.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.typing import LambdaContext
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ValidationError

# boto3 at cold start, though no module imported here needs it yet: every page but the home page and
# the sign-in reads the table, so deferring it to their first request would only move it out of the
# cold-start figure (tests/unit/test_import_closure.py keeps it here).
import shared.aws  # noqa: F401
from shared.clock import business_today
from shared.config.settings import get_settings
from shared.errors import DomainError
from shared.http import make_resolver, validation_problems
from shared.observability import lambda_entry, logger
from shared.rules.ids import MEMBER_ID_ANCHORED
from shared.rules.policy import Category
from shared.services.console_queues import Queue, QueuePage
from shared.services.factories import (
    audit_service,
    catalog_service,
    member_service,
    payment_service,
    recertification_service,
    staff_sign_in,
)
from shared.services.staff_sign_in import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_SECONDS,
    STAFF_GROUP,
    cookie_value,
    state_matches,
)

if TYPE_CHECKING:
    from shared.services.catalog import ActivityUpsert
    from shared.services.console import ConsoleService
    from shared.services.payment_schemas import ResolutionRequest
    from shared.services.recert_schemas import AuditDecisionRequest, DecisionRequest

MemberIdPath = Annotated[str, Path(pattern=MEMBER_ID_ANCHORED, description="Member id")]


def html(description: str) -> OpenAPIResponse:
    """OpenAPI entry for a page the console answers with (its refusals are pages too)."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


HTML_OK: dict[int, OpenAPIResponse] = {
    200: html("An HTML page"),
    403: html("Not signed in with the staff group"),
}

_TEMPLATES = FilePath(__file__).parent / "templates"
_CSS = (_TEMPLATES / "console.css").read_text(encoding="utf-8")
# The one stylesheet is inlined and allowed by its hash: no script at all, nothing else inline.
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{_CSS_HASH}'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the console's own
    # form POSTs, and the Origin check below needs the real one. Other sites still get nothing.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TEMPLATES = Environment(
    loader=FileSystemLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined, auto_reload=False
)

app: APIGatewayHttpResolver = make_resolver()


# ---------------------------------------------------------------------- wiring

# Each route imports the services it reads on its first request (the factories and console() below),
# not the cold start: the home page and the sign-in load no member, audit, payment or recertification
# code, and only the sign-in routes load the Cognito adapter (PyJWT). tests/unit/test_import_closure.py
# keeps it so.


def console() -> ConsoleService:
    from shared.services.console import ConsoleService
    from shared.store.catalog import CatalogRepository

    members = member_service()
    return ConsoleService(members, audit_service(), CatalogRepository(get_settings().table_name))


def _today() -> date:
    return business_today(get_settings().zone)


# ---------------------------------------------------------------------- rendering


def page(template: str, status: int = 200, **context: Any) -> Response[str]:
    body = TEMPLATES.get_template(template).render(css=_CSS, today=_today(), root=_root(), **context)
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers=dict(SECURITY_HEADERS)
    )


def _refusal(status: int, title: str, problems: list[dict[str, str]]) -> Response[str]:
    return page("refused.html", status, title=title, problems=problems)


@app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
def _domain(error: DomainError) -> Response[str]:
    logger.info("console request refused", extra={"error": error.code, "status": error.status_code})
    return _refusal(error.status_code, f"Refused: {error.code}", [{"field": "", "reason": error.message}])


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(error: RequestValidationError) -> Response[str]:
    problems = [
        {
            "field": ".".join(str(part) for part in item.get("loc", ())[1:]),
            "reason": item.get("msg", "invalid"),
        }
        for item in error.errors()
    ]
    return _refusal(400, "Invalid request", problems)


# The sign-in itself needs no session (no authorizer on these routes in template.yaml).
PUBLIC_PATHS = frozenset({"/console/sign-in", "/console/callback", "/console/sign-out"})


def _redirect(location: str, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(
        status_code=303,
        content_type="text/html; charset=utf-8",
        body="",
        headers={**SECURITY_HEADERS, "Location": location},
        cookies=cookies or [],
    )


def _console_url() -> str:
    """The console's public URL (with the stage: ``https://…/prod/console``); ``/console`` locally."""
    return get_settings().console_url or "/console"


def _root() -> str:
    """The console's path as the browser sees it, for every link, form and redirect: behind a named
    stage it starts with the stage (``/prod/console``), which a root-relative ``/console`` would lose;
    ``/console`` locally and under a custom domain that maps the API at its root."""
    return urlsplit(_console_url()).path.rstrip("/") or "/console"


def _same_origin(router: APIGatewayHttpResolver) -> bool:
    """A POST's ``Origin`` names this host. With the SameSite=Strict cookie another site's form already
    arrives without a session; this also refuses a form from a sibling host of the same site (e.g. a
    compromised ``www.`` of the association), for which SameSite does nothing."""
    headers = router.current_event.headers or {}
    origin, host = headers.get("origin", ""), headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc == host


def require_staff(router: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """The authorizer (functions/console_authorizer) has verified the session cookie's token (signature,
    issuer, client, token use, expiry and the ``staff`` group) and says so in its context, which no
    caller can set. No session, or an expired one: to the sign-in. Anything else never gets here
    deployed (the authorizer answers 403); it is refused here too."""
    event = router.current_event
    if event.path in PUBLIC_PATHS:
        return next_middleware(router)
    authorizer = event.request_context.authorizer
    context = (authorizer.get_lambda if authorizer else None) or {}
    session = context.get("session")
    if session in ("none", "expired"):
        return _redirect(f"{_console_url()}/sign-in")
    if session != "staff" or STAFF_GROUP not in str(context.get("groups", "")).split():
        logger.info("console request without a staff session")
        return _refusal(403, "Staff only", [{"field": "", "reason": "sign in with a staff account"}])
    if event.http_method == "POST" and not _same_origin(router):
        logger.info("console form from another origin refused")
        return _refusal(
            403, "Refused", [{"field": "Origin", "reason": "the form was not sent from this console"}]
        )
    return next_middleware(router)


app.use(middlewares=[require_staff])


# ---------------------------------------------------------------------- sign-in


def _cookie(name: str, value: str, max_age: int, same_site: SameSite) -> Cookie:
    return Cookie(name, value, path="/", secure=True, http_only=True, max_age=max_age, same_site=same_site)


SIGN_IN_RESPONSES: dict[int, OpenAPIResponse] = {
    200: html("No user pool here (the local stack), or signed in: a page that continues to the console"),
    303: html("To the hosted sign-in, or back to the console (an empty page)"),
    400: html("The callback does not belong to a sign-in started here, or the code was refused"),
    403: html("Signed in, but not with a staff account"),
    503: html("The user pool's token endpoint did not answer"),
}


@app.get(
    "/console/sign-in",
    summary="Staff console: sign in (to the user pool's hosted sign-in)",
    responses=SIGN_IN_RESPONSES,
)
def sign_in() -> Response[str]:
    flow = staff_sign_in()
    if flow is None:
        return page("no_sign_in.html")
    started = flow.start()
    # Lax, not Strict: the callback arrives as a navigation from the sign-in page, another site.
    kept = _cookie(SIGN_IN_COOKIE, f"{started.state}.{started.verifier}", SIGN_IN_SECONDS, SameSite.LAX_MODE)
    return _redirect(started.url, [kept])


@app.get(
    "/console/callback", summary="Staff console: back from the hosted sign-in", responses=SIGN_IN_RESPONSES
)
def callback(
    code: Annotated[str, Query(min_length=1, max_length=2048, description="The authorization code")],
    state: Annotated[str, Query(min_length=1, max_length=256, description="The state sent to the sign-in")],
) -> Response[str]:
    flow = staff_sign_in()
    if flow is None:
        return page("no_sign_in.html")
    from shared.adapters.cognito import CodeRefused, CognitoUnavailable, TokenRejected

    kept_state, _, verifier = cookie_value(app.current_event.cookies, SIGN_IN_COOKIE).partition(".")
    if not verifier or not state_matches(kept_state, state):
        return _refusal(400, "Sign-in not started here", [{"field": "state", "reason": "sign in again"}])
    try:
        signed_in = flow.finish(code, verifier)
    except CodeRefused as refused:
        return _refusal(
            400, "Sign-in refused", [{"field": "code", "reason": f"{refused.error}: sign in again"}]
        )
    except CognitoUnavailable:
        logger.exception("the user pool's sign-in did not answer")
        return _refusal(
            503,
            "Sign-in unavailable",
            [{"field": "", "reason": "the sign-in service did not answer: try again"}],
        )
    except TokenRejected as rejected:
        logger.info("sign-in without a usable staff token", extra={"problem": rejected.problem.value})
        return _refusal(403, "Staff only", [{"field": "", "reason": "sign in with a staff account"}])
    response = page("signed_in.html", next_url=_console_url(), username=signed_in.identity.username)
    response.cookies = [
        _cookie(SESSION_COOKIE, signed_in.token, signed_in.max_age, SameSite.STRICT_MODE),
        _cookie(SIGN_IN_COOKIE, "", 0, SameSite.LAX_MODE),
    ]
    logger.info("staff signed in", extra={"sub": signed_in.identity.subject})
    return response


@app.get(
    "/console/sign-out",
    summary="Staff console: sign out (forget the session, end the hosted sign-in's)",
    responses={303: html("To the user pool's sign-out, then back to the console (an empty page)")},
)
def sign_out() -> Response[str]:
    flow = staff_sign_in()
    gone = [_cookie(SESSION_COOKIE, "", 0, SameSite.STRICT_MODE)]
    return _redirect(flow.sign_out_url() if flow else _console_url(), gone)


# ---------------------------------------------------------------------- pages


@app.get("/console", summary="Staff console: search and work queues", responses=HTML_OK)
def home() -> Response[str]:
    return page("home.html", queues=list(Queue))


@app.get(
    "/console/members",
    summary="Staff console: find a member by id or e-mail (redirects to the member page)",
    responses={
        303: {"description": "To the member page"},
        403: html("Not signed in with the staff group"),
        404: html("No such member"),
    },
)
def search(
    q: Annotated[str, Query(min_length=1, max_length=320, description="Member id or e-mail")],
) -> Response[str]:
    member_id = console().find_member(q)
    return Response(
        status_code=303,
        content_type="text/html; charset=utf-8",
        body="",
        headers={**SECURITY_HEADERS, "Location": f"{_root()}/members/{quote(member_id)}"},
    )


@app.get(
    "/console/members/<member_id>",
    summary="Staff console: a member's status with reasons, CCP progress, invoices, badges, timeline",
    responses={**HTML_OK, 404: html("Unknown member")},
)
def member(
    member_id: MemberIdPath,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="Timeline kind")] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100000, description="Timeline page")] = 1,
) -> Response[str]:
    from shared.services.console import REASON_WORDS

    found = console().member_page(member_id, _today(), kind or None, page_number)
    return page("member.html", member=found, reason_words=REASON_WORDS)


@app.get(
    "/console/queues/<queue>",
    summary="Staff console: a work queue",
    responses={**HTML_OK, 400: html("Unknown queue or bad next_token")},
)
def queue(
    queue: Annotated[Queue, Path(description="Which queue")],
    next_token: Annotated[str | None, Query(max_length=2000, description="From the previous page")] = None,
) -> Response[str]:
    try:
        listed = _queue(queue, next_token)
    except ValueError as error:  # a token of another listing, or not ours
        raise DomainError(str(error), field="next_token") from error
    return page(
        QUEUE_TEMPLATES.get(queue, "queue_listing.html"),
        queue=queue,
        listed=listed,
        categories=list(Category),
    )


# Queues with actions have their own page; the others are listings.
QUEUE_TEMPLATES = {
    Queue.AUDITS: "queue_audits.html",
    Queue.RECERTIFICATIONS: "queue_recertifications.html",
    Queue.PAYMENT_EXCEPTIONS: "queue_payment_exceptions.html",
    Queue.UNMAPPED_ACTIVITIES: "queue_unmapped_activities.html",
}


def _queue(queue: Queue, token: str | None) -> QueuePage:
    service = console()
    if queue is Queue.AUDITS:
        return service.pending_audits(_today(), token)
    if queue is Queue.RECERTIFICATIONS:
        return service.pending_applications(token)
    if queue is Queue.PARKED_PAYMENTS:
        return QueuePage(list(payment_service().parked()), None, 0)
    if queue is Queue.PAYMENT_EXCEPTIONS:
        return QueuePage(list(payment_service().exceptions()), None, 0)
    entries = catalog_service()
    if queue is Queue.UNMAPPED_ACTIVITIES:
        return QueuePage(list(entries.unmapped().activities), None, 0)
    listing = entries.quarantined if queue is Queue.QUARANTINED_UPLOADS else entries.unmatched_statements
    found = listing(100, token)
    return QueuePage(found.items, found.next_token, len(found.items))


# ---------------------------------------------------------------------- actions


class Action(StrEnum):
    AUDIT_DECISION = "audit-decision"
    RECERTIFICATION_DECISION = "recertification-decision"
    PAYMENT_RESOLUTION = "payment-resolution"
    CATALOG_MAPPING = "catalog-mapping"


@dataclass(frozen=True)
class ActionSpec:
    target: str  # the form field naming what the action is about
    model: type[BaseModel]
    lists: tuple[str, ...]  # form fields that may repeat (checkboxes)
    explain: Callable[[str, Any], str]  # what will change, in words
    perform: Callable[[str, Any], str]  # do it; what changed, in words
    back: Queue


def _explain_audit(audit_id: str, body: AuditDecisionRequest) -> str:
    audit = audit_service().record(audit_id, _today())
    subject = f"Audit {audit_id} of {audit.member_id}'s {audit.credential} certification"
    if body.decision == "failed":
        return (
            f"{subject} will be recorded as FAILED: the certification lapses today (audit_failed) and "
            "its Credly badge, if any, is revoked."
        )
    dropped = (
        f" The activities {', '.join(body.disallowed_activities)} will count 0 points."
        if body.disallowed_activities
        else ""
    )
    return (
        f"{subject} will be recorded as PASSED.{dropped} A pass that leaves the cycle short of its points "
        "is recorded as failed and lapses the certification."
    )


def _perform_audit(audit_id: str, body: AuditDecisionRequest) -> str:
    audit = audit_service().decide(audit_id, body, _today())
    assert audit.decision is not None
    return f"Audit {audit_id} recorded as {audit.decision.outcome}. The certification is now {audit.status}."


def _explain_application(application_id: str, body: DecisionRequest) -> str:
    view = recertification_service().get(application_id, _today())
    subject = f"Application {application_id} ({view.application.member_id}, {view.application.credential})"
    if body.decision == "approved":
        fee = (
            "its fee is paid"
            if view.fee_due_cents == 0
            else f"its fee of {view.fee_due_cents / 100:.2f} is paid"
        )
        return (
            f"{subject} will be APPROVED: the certification is recertified as soon as {fee}, and a Credly "
            "badge is issued then."
        )
    return f"{subject} will be REJECTED and closed; the member stays lapsed and may apply again."


def _perform_application(application_id: str, body: DecisionRequest) -> str:
    view = recertification_service().decide(application_id, body, _today())
    if view.complete:
        return f"Application {application_id} {body.decision}: the certification is recertified; the badge is on its way."
    still = ", ".join(r.item for r in view.still_required) or "nothing"
    return f"Application {application_id} {body.decision}. Still required: {still}."


def _explain_payment(payment_key: str, body: ResolutionRequest) -> str:
    found = next((e for e in payment_service().exceptions() if e.payment_key == payment_key), None)
    what = (
        f"payment {payment_key} of {found.amount_cents / 100:.2f} {found.currency.upper()} from {found.member_id} ({found.reason})"
        if found
        else f"payment {payment_key}"
    )
    from shared.services.payment_schemas import Resolution

    if body.action is Resolution.CREDIT:
        invoices = ", ".join(found.invoices) if found and found.invoices else "the invoices it names"
        return f"The {what} will CREDIT {invoices}: they become paid."
    return f"The {what} will be marked for REFUND: nothing is credited; refund it in Stripe."


def _perform_payment(payment_key: str, body: ResolutionRequest) -> str:
    payment_service().resolve(payment_key, body.action, body.note, _today())
    return f"Payment {payment_key} resolved: {body.action.value}. The resolution is on the member's timeline."


def _explain_mapping(activity_id: str, body: ActivityUpsert) -> str:
    waiting = next((a for a in catalog_service().unmapped().activities if a.activity_id == activity_id), None)
    counted = (
        f" The {waiting.completions} completion(s) recorded while it was unmapped count from now on."
        if waiting
        else ""
    )
    return (
        f"{activity_id} is added to the catalog as {body.title!r}: {body.points} points of "
        f"{body.category.value}, provider {body.provider_id}.{counted}"
    )


def _perform_mapping(activity_id: str, body: ActivityUpsert) -> str:
    created = catalog_service().upsert(body, _today())
    return f"{activity_id} {'added to' if created else 'updated in'} the catalog: {body.points} points of {body.category.value}."


@cache
def actions() -> dict[Action, ActionSpec]:
    """Each action with its request model: the same models the API routes take, imported by the first
    form POST (with the recertification, eligibility and invoice rules under them), not at cold start."""
    from shared.services.catalog import ActivityUpsert
    from shared.services.payment_schemas import ResolutionRequest
    from shared.services.recert_schemas import AuditDecisionRequest, DecisionRequest

    return {
        Action.AUDIT_DECISION: ActionSpec(
            "audit_id",
            AuditDecisionRequest,
            ("disallowed_activities",),
            _explain_audit,
            _perform_audit,
            Queue.AUDITS,
        ),
        Action.RECERTIFICATION_DECISION: ActionSpec(
            "application_id",
            DecisionRequest,
            (),
            _explain_application,
            _perform_application,
            Queue.RECERTIFICATIONS,
        ),
        Action.PAYMENT_RESOLUTION: ActionSpec(
            "payment_key", ResolutionRequest, (), _explain_payment, _perform_payment, Queue.PAYMENT_EXCEPTIONS
        ),
        Action.CATALOG_MAPPING: ActionSpec(
            "activity_id", ActivityUpsert, (), _explain_mapping, _perform_mapping, Queue.UNMAPPED_ACTIVITIES
        ),
    }


def _form() -> dict[str, list[str]]:
    event = app.current_event
    content_type = (event.headers or {}).get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise DomainError("send the form as application/x-www-form-urlencoded", field="body")
    try:
        text = event.decoded_body or ""
    except UnicodeDecodeError:
        raise DomainError("the form is not UTF-8 text", field="body") from None
    if len(text) > 16 * 1024:
        raise DomainError("the form is over 16 KiB", field="body")
    return parse_qs(text, keep_blank_values=True, max_num_fields=250)


@app.post(
    "/console/actions/<action>",
    summary="Staff console: confirm, then perform, an action (a form POST)",
    responses={
        **HTML_OK,
        400: html("A field is invalid: the field and the reason"),
        404: html("Unknown audit, application or payment exception"),
        409: html("The state forbids it, with the reason"),
        422: html("A rule refuses it, with the reason"),
    },
)
def act(action: Annotated[Action, Path(description="Which action")]) -> Response[str]:
    spec = actions()[action]
    try:
        form = _form()
    except ValueError as error:  # parse_qs: too many fields
        raise DomainError(str(error), field="body") from error
    target = (form.pop(spec.target, None) or [""])[0]
    confirmed = (form.pop("confirmed", None) or [""])[0] == "yes"
    if not target.strip():
        return _refusal(400, "Invalid request", [{"field": spec.target, "reason": "required"}])
    fields = {
        name: values if name in spec.lists else values[0]
        for name, values in form.items()
        if name in spec.model.model_fields and (values[0] != "" or name in spec.lists)
    }
    if spec.target in spec.model.model_fields:
        fields[spec.target] = target
    try:
        body = spec.model.model_validate(fields)
    except ValidationError as error:
        return _refusal(400, "Invalid request", validation_problems(error))
    hidden = [(spec.target, target)] + [
        (name, value) for name, values in form.items() if name in fields for value in values
    ]
    if not confirmed:
        return page(
            "confirm.html",
            action=action,
            explanation=spec.explain(target, body),
            hidden=hidden,
            back=spec.back,
        )
    outcome = spec.perform(target, body)
    logger.info("console action done", extra={"action": action.value})
    return page("done.html", outcome=outcome, back=spec.back)


@lambda_entry(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
