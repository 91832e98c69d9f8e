"""Wire models of the recertification and audit routes: request bodies and the views they answer with.

Kept apart from the services (and their stores) so a route module can declare its bodies and
responses without importing the code that serves them: the API function imports a service on the
first request that needs it, not at cold start."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.rules.dates import IsoDate
from shared.rules.eligibility import EligibilityAnswers
from shared.rules.ids import ACTIVITY_ID_PATTERN, MemberId
from shared.rules.models import AuditDecided, Points, RecertMethod
from shared.rules.recert import RecertApplication, Requirement


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

    member_id: MemberId
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


class AuditDecisionRequest(_Strict):
    decision: Literal["passed", "failed"]
    reason: str = Field(default="", max_length=500)
    disallowed_activities: list[Annotated[str, StringConstraints(pattern=ACTIVITY_ID_PATTERN)]] = Field(
        default_factory=list,
        max_length=200,
        description="Self-reported activities of the audited cycle whose points are removed; a cycle "
        "short after that fails the audit",
    )


class AuditActivity(_Strict):
    """A self-reported activity of the audited cycle, and whether evidence names it."""

    activity_id: str
    title: str
    category: str
    completed_on: date
    points: Points
    counted: bool
    reason: str | None
    evidence_present: bool


class EvidenceItem(_Strict):
    key: str
    recorded_on: date
    summary: str
    data: dict[str, Any]


class AuditRecord(_Strict):
    audit_id: str
    member_id: str
    credential: str
    drawn_on: date
    deadline: date
    cycle_start: date
    cycle_end: date
    decision: AuditDecided | None
    status: str = Field(description="the certification's status as of today")
    evidence: list[EvidenceItem]
    activities: list[AuditActivity] = Field(
        default_factory=list, description="self-reported activities of the audited cycle"
    )
