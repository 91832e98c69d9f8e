"""Opening balances: checking one before it is accepted (the roster upsert and the bulk import share it).

An :class:`~shared.rules.models.OpeningBalance` is migrated history, so it must be a state this rules
core could have reached: dated by today, after the certification, its cycle one of the certification's
own cycles, and - unless lapsed - the standing that its fees and points give on the cutover date.
The standing is checked by evaluating the balance itself, so the check and the rules never disagree.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from shared.rules.cycles import current_cycle, previous_cycle_in_window
from shared.rules.models import (
    Certification,
    CertificationStatus,
    OpeningBalance,
    Reason,
    Standing,
)
from shared.rules.policy import Category, RulesPolicy
from shared.rules.status import evaluate

LAPSE_REASONS = frozenset(
    {Reason.FEE_UNPAID_3_YEARS, Reason.CCP_NOT_DOCUMENTED, Reason.AUDIT_FAILED, Reason.AUDIT_DEADLINE_MISSED}
)


class BalanceProblem(StrEnum):
    """Why an opening balance is refused (the field it concerns is carried by the error)."""

    CUTOVER_IN_FUTURE = "cutover_on is after today"
    CUTOVER_BEFORE_CERTIFIED = "cutover_on is before certified_on"
    PAID_THROUGH_BEFORE_CERTIFIED = "paid_through is before certified_on"
    NOT_A_CYCLE = "cycle_start is not the start of the cycle containing cutover_on (or of the just-ended cycle while its late window is open)"
    EMPLOYMENT_AFTER_CUTOFF = "employment points in a cycle that started after the employment cut-off"
    LAPSE_DATE_MISSING = "a lapsed standing needs lapsed_on and lapse_reason"
    LAPSE_DATE_UNEXPECTED = "lapsed_on and lapse_reason are only for a lapsed standing"
    LAPSE_OUT_OF_RANGE = "lapsed_on must be between certified_on and cutover_on"
    NOT_A_LAPSE_REASON = (
        "lapse_reason must be fee_unpaid_lapse, ccp_lapse, audit_failed or audit_deadline_missed"
    )
    BADGE_WHILE_LAPSED = "a lapsed certification has no live badge"
    STANDING_MISMATCH = "standing does not match what paid_through and the points give on cutover_on"


class InvalidOpeningBalance(ValueError):
    """An opening balance the rules cannot continue from; ``field`` names the offending field."""

    def __init__(self, problem: BalanceProblem, field: str, detail: str = "") -> None:
        super().__init__(f"{problem.value}{f' ({detail})' if detail else ''}")
        self.problem = problem
        self.field = field
        self.detail = detail


def check_opening_balance(
    cert: Certification, balance: OpeningBalance, today: date, policy: RulesPolicy
) -> CertificationStatus:
    """The status the certification has on the balance's cutover date; raises
    :class:`InvalidOpeningBalance` for a balance that is not a state of these rules."""
    certified_on, cutover = cert.certified_on, balance.cutover_on
    if cutover > today:
        raise InvalidOpeningBalance(BalanceProblem.CUTOVER_IN_FUTURE, "cutover_on", f"{cutover} > {today}")
    if cutover < certified_on:
        raise InvalidOpeningBalance(BalanceProblem.CUTOVER_BEFORE_CERTIFIED, "cutover_on")
    if balance.paid_through < certified_on:
        raise InvalidOpeningBalance(BalanceProblem.PAID_THROUGH_BEFORE_CERTIFIED, "paid_through")
    allowed = {current_cycle(certified_on, cutover, policy).start}
    ended = previous_cycle_in_window(certified_on, cutover, policy)
    if ended is not None:
        allowed.add(ended.start)
    if balance.cycle_start not in allowed:
        detail = " or ".join(sorted(d.isoformat() for d in allowed))
        raise InvalidOpeningBalance(BalanceProblem.NOT_A_CYCLE, "cycle_start", f"expected {detail}")
    if balance.points.get(Category.EMPLOYMENT) and balance.cycle_start > policy.employment_points_until:
        raise InvalidOpeningBalance(BalanceProblem.EMPLOYMENT_AFTER_CUTOFF, "points.employment")
    _check_lapse(certified_on, balance)
    status = evaluate(cert, [balance], cutover, policy)
    if status.status is not balance.standing:
        reasons = ", ".join(r.value for r in status.reasons)
        detail = f"they give {status.status.value}" + (f" ({reasons})" if reasons else "")
        raise InvalidOpeningBalance(BalanceProblem.STANDING_MISMATCH, "standing", detail)
    return status


def _check_lapse(certified_on: date, balance: OpeningBalance) -> None:
    lapsed = balance.standing is Standing.LAPSED
    if lapsed and (balance.lapsed_on is None or balance.lapse_reason is None):
        raise InvalidOpeningBalance(BalanceProblem.LAPSE_DATE_MISSING, "lapsed_on")
    if not lapsed and (balance.lapsed_on is not None or balance.lapse_reason is not None):
        raise InvalidOpeningBalance(BalanceProblem.LAPSE_DATE_UNEXPECTED, "lapsed_on")
    if balance.lapsed_on is not None and not certified_on <= balance.lapsed_on <= balance.cutover_on:
        raise InvalidOpeningBalance(BalanceProblem.LAPSE_OUT_OF_RANGE, "lapsed_on")
    if balance.lapse_reason is not None and balance.lapse_reason not in LAPSE_REASONS:
        raise InvalidOpeningBalance(BalanceProblem.NOT_A_LAPSE_REASON, "lapse_reason")
    if lapsed and balance.badge_id is not None:
        raise InvalidOpeningBalance(BalanceProblem.BADGE_WHILE_LAPSED, "badge_id")


def balance_of(status: CertificationStatus, on: date) -> OpeningBalance:
    """The opening balance that states ``status`` (evaluated on ``on``) as of ``on``: what another
    system - or this one, for a checkpoint - would hand over. The rules continue from it exactly as
    from the facts it summarises when no fact dated before ``on`` arrives after it, and the cycle
    shown is the only one with points still to count (property-tested)."""
    lapsed = status.status is Standing.LAPSED
    return OpeningBalance(
        key=status.credential,
        recorded_on=on,
        credential=status.credential,
        cutover_on=on,
        paid_through=status.fees.paid_through,
        cycle_start=status.ccp.cycle_start,
        points={Category(name): points for name, points in status.ccp.by_category.items() if points},
        standing=status.status,
        lapsed_on=status.lapsed_on if lapsed else None,
        lapse_reason=status.reasons[0] if lapsed and status.reasons else None,
    )
