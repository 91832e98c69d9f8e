"""Immutable domain models: the facts the rules read and the status they compute.

Facts are things that happened, each with a deterministic ``key`` derived from its source (a Stripe
PaymentIntent id, an xAPI statement or course id, a CSV file and row). ``recorded_on`` is the business
date the fact reached us: the rules ignore facts recorded after the date they evaluate, which makes
status a pure function of (facts, date) and lets a past date be re-evaluated exactly.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from shared.rules.dates import IsoDate
from shared.rules.policy import Category, ParticipationRole, PublicationType


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# Points are exact decimals in the rules and plain JSON numbers on the wire.
Points = Annotated[Decimal, PlainSerializer(_number, return_type=int | float, when_used="json")]


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class Standing(StrEnum):
    ACTIVE = "active"
    DELINQUENT = "delinquent"
    LAPSED = "lapsed"


class Reason(StrEnum):
    """Why a certification is not simply active."""

    FEE_OVERDUE = "fee_overdue"
    CCP_INCOMPLETE = "ccp_incomplete"
    FEE_UNPAID_3_YEARS = "fee_unpaid_lapse"
    CCP_NOT_DOCUMENTED = "ccp_lapse"
    AUDIT_FAILED = "audit_failed"
    AUDIT_DEADLINE_MISSED = "audit_deadline_missed"


class RecertMethod(StrEnum):
    CCP = "ccp"
    EXAM = "exam"


class Certification(_Frozen):
    """A (member, credential) pair as the roster reports it."""

    credential: str
    certified_on: date


class FactBase(_Frozen):
    key: str = Field(min_length=1)
    recorded_on: date


class FeePayment(FactBase):
    """A settled payment for one credential (annual fee or recertification fee)."""

    kind: Literal["payment"] = "payment"
    credential: str
    purpose: Literal["annual_fee", "recertification"]
    paid_on: date
    amount_cents: int = Field(ge=0)
    application_id: str | None = None
    # the annual-fee invoices the payment names, as the calendar years of their due months; empty for
    # a payment without invoice numbers (the legacy flow), which pays the earliest open fee year
    fee_years: tuple[int, ...] = ()
    currency: str = "usd"


class PaymentReversal(FactBase):
    """A refund or dispute that uncredits ``payment_key`` (keyed by the refund/dispute id)."""

    kind: Literal["payment_reversal"] = "payment_reversal"
    payment_key: str
    reason: Literal["refund", "dispute"]
    reversed_on: date


class ReversalWithdrawn(FactBase):
    """A dispute closed in our favour: the reversal ``reversal_key`` no longer applies."""

    kind: Literal["reversal_withdrawn"] = "reversal_withdrawn"
    reversal_key: str
    withdrawn_on: date


class CeCompletion(FactBase):
    """A completed CE activity. ``points``/``category`` are None while the activity is unmapped
    (not yet in the catalog); the catalog passed to the rules fills them in."""

    kind: Literal["ce"] = "ce"
    activity_id: str
    completed_on: date
    points: Points | None = Field(default=None, ge=0)
    category: Category | None = None
    source: str = "manual"
    certificate_id: str | None = None  # the provider's certificate id (CSV rows)
    # the catalog activity's title and provider as catalogued when it was credited, so a self-report
    # of the same learning is recognised from the member partition alone; None on facts recorded
    # before they were kept (and on unmapped ones): the duplicate check then reads the catalog
    title: str | None = None
    provider: str | None = None


class CeVoid(FactBase):
    """Reverses the CE completion ``completion_key`` (an xAPI ``voided`` statement)."""

    kind: Literal["ce_void"] = "ce_void"
    completion_key: str


class AuditDrawn(FactBase):
    kind: Literal["audit_drawn"] = "audit_drawn"
    audit_id: str
    credential: str
    cycle_start: date
    cycle_end: date
    drawn_on: date
    deadline: date
    seed: str


class AuditDecided(FactBase):
    kind: Literal["audit_decided"] = "audit_decided"
    audit_id: str
    credential: str
    outcome: Literal["passed", "failed"]
    decided_on: date
    reason: str = ""
    disallowed: tuple[str, ...] = ()  # self-reported activity ids whose points the audit removed


class Recertified(FactBase):
    """Recertification completed: the certification restarts on ``completed_on`` (new cycle, new
    fee anniversaries) - while the application's effective recertification payments still cover
    ``fee_cents`` (a refund or lost dispute recorded later takes it out of force; a dispute won or a
    new payment puts it back). 0 = no fee condition (facts written before that rule)."""

    kind: Literal["recertified"] = "recertified"
    credential: str
    completed_on: date
    method: RecertMethod
    application_id: str
    fee_cents: int = Field(default=0, ge=0)


# ---------------------------------------------------------------- self-reported CE


class Criterion(StrEnum):
    """The association's three qualifying questions; a self-reported activity meets at least one."""

    BETTER_AT_JOB = "improves_job_performance"
    ADVANCES_KNOWLEDGE = "advances_health_care_knowledge"
    PREPARES_ADVANCEMENT = "prepares_for_management_or_degree"


