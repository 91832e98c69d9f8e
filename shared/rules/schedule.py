"""The daily schedule's rules: which notices are due on a day, and a certification's next action date.

Pure: the status (from :func:`shared.rules.status.evaluate`) and the date are arguments.

Renewal notices (for the earliest unpaid fee, anniversary month ``M``):

* ``renewal_before``: ``renewal_notice_days_before`` (60) days before the first day of ``M``;
* ``renewal_due``: the first day of ``M``;
* ``renewal_late``: ``renewal_notice_days_after`` (30) days after the last day of ``M``, if still unpaid.

CCP progress notices: ``ccp_notice_days_before_end`` (180, 90, 30) days before the current cycle's
last day, while CCP is mandatory and points are short.

A notice is due on day ``D`` when its date is the latest of its series on or before ``D`` and no more
than ``stale_days`` old: a run that catches up missed days sends the notice that is still relevant,
not every one it missed, and a member loaded from the roster years after their certification does not
receive history. For a certification continuing from an opening balance, notices dated before its
cutover are never due. Each notice is identified by (credential, kind, period) - the period being the fee
month or the cycle end plus the lead time - so it is sent at most once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from shared.rules.cycles import current_cycle, late_window_end, previous_cycle_in_window
from shared.rules.dates import add_years, day_after, last_of_month
from shared.rules.fees import fee_due_month, fee_overdue_from
from shared.rules.models import AuditDrawn, CertificationStatus, Fact, Standing
from shared.rules.policy import RulesPolicy

DEFAULT_STALE_DAYS = 31

RENEWAL_BEFORE = "renewal_before"
RENEWAL_DUE = "renewal_due"
RENEWAL_LATE = "renewal_late"
CCP_PROGRESS = "ccp_progress"
LAPSE = "lapse"
AUDIT = "audit"


@dataclass(frozen=True)
class NoticeDue:
    kind: str
    period: str
    on: date  # the notice's scheduled date
    data: dict[str, Any] = field(default_factory=dict)


def renewal_notice_dates(fee_month: date, policy: RulesPolicy) -> list[tuple[str, date]]:
    """The renewal notice series for the fee falling due in ``fee_month`` (its first day)."""
    return [
        (RENEWAL_BEFORE, fee_month - timedelta(days=policy.renewal_notice_days_before)),
        (RENEWAL_DUE, fee_month),
        (RENEWAL_LATE, last_of_month(fee_month) + timedelta(days=policy.renewal_notice_days_after)),
    ]


def ccp_notice_dates(cycle_end: date, policy: RulesPolicy) -> list[tuple[int, date]]:
    return [(days, cycle_end - timedelta(days=days)) for days in policy.ccp_notice_days_before_end]


def _latest_due(
    series: Iterable[tuple[Any, date]], on: date, stale_days: int, not_before: date | None
) -> tuple[Any, date] | None:
    oldest = on - timedelta(days=stale_days)
    eligible = [
        (tag, day) for tag, day in series if oldest < day <= on and (not_before is None or day >= not_before)
    ]
    return max(eligible, key=lambda entry: entry[1], default=None)


def notices_due(
    status: CertificationStatus, on: date, policy: RulesPolicy, stale_days: int = DEFAULT_STALE_DAYS
) -> list[NoticeDue]:
    """Renewal and CCP progress notices due on ``on`` for a certification in ``status`` (as of ``on``).
    Lapsed certifications get none (their lapse notice goes with the transition)."""
    if status.status is Standing.LAPSED:
        return []
    found: list[NoticeDue] = []
    fees = status.fees
    # Nothing dated before an opening balance's cutover is sent: that history was the old system's.
    renewal = _latest_due(renewal_notice_dates(fees.next_due, policy), on, stale_days, status.cutover_on)
    if renewal is not None:
        kind, day = renewal
        found.append(
            NoticeDue(
                kind=kind,
                period=fees.next_due.strftime("%Y-%m"),
                on=day,
                data={
                    "amount_due_cents": fees.amount_due_cents,
                    "due_month": fees.next_due.strftime("%Y-%m"),
                    "overdue_since": fees.overdue_since.isoformat() if fees.overdue_since else None,
                },
            )
        )
    ccp = status.ccp
    if ccp.mandatory and ccp.remaining > 0 and ccp.cycle_end >= on:
        progress = _latest_due(ccp_notice_dates(ccp.cycle_end, policy), on, stale_days, status.cutover_on)
        if progress is not None:
            days, day = progress
            found.append(
                NoticeDue(
                    kind=CCP_PROGRESS,
                    period=f"{ccp.cycle_end.isoformat()}-{days}d",
                    on=day,
                    data={
                        "cycle_end": ccp.cycle_end.isoformat(),
                        "days_before_end": days,
                        "earned": str(ccp.earned),
                        "required": ccp.required,
                        "remaining": str(ccp.remaining),
                        "by_category": {k: str(v) for k, v in ccp.by_category.items() if v},
                    },
                )
            )
    return found


def next_action_date(
    status: CertificationStatus,
    facts: Iterable[Fact],
    after: date,
    policy: RulesPolicy,
    audit_deadlines: Iterable[date] = (),
) -> date | None:
    """The first day after ``after`` on which something may happen to this certification: a notice,
    a fee turning overdue, a cycle ending or rolling over, a late window closing, a lapse threshold,
    an audit deadline passing (of the ``AuditDrawn`` facts, and ``audit_deadlines`` for audits drawn
    before a checkpoint whose facts were not read). None once lapsed (recertification starts a new
    schedule)."""
    if status.status is Standing.LAPSED:
        return None
    start = status.certified_on
    fees = status.fees
    candidates: list[date] = []
    paid = fees.fees_paid
    for n in (paid + 1, paid + 2):
        month = fee_due_month(start, n)
        candidates.extend(day for _, day in renewal_notice_dates(month, policy))
        candidates.append(fee_overdue_from(start, n))
    candidates.append(add_years(fee_overdue_from(start, paid + 1), policy.lapse_after_overdue_years))
    cycle = current_cycle(start, after, policy)
    candidates.extend(day for _, day in ccp_notice_dates(cycle.end, policy))
    candidates.append(day_after(cycle.end))
    candidates.append(day_after(late_window_end(cycle, policy)))
    previous = previous_cycle_in_window(start, after, policy)
    if previous is not None:
        candidates.append(day_after(late_window_end(previous, policy)))
    candidates.extend(
        day_after(f.deadline)
        for f in facts
        if isinstance(f, AuditDrawn) and f.credential == status.credential
    )
    candidates.extend(day_after(deadline) for deadline in audit_deadlines)
    future = [day for day in candidates if day > after]
    return min(future, default=None)
