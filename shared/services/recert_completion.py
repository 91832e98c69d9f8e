"""When a recertification application is complete, and the one write that completes it.

Completion is evaluated whenever one of its inputs lands - the staff decision, the exam result, the
recertification fee payment (stream), or the daily run's backstop - so the order of arrival does not
matter. It writes the ``Recertified`` fact and closes the application in ONE transaction; the fact in
the stream is the outbox for the Credly badge.

Data flow is explicit: the caller passes the loaded member record and the catalog entries the rules
need for its facts (``catalog_ids_needed``); nothing here reads the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from shared.observability import logger
from shared.rules.models import ActivitySpec, Recertified, RecertMethod
from shared.rules.policy import RulesPolicy
from shared.rules.recert import (
    ExamResult,
    RecertApplication,
    Requirement,
    is_complete,
    passing_result,
    requirements,
)
from shared.rules.status import fee_paid_since
from shared.store.members import MemberRepository
from shared.store.recert import APPLICATION_KIND, EXAM_RESULT_KIND, RecertStore
from shared.store.recert_queries import evidence_count, exam_results_of
from shared.store.records import EventRecord, MemberRecord


def application_event(app: RecertApplication, today: date) -> EventRecord:
    """The application as its timeline item (its wording is the timeline's)."""
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


class RecertCompletion:
    """Decides whether an application is complete (the rules core's requirements) and completes it."""

    def __init__(
        self, repository: MemberRepository, policy: RulesPolicy, store: RecertStore | None = None
    ) -> None:
        self.policy = policy
        self.store = store or RecertStore(repository)

    def requirements(
        self,
        record: MemberRecord,
        app: RecertApplication,
        today: date,
        catalog: Mapping[str, ActivitySpec],
    ) -> list[Requirement]:
        return requirements(
            app,
            record.facts,
            exam_results_of(record),
            evidence_count(record, application_id=app.application_id),
            self.policy,
            today,
            catalog,
        )

    def complete(
        self,
        record: MemberRecord,
        app: RecertApplication,
        today: date,
        catalog: Mapping[str, ActivitySpec],
    ) -> Recertified | None:
        """The completion transaction when ``app`` is ready: the ``Recertified`` fact it wrote, or None
        when it is not ready. ``StaleWrite`` when the application was closed meanwhile (the fact key is
        the dedup marker). Works from the loaded ``record``: no read."""
        if not is_complete(self.requirements(record, app, today, catalog)):
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
        self.store.complete(app.member_id, fact, application_event(closed, today), today + timedelta(days=1))
        logger.info("recertification completed", extra={"application_id": app.application_id})
        return fact

    @staticmethod
    def _last_input_on(
        record: MemberRecord, app: RecertApplication, passed: ExamResult | None, today: date
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
