"""Recertification use cases: open an application, staff decision (CCP), exam results, completion.

Completion is evaluated whenever one of its inputs lands - the staff decision, the exam result, or
the recertification fee payment - so the order of arrival does not matter:

* decision and exam result: synchronously, in the request that records them;
* payment: the renewal Stripe webhook records a ``FeePayment`` fact (``purpose="recertification"``,
  ``application_id``); the table stream delivers that INSERT to ``functions/badge_issue`` (the
  outbox consumer), which calls :meth:`RecertificationService.try_complete`. No coupling between the
  payment code and this module; a redelivered payment record finds the application closed and does
  nothing.

Completion writes the ``Recertified`` fact and closes the application in ONE transaction; the fact
in the stream is the outbox for the Credly badge.

For other modules (CE ingest evidence uploads): :func:`open_application` answers "does this member
have an open recertification application (for this credential)?" from a loaded ``MemberRecord``.
Application ids are ``{member_id}.{CREDENTIAL}.{n}`` (member ids contain no dots), so a route that
only has the application id finds the member partition without an index read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import Conflict, NotFound, UnknownCredential, Unprocessable
from shared.observability import logger
from shared.rules.dates import IsoDate
from shared.rules.eligibility import EligibilityAnswers, EligibilityResult, EligibilityRoute, assess
from shared.rules.models import (
    ActivitySpec,
    Fact,
    FeePayment,
    Recertified,
    RecertMethod,
    Standing,
)
from shared.rules.policy import RulesPolicy
from shared.rules.recert import (
    Decision,
    ExamResult,
    RecertApplication,
    Requirement,
    is_complete,
    passing_result,
    requirements,
)
from shared.rules.status import catalog_ids_needed, evaluate, fee_paid_since, recertified_from
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.recert import (
    APPLICATION_KIND,
    APPLICATION_LIST,
    EXAM_RESULT_KIND,
    RecertStore,
    StaleWrite,
)
from shared.store.records import EventRecord, MemberRecord

EVIDENCE_KIND = "evidence"  # recorded by CE ingest: data.application_id / data.audit_id

# Catalog entries for activities that were unmapped when completed (``CatalogService.lookup``, the
# one ``MemberService`` gets): one BatchGetItem.
CatalogLookup = Callable[[set[str]], Mapping[str, ActivitySpec]]


# ---------------------------------------------------------------------- errors (409 state, 422 rule)


class ApplicationAlreadyOpen(Conflict):
    code = "application_open"


class NotLapsed(Conflict):
    code = "not_lapsed"


class ApplicationClosed(Conflict):
    code = "application_closed"


class MethodNotAllowed(Unprocessable):
    code = "method_not_allowed"


class NotEligible(Unprocessable):
    code = "not_eligible"


class RequirementMissing(Unprocessable):
    code = "requirement_missing"


# ---------------------------------------------------------------------- requests and views


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class OpenApplication(_Strict):
    """Body of ``POST /members/{member_id}/recertifications``."""

    credential: str = Field(min_length=1, max_length=10)
    method: RecertMethod
    eligibility: EligibilityAnswers | None = Field(
        default=None, description="Exam path: the applicant's answers, checked against CURRENT criteria"
    )


class DecisionRequest(_Strict):
    decision: Literal["approved", "rejected"]
    reason: str = Field(default="", max_length=500)


class ExamResultIn(_Strict):
    """The exam vendor's callback body (``POST /exam-results``)."""

    member_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    credential: str = Field(min_length=1, max_length=10)
    passed: bool
    exam_date: IsoDate
    result_id: str = Field(min_length=1, max_length=128)


class ApplicationView(_Strict):
    application: RecertApplication
    complete: bool
    in_force: bool = Field(
        description="completed and its fee still paid: a refund or lost dispute recorded after completion "
        "takes the recertification out of force (the fee is due again); a dispute won or a new payment "
        "restores it"
    )
    fee_due_cents: int
    still_required: list[Requirement]
    requirements: list[Requirement]


class ExamResultOutcome(_Strict):
    result_id: str
    recorded: Literal["created", "duplicate"]
    application_id: str | None
    completed: bool


# ---------------------------------------------------------------------- queries over a member record


def applications_of(record: MemberRecord) -> list[RecertApplication]:
    return sorted(
        (RecertApplication.model_validate(e.data) for e in record.events if e.kind == APPLICATION_KIND),
        key=lambda a: (a.opened_on, a.application_id),
    )


def open_application(record: MemberRecord, credential: str | None = None) -> RecertApplication | None:
    """The member's open recertification application (for ``credential`` if given), or None.

    Public helper for other modules (e.g. CE ingest deciding where an evidence upload belongs)."""
    wanted = credential.strip().upper() if credential else None
    for app in applications_of(record):
        if app.status == "open" and (wanted is None or app.credential == wanted):
            return app
    return None


