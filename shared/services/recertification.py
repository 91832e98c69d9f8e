"""Recertification use cases: open an application, staff decision (CCP), exam results, completion.

Completion (:mod:`shared.services.recert_completion`) is evaluated whenever one of its inputs lands -
the staff decision, the exam result, or the recertification fee payment - so the order of arrival
does not matter:

* decision and exam result: synchronously, in the request that records them;
* payment: the renewal Stripe webhook records a ``FeePayment`` fact (``purpose="recertification"``,
  ``application_id``); the table stream delivers that INSERT to ``functions/badge_issue`` (the
  outbox consumer), which calls :meth:`RecertificationService.try_complete`. No coupling between the
  payment code and this module; a redelivered payment record finds the application closed and does
  nothing.

Refusals are :mod:`shared.services.recert_errors`; request and response bodies are
:mod:`shared.services.recert_schemas`; reads of a loaded member record (applications, evidence,
exam results) are :mod:`shared.store.recert_queries`.

One concept at a little over 300 lines: the life of one recertification application (eligibility,
open, staff decision, exam result, completion attempt) against the member record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from shared.errors import Conflict, NotFound, UnknownCredential, Unprocessable
from shared.observability import logger
from shared.rules.eligibility import EligibilityAnswers, EligibilityResult, EligibilityRoute, assess
from shared.rules.models import ActivitySpec, Fact, FeePayment, RecertMethod, Standing
from shared.rules.policy import RulesPolicy
from shared.rules.recert import Decision, ExamResult, RecertApplication, Requirement, as_of
from shared.rules.status import catalog_ids_needed, evaluate, recertified_from
from shared.services.members import CatalogLookup
from shared.services.recert_completion import RecertCompletion, application_event
from shared.services.recert_errors import (
    ApplicationAlreadyOpen,
    ApplicationClosed,
    MethodNotAllowed,
    NotEligible,
    NotLapsed,
    RequirementMissing,
)
from shared.services.recert_schemas import (
    ApplicationView,
    DecisionRequest,
    ExamResultIn,
    ExamResultOutcome,
    OpenApplication,
)
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.recert import APPLICATION_LIST, EXAM_RESULT_KIND, RecertStore, StaleWrite
from shared.store.recert_queries import applications_of, completion_of, member_of, open_application
from shared.store.records import EventRecord, MemberRecord


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
        self.completion = RecertCompletion(repository, policy, self.store)
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
        existing = open_application(record, code) or next(  # or one reopened by a fee reversal
            (
                a
                for a in applications_of(record)
                if a.credential == code and as_of(a, record.facts, today).status == "open"
            ),
            None,
        )
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
            return self.completion.complete(record, app, today, self._catalog_for(record.facts)) is not None
        except StaleWrite:
            again = next(
                a for a in applications_of(self._load(member_id)) if a.application_id == application_id
            )
            return again.status == "completed"

    # -- helpers

    def _requirements(self, record: MemberRecord, app: RecertApplication, today: date) -> list[Requirement]:
        return self.completion.requirements(record, app, today, self._catalog_for(record.facts))

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
        shown = as_of(app, record.facts, today)  # reopened while its fee is refunded or disputed
        return ApplicationView(
            application=shown,
            complete=shown.status == "completed",
            in_force=in_force,
            fee_due_cents=app.fee_cents if shown.status == "open" and not paid_detail.done else 0,
            still_required=[r for r in reqs if not r.done] if shown.status == "open" else [],
            requirements=reqs,
        )

    def _save(
        self, app: RecertApplication, today: date, *, create: bool = False, expect_open: bool = False
    ) -> None:
        self.store.put_event(
            app.member_id,
            application_event(app, today),
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
