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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from shared.rules.policy import Category


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# Points are exact decimals in the rules and plain JSON numbers on the wire.
Points = Annotated[Decimal, PlainSerializer(_number, return_type=int | float, when_used="json")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    | AuditDrawn
    | AuditDecided
    | Recertified,
    Field(discriminator="kind"),
]


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


class CcpStatus(_Frozen):
    mandatory: bool
    required: int
    cycle_number: int
    cycle_start: date
    cycle_end: date  # last day of the cycle (inclusive)
    earned: Points
    remaining: Points
    by_category: dict[str, Points]


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
