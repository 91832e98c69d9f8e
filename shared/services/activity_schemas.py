"""Self-reported CE on the wire: the request body, the answers, and the error codes the activity routes
answer with. The service (``activities``) and the CE record (``ce_record``) decide; this module only says
what is accepted and what is returned."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import Conflict, DomainError, Unprocessable
from shared.rules.dates import IsoDate
from shared.rules.models import Criterion, Points
from shared.rules.policy import Category
from shared.rules.self_report import ActivityCredit, Source

ACTOR_PATTERN = r"^(member|staff|system):[A-Za-z0-9._-]{1,64}$"
EARLIEST_ACTIVITY = date(1950, 1, 1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_control_but_newlines(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINES.search(value):
        raise ValueError("must not contain control characters (other than new lines and tabs)")
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_control)
]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=700), AfterValidator(_no_control)]


class InvalidActivity(DomainError):
    code = "invalid_activity"


class NotCountable(Unprocessable):
    code = "not_countable"


class ActivityWithdrawn(Conflict):
    code = "activity_withdrawn"


class CycleClosed(Conflict):
    code = "cycle_closed"


class NotSelfReported(Conflict):
    code = "not_self_reported"


class ConcurrentChange(Conflict):
    code = "concurrent_change"


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Attestation(_Strict):
    criteria: list[Criterion] = Field(
        min_length=1, max_length=3, description="Which of the three qualifying questions the activity meets"
    )
    true_and_correct: Literal[True] = Field(description="The member attests the entry is true and correct")


class ActivityRequest(_Strict):
    """Body of ``PUT /members/{member_id}/activities/{activity_id}``."""

    category: Category
    title: Text
    provider: Text
    completed_on: IsoDate = Field(ge=EARLIEST_ACTIVITY, description="Last day of the activity (YYYY-MM-DD)")
    units: dict[str, Any] = Field(
        description=(
            "By category: professional_education {contact_hours}; formal_education {semester_hours} or "
            "{quarter_hours}; employment {started_on}; authorship {publication_type}; "
            "instructional_presentation {presentation_hours}; organizational_participation "
            "{role, term_started_on}"
        )
    )
    description: (
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_control_but_newlines)] | None
    ) = None
    attestation: Attestation
    credential: Annotated[str, StringConstraints(min_length=1, max_length=10)] | None = Field(
        default=None, description="Count only for this certification (default: every certification)"
    )
    catalog_activity_id: Reference | None = Field(default=None, description="The catalog activity, if any")
    certificate_id: Reference | None = Field(
        default=None, description="The provider's certificate id, if any"
    )


class CycleFilter(StrEnum):
    CURRENT = "current"
    PREVIOUS = "previous"
    ALL = "all"


class ActivityView(_Strict):
    """One CE record, from any source, with what it counts for each certification."""

    activity_id: str = Field(description="Self-reported: the member's id; else derived from the record")
    source: Source
    record: str = Field(description="ce:{fact key} or self_report:{activity_id}")
    completed_on: date
    recorded_on: date
    category: Category | None
    title: str | None = None
    provider: str | None = None
    units: dict[str, Any] | None = None
    version: int | None = None
    points: dict[str, Points] = Field(description="Points per certification (before category caps)")
    credits: list[ActivityCredit]


class ActivityAnswer(_Strict):
    member_id: str
    activity_id: str
    version: int
    changed: bool
    activity: ActivityView | None = Field(description="None once withdrawn")


class ActivityList(_Strict):
    member_id: str
    as_of: date
    items: list[ActivityView]
    next_token: str | None = None


@dataclass(frozen=True)
class Recorded:
    created: bool
    answer: ActivityAnswer