def completion_of(record: MemberRecord, application_id: str) -> Recertified | None:
    """The ``Recertified`` fact that completed the application (keyed by its id), if any."""
    return next((f for f in record.facts if isinstance(f, Recertified) and f.key == application_id), None)


def exam_results_of(record: MemberRecord) -> list[ExamResult]:
    return [ExamResult.model_validate(e.data) for e in record.events if e.kind == EXAM_RESULT_KIND]


def evidence_count(
    record: MemberRecord, *, application_id: str | None = None, audit_id: str | None = None
) -> int:
    return len(evidence_of(record, application_id=application_id, audit_id=audit_id))


def evidence_of(
    record: MemberRecord, *, application_id: str | None = None, audit_id: str | None = None
) -> list[EventRecord]:
    return [
        e
        for e in record.events
        if e.kind == EVIDENCE_KIND
        and (
            (application_id is not None and e.data.get("application_id") == application_id)
            or (audit_id is not None and e.data.get("audit_id") == audit_id)
        )
    ]


def member_of(application_id: str) -> str:
    member_id, _, rest = application_id.partition(".")
    if not member_id or not rest:
        raise NotFound(f"application {application_id!r} not found")
    return member_id


# ---------------------------------------------------------------------- the service


class RecertificationService:
    def __init__(
        self,
        repository: MemberRepository,
        policy: RulesPolicy,
        criteria: dict[str, list[EligibilityRoute]],
        store: RecertStore | None = None,
        catalog: CatalogLookup | None = None,
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.criteria = criteria
        self.store = store or RecertStore(repository)
        self.catalog = catalog
        self._catalog_seen: dict[str, ActivitySpec] = {}
        self._catalog_asked: set[str] = set()

    # -- eligibility assistant

    def eligibility(self, credential: str, answers: EligibilityAnswers, today: date) -> EligibilityResult:
        code = self._code(credential, "credential")
        return assess(code, self.criteria.get(code, []), answers, today)

    # -- applications

    def open(self, member_id: str, request: OpenApplication, today: date) -> ApplicationView:
        record = self._load(member_id)
        code = self._code(request.credential, "credential")
        cert = record.certifications.get(code)
        if cert is None:
            raise NotFound(f"member {member_id!r} holds no {code} certification")
        existing = open_application(record, code)
        if existing is not None:
            raise ApplicationAlreadyOpen(
                f"an application for {code} is already open", application_id=existing.application_id
            )
        status = evaluate(
            cert.as_certification(), record.facts, today, self.policy, self._catalog_for(record.facts)
        )
        if status.status is not Standing.LAPSED or status.lapsed_on is None:
            raise NotLapsed(
                f"{code} is {status.status.value}, not lapsed: nothing to recertify",
                status=status.status.value,
            )
        allowed = status.recertification.allowed_methods
        if request.method not in allowed:
            raise MethodNotAllowed(
                f"recertification by {request.method.value} is not allowed for {code} lapsed on "
                f"{status.lapsed_on} (CCP only while lapsed less than {self.policy.ccp_recert_max_lapsed_years} years)",
                allowed_methods=[m.value for m in allowed],
                lapsed_on=status.lapsed_on.isoformat(),
            )
        routes: list[str] = []
        if request.method is RecertMethod.EXAM:
            if request.eligibility is None:
                raise NotEligible(
                    "the exam path needs the applicant's eligibility answers", field="eligibility"
                )
            result = assess(code, self.criteria.get(code, []), request.eligibility, today)
            if not result.eligible:
                raise NotEligible(
                    f"the answers meet none of {code}'s current eligibility routes",
                    routes=[r.model_dump(mode="json") for r in result.routes],
                )
            routes = result.met_routes
        number = 1 + sum(1 for a in applications_of(record) if a.credential == code)
        app = RecertApplication(
            application_id=f"{member_id}.{code}.{number}",
            member_id=member_id,
            credential=code,
            method=request.method,
            opened_on=today,
            lapsed_on=status.lapsed_on,
            fee_cents=self.policy.credential(code).recertification_fee_cents,
            eligibility_routes=routes,
        )
        try:
            self._save(app, today, create=True)
        except StaleWrite:  # a concurrent request opened it first
            raced = open_application(self._load(member_id), code)
            raise ApplicationAlreadyOpen(
                f"an application for {code} is already open",
                application_id=raced.application_id if raced else app.application_id,
            ) from None
        logger.info("recertification application opened", extra={"application_id": app.application_id})
        return self._view(record, app, today)

    def get(self, application_id: str, today: date) -> ApplicationView:
        record, app = self._application(application_id)
        return self._view(record, app, today)

    def decide(self, application_id: str, request: DecisionRequest, today: date) -> ApplicationView:
        record, app = self._application(application_id)
        if app.method is not RecertMethod.CCP:
            raise Unprocessable("exam applications are decided by the exam result, not by staff")
        if app.decision is not None:
            if (app.decision.decision, app.decision.reason) == (request.decision, request.reason):
                return self._view(record, app, today)  # the same decision again: idempotent
            raise ApplicationClosed(
                f"application already {app.decision.decision}", decision=app.decision.model_dump(mode="json")
            )
        if app.status != "open":
            raise ApplicationClosed(f"application is {app.status}")
        if request.decision == "approved":
            reqs = self._requirements(record, app, today)
            for missing in (r for r in reqs if r.item in {"ccp_points", "evidence"} and not r.done):
                raise RequirementMissing(
                    f"cannot approve: {missing.detail}", requirement=missing.model_dump()
                )
        decided = app.model_copy(
            update={
                "decision": Decision(decision=request.decision, reason=request.reason, decided_on=today),
                "status": "rejected" if request.decision == "rejected" else "open",
            }
        )
        try:
            self._save(decided, today, expect_open=True)
        except StaleWrite:
            raise ApplicationClosed("the application changed meanwhile; read it again") from None
        if request.decision == "approved":
            self.try_complete(app.member_id, application_id, today)
        record, app = self._application(application_id)
        return self._view(record, app, today)

    def record_exam_result(self, result: ExamResultIn, today: date) -> ExamResultOutcome:
        code = self._code(result.credential, "credential")
        record = self._load(result.member_id)
        stored = ExamResult(**{**result.model_dump(), "credential": code})
        event = EventRecord(
            kind=EXAM_RESULT_KIND,
            key=result.result_id,
            occurred_on=result.exam_date,
            recorded_on=today,
            credential=code,
            summary=f"{code} exam {'passed' if result.passed else 'failed'} (result {result.result_id})",
            data=stored.model_dump(mode="json"),
        )
        outcome = self.repository.record_event(result.member_id, event)
        if outcome is WriteOutcome.CONFLICT:
            # the stored event differs; a redelivery on a later business day differs in recorded_on only
            earlier = next(
                (e for e in record.events if e.kind == EXAM_RESULT_KIND and e.key == result.result_id), None
            )
            if earlier is None or earlier.data != event.data:
                raise Conflict(f"result {result.result_id} was already reported with different content")
            outcome = WriteOutcome.DUPLICATE
        app = open_application(record, code)
        completed = False
        if app is not None and app.method is RecertMethod.EXAM and result.passed:
            completed = self.try_complete(result.member_id, app.application_id, today)
        elif app is None:  # a redelivery after completion: report the application it completed
            app = next((a for a in applications_of(record) if a.exam_result_id == result.result_id), None)
            completed = app is not None and app.status == "completed"
        return ExamResultOutcome(
            result_id=result.result_id,
            recorded="created" if outcome is WriteOutcome.CREATED else "duplicate",
            application_id=app.application_id if app else None,
            completed=completed,
        )

    def on_payment(self, member_id: str, payment: FeePayment, today: date) -> bool:
        """Stream: a recertification fee payment landed; complete its application if it is ready."""
        if payment.purpose != "recertification" or not payment.application_id:
            return False
        if member_of(payment.application_id) != member_id:
            logger.warning("payment names another member's application", extra={"payment": payment.key})
            return False
        return self.try_complete(member_id, payment.application_id, today)

    def try_complete(self, member_id: str, application_id: str, today: date) -> bool:
        """Complete the application if (approved or passed) and the fee is paid. Idempotent: True when
        the application is (now or already) completed."""
        record = self._load(member_id)
        app = next((a for a in applications_of(record) if a.application_id == application_id), None)
        if app is None:
            return False
        if app.status != "open":
            return app.status == "completed"
        try:
            return self._complete(record, app, today) is not None
        except StaleWrite:
            again = next(
                a for a in applications_of(self._load(member_id)) if a.application_id == application_id
            )
            return again.status == "completed"

    def complete_loaded(
        self, record: MemberRecord, app: RecertApplication, today: date
    ) -> Recertified | None:
        """Complete the open ``app`` from an already loaded ``record`` (no read): the ``Recertified``
        fact when this call completed it; None when it is not ready or was closed meanwhile. The daily
        run's backstop calls this for every open application of the members it evaluates."""
        if app.status != "open":
            return None
        try:
            return self._complete(record, app, today)
        except StaleWrite:  # completed (or rejected) meanwhile: the fact key is the dedup marker
            return None

    def _complete(self, record: MemberRecord, app: RecertApplication, today: date) -> Recertified | None:
        """The completion transaction when ``app`` is ready (None when not); StaleWrite if it raced."""
        reqs = self._requirements(record, app, today)
        if not is_complete(reqs):
            return None
        passed = passing_result(app, exam_results_of(record), self.policy)
        completed_on = self._last_input_on(record, app, passed, today)
        closed = app.model_copy(
            update={
                "status": "completed",
                "completed_on": completed_on,
                "exam_result_id": passed.result_id if passed else None,
            }
        )
        fact = Recertified(
            key=app.application_id,
            recorded_on=today,
            credential=app.credential,
            completed_on=completed_on,
            method=app.method,
            application_id=app.application_id,
            fee_cents=app.fee_cents,
        )
        self.store.complete(app.member_id, fact, self._event(closed, today), today + timedelta(days=1))
        logger.info("recertification completed", extra={"application_id": app.application_id})
        return fact

    def _last_input_on(
        self, record: MemberRecord, app: RecertApplication, passed: ExamResult | None, today: date
    ) -> date:
        """The business date the last required input was recorded (never after ``today``): the staff
        approval, the passing exam result's recording, the day the fee became fully paid."""
        inputs = [app.opened_on]
        if app.method is RecertMethod.CCP and app.decision is not None:
            inputs.append(app.decision.decided_on)
        if passed is not None:
            inputs.append(
                next(
                    (
                        e.recorded_on
                        for e in record.events
                        if e.kind == EXAM_RESULT_KIND and e.key == passed.result_id
                    ),
                    passed.exam_date,
                )
            )
        # the day the fee became (last) fully paid: payments and reversals change it
        inputs.append(fee_paid_since(record.facts, app.application_id, app.fee_cents, today) or today)
        return min(max(inputs), today)

    # -- helpers

    def _requirements(self, record: MemberRecord, app: RecertApplication, today: date) -> list[Requirement]:
        return requirements(
            app,
            record.facts,
            exam_results_of(record),
            evidence_count(record, application_id=app.application_id),
            self.policy,
            today,
            self._catalog_for(record.facts),
        )

    def _catalog_for(self, facts: Sequence[Fact]) -> Mapping[str, ActivitySpec]:
        """Catalog entries the rules need for ``facts`` (``catalog_ids_needed``): one batched read for
        the ids not asked for yet by this service (built per request, or per stream batch)."""
        if self.catalog is None:
            return {}
        wanted = catalog_ids_needed(facts) - self._catalog_asked
        if wanted:
            self._catalog_seen.update(self.catalog(wanted))
            self._catalog_asked |= wanted
        return self._catalog_seen

    def _view(self, record: MemberRecord, app: RecertApplication, today: date) -> ApplicationView:
        reqs = self._requirements(record, app, today)
        paid_detail = next(r for r in reqs if r.item == "fee")
        completion = completion_of(record, app.application_id)
        in_force = completion is not None and recertified_from(completion, record.facts, today) is not None
        fee_owed = app.status == "open" or (app.status == "completed" and not in_force)
        return ApplicationView(
            application=app,
            complete=app.status == "completed",
            in_force=in_force,
            fee_due_cents=app.fee_cents if fee_owed and not paid_detail.done else 0,
            still_required=[r for r in reqs if not r.done] if app.status == "open" else [],
            requirements=reqs,
        )

    def _event(self, app: RecertApplication, today: date) -> EventRecord:
        summary = {
            "open": f"applied to recertify {app.credential} by {app.method.value} ({app.application_id})",
            "rejected": f"recertification {app.application_id} rejected"
            + (f": {app.decision.reason}" if app.decision and app.decision.reason else ""),
            "completed": f"recertification {app.application_id} by {app.method.value} completed on "
            f"{app.completed_on}",
        }[app.status]
        if app.status == "open" and app.decision is not None:
            summary += f"; approved on {app.decision.decided_on}"
        return EventRecord(
            kind=APPLICATION_KIND,
            key=app.application_id,
            occurred_on=app.opened_on,
            recorded_on=today,
            credential=app.credential,
            summary=summary,
            data=app.model_dump(mode="json"),
        )

    def _save(
        self, app: RecertApplication, today: date, *, create: bool = False, expect_open: bool = False
    ) -> None:
        self.store.put_event(
            app.member_id,
            self._event(app, today),
            list_keys=(APPLICATION_LIST, app.application_id),
            create=create,
            expect={"status": "open"} if expect_open else None,
        )

    def _application(self, application_id: str) -> tuple[MemberRecord, RecertApplication]:
        record = self._load(member_of(application_id))
        app = next((a for a in applications_of(record) if a.application_id == application_id), None)
        if app is None:
            raise NotFound(f"application {application_id!r} not found")
        return record, app

    def _load(self, member_id: str) -> MemberRecord:
        record = self.repository.load(member_id)
        if record is None:
            raise NotFound(f"member {member_id!r} not found")
        return record

    def _code(self, credential: str, field: str) -> str:
        code = self.policy.canonical_code(credential)
        if code is None:
            raise UnknownCredential(
                f"unknown credential {credential!r}", field=field, known=self.policy.known_codes
            )
        return code
