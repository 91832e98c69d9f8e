"""Builders for rules tests: a test policy and terse fact constructors (imported by the test modules)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from shared.rules.models import (
    ActivitySpec,
    AuditDecided,
    AuditDrawn,
    CeCompletion,
    Certification,
    CeVoid,
    FeePayment,
    OpeningBalance,
    PaymentReversal,
    Reason,
    Recertified,
    RecertMethod,
    ReversalWithdrawn,
    SelfReported,
    SelfReportEntry,
    Standing,
    self_report_key,
)
from shared.rules.policy import Category, CredentialSpec, RulesPolicy

# code: (points, annual fee in cents, aliases)
CATALOG_DEFAULTS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "RMA": (30, 5000, ()),
    "CMAS": (30, 5000, ()),
    "RDA": (30, 5000, ()),
    "CMLA": (30, 5000, ()),
    "RPT": (24, 5000, ()),
    "AHI": (30, 3000, ()),
    "MLS": (45, 9000, ("MT",)),
    "MLT": (45, 9000, ()),
    "CLC": (45, 9000, ()),
    "MDT": (36, 9000, ()),
}

PE = Category.PROFESSIONAL_EDUCATION
EMP = Category.EMPLOYMENT


def d(day: str | date) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def make_policy(**overrides: Any) -> RulesPolicy:
    """The default credential catalog (recertification fee = annual fee) plus any policy overrides."""
    credentials = {
        code: CredentialSpec(
            code=code,
            name=code,
            ccp_points=points,
            annual_fee_cents=fee,
            recertification_fee_cents=fee,
            aliases=aliases,
        )
        for code, (points, fee, aliases) in CATALOG_DEFAULTS.items()
    }
    return RulesPolicy(credentials=credentials, **overrides)


POLICY = make_policy()


def cert(certified_on: str, credential: str = "RMA") -> Certification:
    return Certification(credential=credential, certified_on=d(certified_on))


def pay(
    key: str,
    paid_on: str | date,
    recorded_on: str | date | None = None,
    *,
    credential: str = "RMA",
    purpose: Literal["annual_fee", "recertification"] = "annual_fee",
    application_id: str | None = None,
    fee_years: tuple[int, ...] = (),
) -> FeePayment:
    return FeePayment(
        key=key,
        recorded_on=d(recorded_on or paid_on),
        credential=credential,
        purpose=purpose,
        paid_on=d(paid_on),
        amount_cents=5000 * max(len(fee_years), 1),
        application_id=application_id,
        fee_years=fee_years,
    )


def reverse(
    key: str, payment_key: str, on: str | date, *, reason: Literal["refund", "dispute"] = "refund"
) -> PaymentReversal:
    return PaymentReversal(
        key=key, recorded_on=d(on), payment_key=payment_key, reason=reason, reversed_on=d(on)
    )


def withdraw(key: str, reversal_key: str, on: str) -> ReversalWithdrawn:
    return ReversalWithdrawn(key=key, recorded_on=d(on), reversal_key=reversal_key, withdrawn_on=d(on))


def ce(
    key: str,
    completed_on: str | date,
    points: int | str | None = 30,
    category: Category | None = PE,
    *,
    recorded_on: str | date | None = None,
    activity_id: str | None = None,
    source: str = "manual",
) -> CeCompletion:
    return CeCompletion(
        key=key,
        recorded_on=d(recorded_on or completed_on),
        activity_id=activity_id or f"act-{key}",
        completed_on=d(completed_on),
        points=None if points is None else Decimal(points),
        category=category,
        source=source,
    )


def void(key: str, completion_key: str, on: str) -> CeVoid:
    return CeVoid(key=key, recorded_on=d(on), completion_key=completion_key)


def drawn(audit_id: str, drawn_on: str, deadline: str, *, credential: str = "RMA") -> AuditDrawn:
    return AuditDrawn(
        key=f"drawn-{audit_id}",
        recorded_on=d(drawn_on),
        audit_id=audit_id,
        credential=credential,
        cycle_start=d(drawn_on),
        cycle_end=d(drawn_on),
        drawn_on=d(drawn_on),
        deadline=d(deadline),
        seed="seed",
    )


def decided(
    audit_id: str,
    outcome: Literal["passed", "failed"],
    decided_on: str,
    recorded_on: str | None = None,
    *,
    credential: str = "RMA",
) -> AuditDecided:
    return AuditDecided(
        key=f"decided-{audit_id}-{decided_on}",
        recorded_on=d(recorded_on or decided_on),
        audit_id=audit_id,
        credential=credential,
        outcome=outcome,
        decided_on=d(decided_on),
    )


def recert(
    key: str,
    completed_on: str,
    recorded_on: str | None = None,
    *,
    credential: str = "RMA",
    method: RecertMethod = RecertMethod.EXAM,
) -> Recertified:
    return Recertified(
        key=key,
        recorded_on=d(recorded_on or completed_on),
        credential=credential,
        completed_on=d(completed_on),
        method=method,
        application_id=f"app-{key}",
    )


def fees_paid_on_time(
    certified_on: str, years: int, *, credential: str = "RMA", prefix: str = "fee"
) -> list[FeePayment]:
    """Fees 1..years, each paid on the 1st of its anniversary month."""
    start = d(certified_on)
    return [
        pay(f"{prefix}{n}", date(start.year + n, start.month, 1).isoformat(), credential=credential)
        for n in range(1, years + 1)
    ]


def activity(activity_id: str, points: int, category: Category = PE) -> ActivitySpec:
    return ActivitySpec(
        activity_id=activity_id,
        title=activity_id,
        category=category,
        points=Decimal(points),
        provider_id="prov",
    )


def entry(
    category: Category = PE,
    completed_on: str = "2020-03-01",
    units: dict[str, Any] | None = None,
    **fields: Any,
) -> SelfReportEntry:
    """A self-reported entry; ``units`` default to 8 contact hours (professional education)."""
    return SelfReportEntry.model_validate(
        {
            "category": category,
            "title": fields.pop("title", "Annual conference"),
            "provider": fields.pop("provider", "State society"),
            "completed_on": completed_on,
            "units": units if units is not None else {"contact_hours": 8},
            "criteria": ["improves_job_performance"],
            **fields,
        }
    )


def reported(
    activity_id: str,
    item: SelfReportEntry | None,
    recorded_on: str,
    version: int = 1,
) -> SelfReported:
    """Version ``version`` of a self-reported activity (``item`` None: withdrawn)."""
    return SelfReported(
        key=self_report_key(activity_id, version),
        recorded_on=d(recorded_on),
        activity_id=activity_id,
        version=version,
        entry=item,
    )


def opening(
    cutover_on: str,
    paid_through: str,
    cycle_start: str,
    *,
    points: dict[Category, int] | None = None,
    standing: Standing = Standing.ACTIVE,
    lapsed_on: str | None = None,
    lapse_reason: Reason | None = None,
    credential: str = "RMA",
) -> OpeningBalance:
    """An opening balance as of ``cutover_on`` (known from that day, like an import)."""
    return OpeningBalance(
        key=credential,
        recorded_on=d(cutover_on),
        credential=credential,
        cutover_on=d(cutover_on),
        paid_through=d(paid_through),
        cycle_start=d(cycle_start),
        points={category: Decimal(value) for category, value in (points or {}).items()},
        standing=standing,
        lapsed_on=None if lapsed_on is None else d(lapsed_on),
        lapse_reason=lapse_reason,
    )
