"""Recertification of a lapsed certification: the application and when it is complete.

* Paths (R8, in ``status.recertification_paths``): exam always; CCP while lapsed less than
  ``ccp_recert_max_lapsed_years``.
* CCP path: the credential's required points earned within the ``cycle_years`` (3) years before the
  application date, with evidence; staff approve or reject.
* Exam path: the applicant meets the credential's CURRENT eligibility criteria (``eligibility``) and
  the exam vendor reports a pass dated on or after the lapse.
* Both: the recertification fee, paid for this application (an effective ``FeePayment`` with
  ``purpose == "recertification"`` and this ``application_id``; reversals uncredit it as in R6).
* Complete = (approved or passed) and fee paid, whichever arrives last. Completion restarts the
  certification on the completion date (a ``Recertified`` fact, see ``effective_certified_on``).

Pure: every date is an argument, the application and exam results are plain models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.rules.ce_credit import superseded
from shared.rules.dates import add_years
from shared.rules.models import (
    ActivitySpec,
    CeCompletion,
    CeVoid,
    Fact,
    Recertified,
    RecertMethod,
)
from shared.rules.policy import RulesPolicy
from shared.rules.status import fee_paid_cents, recertified_from, visible_facts


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class Decision(_Frozen):
    decision: Literal["approved", "rejected"]
    reason: str = ""
    decided_on: date


class ExamResult(_Frozen):
    """A result reported by the exam vendor (keyed by the vendor's ``result_id``)."""

    result_id: str
    member_id: str
    credential: str
    passed: bool
    exam_date: date


class RecertApplication(_Frozen):
    application_id: str
    member_id: str
    credential: str
    method: RecertMethod
    status: Literal["open", "completed", "rejected"] = "open"
    opened_on: date
    lapsed_on: date
    fee_cents: int
    eligibility_routes: list[str] = Field(default_factory=list)  # exam path: routes met when applying
    decision: Decision | None = None
    exam_result_id: str | None = None
    completed_on: date | None = None


class Requirement(_Frozen):
    item: Literal["fee", "ccp_points", "evidence", "staff_decision", "eligibility", "exam_passed"]
    done: bool
    detail: str


def ccp_window(opened_on: date, policy: RulesPolicy) -> tuple[date, date]:
    """The CCP path's window: the ``cycle_years`` years before the application date (inclusive)."""
    return add_years(opened_on, -policy.cycle_years), opened_on


def ccp_points_in_window(
    facts: Sequence[Fact],
    start: date,
    end: date,
    as_of: date,
    catalog: Mapping[str, ActivitySpec] | None = None,
) -> Decimal:
    """Points of CE completed in ``[start, end]``, recorded by ``as_of`` and not voided by then (a
    course's LMS statements once: ``shared.rules.ce_credit``).
    A completion without points of its own (unmapped when recorded) takes the catalog's points for
    its activity, as ``status.evaluate`` does; still unmapped, it counts 0."""
    visible = visible_facts(facts, as_of)
    voided = {f.completion_key for f in visible if isinstance(f, CeVoid)}
    live = [f for f in visible if isinstance(f, CeCompletion) and f.key not in voided]
    once = superseded(live)
    total = Decimal(0)
    for f in live:
        if f.key in once or not start <= f.completed_on <= end:
            continue
        spec = (catalog or {}).get(f.activity_id)
        points = f.points if f.points is not None else (spec.points if spec else None)
        if points is not None:
            total += points
    return total


def passing_result(
    app: RecertApplication, results: Iterable[ExamResult], policy: RulesPolicy
) -> ExamResult | None:
    """The earliest pass for the application's credential dated on/after the lapse (vendor order)."""
    code = policy.canonical_code(app.credential)
    passes = [
        r
        for r in results
        if r.passed and policy.canonical_code(r.credential) == code and r.exam_date >= app.lapsed_on
    ]
    return min(passes, key=lambda r: (r.exam_date, r.result_id), default=None)


def requirements(  # noqa: PLR0917 - every input is needed and named at the call sites
    app: RecertApplication,
    facts: Sequence[Fact],
    results: Iterable[ExamResult],
    evidence_uploads: int,
    policy: RulesPolicy,
    as_of: date,
    catalog: Mapping[str, ActivitySpec] | None = None,
) -> list[Requirement]:
    """Every requirement of the application and whether it is met on ``as_of``."""
    paid = fee_paid_cents(facts, app.application_id, as_of)
    found: list[Requirement] = [
        Requirement(
            item="fee",
            done=paid >= app.fee_cents,
            detail=f"recertification fee {app.fee_cents} cents, paid {paid} (Stripe: purpose recertification, "
            f"application_id {app.application_id})",
        )
    ]
    if app.method is RecertMethod.CCP:
        start, end = ccp_window(app.opened_on, policy)
        required = policy.credential(app.credential).ccp_points
        earned = ccp_points_in_window(facts, start, end, as_of, catalog)
        found += [
            Requirement(
                item="ccp_points",
                done=earned >= required,
                detail=f"{required} CCP points completed {start}..{end}, earned {earned}",
            ),
            Requirement(
                item="evidence",
                done=evidence_uploads > 0,
                detail=f"{evidence_uploads} evidence upload(s) for this application"
                if evidence_uploads
                else "no evidence uploaded for this application yet (documents with purpose recertification)",
            ),
            Requirement(
                item="staff_decision",
                done=app.decision is not None and app.decision.decision == "approved",
                detail="staff approval" if app.decision is None else f"{app.decision.decision}",
            ),
        ]
    else:
        passed = passing_result(app, results, policy)
        found += [
            Requirement(
                item="eligibility",
                done=bool(app.eligibility_routes),
                detail="current eligibility criteria met by: " + ", ".join(app.eligibility_routes),
            ),
            Requirement(
                item="exam_passed",
                done=passed is not None,
                detail="exam not passed yet" if passed is None else f"passed on {passed.exam_date}",
            ),
        ]
    return found


def is_complete(reqs: Iterable[Requirement]) -> bool:
    """Complete: fee paid and the path's deciding items done - exam: a pass; CCP: staff approval and
    at least one evidence upload for the application. CCP points are staff's to judge when approving
    (approval already required them, and the evidence)."""
    done = {r.item: r.done for r in reqs}
    ccp_done = done.get("staff_decision", False) and done.get("evidence", False)
    return done.get("fee", False) and (ccp_done or done.get("exam_passed", False))


def as_of(app: RecertApplication, facts: Sequence[Fact], today: date) -> RecertApplication:
    """The application as the facts stand on ``today``: completion is derived from them. A completed
    application whose recertification is out of force (its fee refunded, or a dispute lost) is open
    again - the member pays again on the same application id; once the fee is fully paid again (a
    new payment, a dispute won) it is completed on the day it is in force from. Reopened, it is shown
    as one never completed (no completion date, no completing exam result), whatever order the
    reversal and the completion arrived in."""
    if app.status != "completed":
        return app
    completion = next(
        (f for f in facts if isinstance(f, Recertified) and f.application_id == app.application_id), None
    )
    if completion is None:
        return app
    in_force_from = recertified_from(completion, facts, today)
    if in_force_from is None:
        return app.model_copy(update={"status": "open", "completed_on": None, "exam_result_id": None})
    return app.model_copy(update={"completed_on": in_force_from})
