"""Wire models of the recertification routes: request bodies and the views they answer with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.rules.dates import IsoDate
from shared.rules.eligibility import EligibilityAnswers
from shared.rules.ids import MemberId
from shared.rules.models import RecertMethod
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
