"""Badge reconciliation: Credly agrees with the certification's standing, whatever the stream missed.

The stream revokes and issues badges as their causes land (a lapse transition, a fee reversal, a
completion). Three cases escape it: a revoke whose stream record ended on the on-failure queue; a
lapse that late facts undid (the badge was revoked, the certification is in force again); and
badges the stream never tracks, such as one brought in with an opening balance. So the daily run
compares, for each certification it evaluates, the badges recorded in the member record it already
loaded with the standing it just evaluated (:func:`badge_plan`, no request), and when they disagree it
records a ``badge_reconcile`` event keyed ``{credential}#{run date}``. That event's stream record is
the outbox: the stream consumer (``functions/badge_issue``, the only function with Credly's secret)
re-reads the member and carries the plan out (:meth:`BadgeReconciler.reconcile`). A certification
with no recorded badge costs nothing; a re-run of the same day records nothing new; while the plan
is not carried out (Credly down, the record parked) the certification is due again the next day, so
the next run tries again.

Which badges should be live, on a day the certification is in force: the badge of the completion
the certification is in force from (its ``recertified_from`` is the standing's ``certified_on``);
with no such completion, the badge an opening balance brought in. Every other live badge is revoked;
a wanted badge that was recorded and is no longer live is issued again (Credly cannot un-revoke: a
new badge, the next ``issue``). A wanted completion with no badge recorded at all is the
``Recertified`` stream record's to issue, not this step's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from shared.observability import logger
from shared.rules.models import CertificationStatus, Fact, Recertified, Standing
from shared.rules.status import evaluate, recertified_from
from shared.services.badge_records import FEE_REVERSED, IMPORTED, LAPSED, BadgeRecord, badges_of
from shared.services.badges import BadgeService
from shared.store.records import EventRecord, MemberRecord

RECONCILE = "badge_reconcile"
SUPERSEDED = "replaced by a later recertification"


@dataclass(frozen=True)
class BadgeReissue:
    application_id: str
    in_force_from: date
    issue: int


@dataclass(frozen=True)
class BadgePlan:
    revoke: tuple[tuple[BadgeRecord, str], ...] = ()  # each live badge to revoke, with the reason
    reissue: tuple[BadgeReissue, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.revoke or self.reissue)


def badge_plan(record: MemberRecord, status: CertificationStatus, today: date) -> BadgePlan:
    """What Credly must do so the certification's badges agree with ``status`` (pure)."""
    return plan_badges(badges_of(record), record.facts, status, today)


def plan_badges(
    recorded: Sequence[BadgeRecord], facts: Sequence[Fact], status: CertificationStatus, today: date
) -> BadgePlan:
    """:func:`badge_plan` from the member's badges and facts. ``facts`` must hold every ``Recertified``
    fact of the credential (the daily run's bounded read passes the facts since a checkpoint only
    when there is none)."""
    badges = [b for b in recorded if b.credential == status.credential]
    if not badges:
        return BadgePlan()
    live = [b for b in badges if b.state != "revoked"]
    if status.status is Standing.LAPSED:
        return BadgePlan(revoke=tuple((b, LAPSED) for b in live))
    completions = [f for f in facts if isinstance(f, Recertified) and f.credential == status.credential]
    in_force = {f.application_id: recertified_from(f, facts, today) for f in completions}
    wanted = {
        app: since for app, since in in_force.items() if since is not None and since == status.certified_on
    }
    imported = [b for b in badges if b.application_id == IMPORTED]
    if not wanted and imported:
        wanted[IMPORTED] = imported[0].completed_on
    revoke = tuple(
        (b, FEE_REVERSED if in_force.get(b.application_id, True) is None else SUPERSEDED)
        for b in live
        if b.application_id not in wanted
    )
    reissue = tuple(
        BadgeReissue(app, since, issue=len(recorded) + 1)
        for app, since in sorted(wanted.items())
        if (recorded := [b for b in badges if b.application_id == app])
        and not any(b.state != "revoked" for b in recorded)
    )
    return BadgePlan(revoke=revoke, reissue=reissue)


def reconcile_event(status: CertificationStatus, plan: BadgePlan, run_date: date) -> EventRecord:
    """The daily run's record of a disagreement (the stream consumer's cue)."""
    revoke = [b.badge_id or b.application_id for b, _ in plan.revoke]
    reissue = [r.application_id for r in plan.reissue]
    what = ", ".join([*(f"revoke {b}" for b in revoke), *(f"issue {a} again" for a in reissue)])
    return EventRecord(
        kind=RECONCILE,
        key=f"{status.credential}#{run_date.isoformat()}",
        occurred_on=run_date,
        recorded_on=run_date,
        credential=status.credential,
        summary=f"{status.credential} Credly badges brought in line with the {status.status.value} standing: {what}",
        data={"status": status.status.value, "revoke": revoke, "reissue": reissue},
    )


class BadgeReconciler:
    """The stream consumer's side: re-read the member, plan again (the plan may have changed since the
    daily run) and carry it out. Idempotent: a redelivery finds nothing left to do."""

    def __init__(self, badges: BadgeService) -> None:
        self.badges = badges

    def reconcile(self, member_id: str, credential: str, today: date) -> BadgePlan:
        record = self.badges.repository.load(member_id)
        cert = record.certifications.get(credential) if record else None
        if record is None or cert is None:
            return BadgePlan()
        status = evaluate(cert.as_certification(), record.facts, today, self.badges.policy)
        plan = badge_plan(record, status, today)
        for badge, reason in plan.revoke:
            self.badges.revoke(member_id, badge, reason, today)
        for again in plan.reissue:
            self.badges.issue(record, credential, again.application_id, again.in_force_from, again.issue)
        if plan:
            logger.info(
                "badges reconciled",
                extra={"credential": credential, "revoked": len(plan.revoke), "issued": len(plan.reissue)},
            )
        return plan