def _amount(maximum: int) -> Any:
    return Field(gt=0, le=maximum, allow_inf_nan=False, max_digits=8, decimal_places=2)


class ContactHours(_Frozen):
    """professional_education: contact hours attended (conference, seminar, course)."""

    contact_hours: Annotated[Points, _amount(200)]


class AcademicHours(_Frozen):
    """formal_education: credit hours of a college course, semester or quarter (exactly one)."""

    semester_hours: Annotated[Points, _amount(30)] | None = None
    quarter_hours: Annotated[Points, _amount(45)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AcademicHours:
        if (self.semester_hours is None) == (self.quarter_hours is None):
            raise ValueError("give exactly one of semester_hours and quarter_hours")
        return self


class EmploymentPeriod(_Frozen):
    """employment: the period ``started_on`` .. the activity's ``completed_on`` (its last day)."""

    started_on: IsoDate


class Publication(_Frozen):
    """authorship: what was published."""

    publication_type: PublicationType


class PresentationHours(_Frozen):
    """instructional_presentation: hours presented or taught."""

    presentation_hours: Annotated[Points, _amount(100)]


class RoleTerm(_Frozen):
    """organizational_participation: a role held for a term ``term_started_on`` .. ``completed_on``."""

    role: ParticipationRole
    term_started_on: IsoDate


Units = ContactHours | AcademicHours | EmploymentPeriod | Publication | PresentationHours | RoleTerm

UNITS_BY_CATEGORY: dict[Category, type[_Frozen]] = {
    Category.PROFESSIONAL_EDUCATION: ContactHours,
    Category.FORMAL_EDUCATION: AcademicHours,
    Category.EMPLOYMENT: EmploymentPeriod,
    Category.AUTHORSHIP: Publication,
    Category.INSTRUCTIONAL_PRESENTATION: PresentationHours,
    Category.ORGANIZATIONAL_PARTICIPATION: RoleTerm,
}


class SelfReportEntry(_Frozen):
    """What the member entered for one activity (validated at the API; rules read it as is)."""

    category: Category
    title: str
    provider: str
    completed_on: date
    units: Units
    description: str | None = None
    criteria: tuple[Criterion, ...]
    credential: str | None = None  # counts only for this certification (else for every one)
    catalog_activity_id: str | None = None
    certificate_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _units_of_category(cls, data: Any) -> Any:
        """Stored units are parsed as the model of their category (the union is ambiguous)."""
        if isinstance(data, dict) and isinstance(data.get("units"), dict):
            unit_model = UNITS_BY_CATEGORY.get(Category(data["category"])) if "category" in data else None
            if unit_model is not None:
                data = {**data, "units": unit_model.model_validate(data["units"])}
        return data

    @model_validator(mode="after")
    def _matching_units(self) -> SelfReportEntry:
        if not isinstance(self.units, UNITS_BY_CATEGORY[self.category]):
            raise ValueError(f"units are not those of {self.category.value}")
        return self


class SelfReported(FactBase):
    """Version ``version`` of a member's self-reported activity ``activity_id`` (key
    ``{activity_id}#{version:06d}``). ``entry`` None is a withdrawal. The newest version recorded by
    the evaluated date is the activity; older versions stay for the timeline."""

    kind: Literal["self_report"] = "self_report"
    activity_id: str
    version: int = Field(ge=1)
    entry: SelfReportEntry | None
    actor: str | None = None
    changed: tuple[str, ...] = ()


def self_report_key(activity_id: str, version: int) -> str:
    return f"{activity_id}#{version:06d}"


MAX_OPENING_POINTS = 1000  # per category in one cycle: more is a typo


class OpeningBalance(FactBase):
    """A certification's state on ``cutover_on``, brought over from the association's previous system.

    It is the only record of the history before the cutover: the rules continue from it with the
    facts dated from the cutover on (payments paid, CE completed, audits drawn or decided before it
    are ignored), and nothing before the cutover produces a notice, transition or badge change. Keyed
    on the credential: one opening balance per certification. Known from its cutover date
    (``recorded_on`` = ``cutover_on``).

    * ``paid_through``: fees are paid through this day; it counts the fee years whose year ends by it
      (rounded down to a whole fee year).
    * ``cycle_start``: the CCP cycle ``points`` were earned in - the cycle containing the cutover, or
      the just-ended one while R5's late window after it is open. Cycles that ended before it are
      settled (their outcome is in ``standing``).
    * ``standing``: as of the cutover; ``lapsed_on`` and ``lapse_reason`` when lapsed (R8 counts from
      ``lapsed_on``). Active and delinquent must be what the fees and points above give.
    * ``badge_id``: the Credly badge live at the cutover, if any.
    """

    kind: Literal["opening_balance"] = "opening_balance"
    credential: str
    cutover_on: date
    paid_through: date
    cycle_start: date
    points: dict[Category, Points] = Field(default_factory=dict)
    standing: Standing
    lapsed_on: date | None = None
    lapse_reason: Reason | None = None
    badge_id: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("points")
    @classmethod
    def _non_negative(cls, points: dict[Category, Decimal]) -> dict[Category, Decimal]:
        for category, value in points.items():
            if not value.is_finite() or value < 0 or value > MAX_OPENING_POINTS:
                raise ValueError(f"{category.value}: points must be between 0 and {MAX_OPENING_POINTS}")
        return points


Fact = Annotated[
    OpeningBalance
    | FeePayment
    | PaymentReversal
    | ReversalWithdrawn
    | CeCompletion
    | CeVoid
    | SelfReported
    | AuditDrawn
    | AuditDecided
    | Recertified,
    Field(discriminator="kind"),
]


class Checkpoint(_Frozen):
    """A certification's folded state at the end of day ``through``: derived from the facts (never the
    only copy of anything; ``shared.rules.checkpoint.fold`` rebuilds it), so that the rules continue
    from it with only the facts recorded after ``through`` (``shared.rules.checkpoint``).

    * ``certified_on``: the roster date it was folded with (a changed roster row invalidates it);
      ``start``: the current epoch's start (roster date or recertification in force).
    * ``fees_paid``: the fee numbers paid by effective payments paid by ``through`` (and by an
      imported opening balance).
    * ``cycle_start``: the cycle containing ``through``; ``points``: what counts for it, uncapped, by
      source then category. Earlier cycles are settled.
    * ``lapsed_on`` / ``lapse_reasons``: the lapse in force (lapse is sticky).
    * ``cutover_on``: the imported opening balance's cutover, if the epoch continues from one.
    * ``duplicate_refs``: catalog ids and certificate ids of the self-reported activities it counted
      (a later completion with one of them would make that activity a duplicate: a late fact), and
      the courses of its LMS statement credits (a later statement of one may change which counts).
    * ``policy_digest``: the rules configuration it was folded under (a changed policy invalidates it).
    """

    credential: str
    certified_on: date
    through: date
    start: date
    cutover_on: date | None = None
    fees_paid: tuple[int, ...] = ()
    cycle_start: date
    points: dict[str, dict[Category, Points]] = Field(default_factory=dict)
    lapsed_on: date | None = None
    lapse_reasons: tuple[Reason, ...] = ()
    duplicate_refs: tuple[str, ...] = ()
    policy_digest: str


class ActivitySpec(_Frozen):
    """An approved CE activity from the catalog."""

    activity_id: str
    title: str
    category: Category
    points: Points = Field(gt=0)
    provider_id: str


# ---------------------------------------------------------------- results


class FeeStatus(_Frozen):
    paid_through: date
    next_due: date  # first day of the anniversary month of the earliest unpaid fee
    overdue_since: date | None  # the day after that month ended, when today is past it
    fees_paid: int
    amount_due_cents: int  # the annual fee of the earliest unpaid fee year


class Projection(_Frozen):
    """What is left to do for the cycle shown: points still needed, by when."""

    points_needed: Points
    earn_by: date  # the cycle's last day: activities must be completed by then
    record_by: date  # the end of R5's late window: and recorded by then
    days_left: int  # until earn_by while the cycle runs, else until record_by


class CcpStatus(_Frozen):
    mandatory: bool
    required: int
    cycle_number: int
    cycle_start: date
    cycle_end: date  # last day of the cycle (inclusive)
    earned: Points
    remaining: Points
    by_category: dict[str, Points]
    by_source: dict[str, Points] = Field(
        default_factory=dict, description="points of the cycle per source, before category caps"
    )
    projection: Projection | None = None


class RecertificationStatus(_Frozen):
    required: bool
    allowed_methods: tuple[RecertMethod, ...]


class CertificationStatus(_Frozen):
    credential: str
    status: Standing
    reasons: tuple[Reason, ...]
    certified_on: date
    fees: FeeStatus
    ccp: CcpStatus
    recertification: RecertificationStatus
    lapsed_on: date | None
    cutover_on: date | None = Field(
        default=None, description="Date of the opening balance the status continues from, if any"
    )


class ActivityDecision(_Frozen):
    """Whether a CE activity counts for a certification (R3), and why not."""

    accepted: bool
    reason: str | None = None
    cycle_start: date | None = None
