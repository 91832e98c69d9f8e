"""What the daily run records about a certification's standing: each change since its last completed
run (``transition`` events) and each CCP cycle started (``cycle_started`` events, with the audit pool).

Keys are deterministic - (credential, standing, the day it took effect) and (credential, cycle
start) - so a re-run, a crash-and-rerun or a catch-up run records each once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from shared.rules.cycles import current_cycle, cycle_number
from shared.rules.models import CertificationStatus, Reason, Standing
from shared.rules.policy import RulesPolicy
from shared.services.daily_summary import DailySummary
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.records import EventRecord
from shared.store.schedule import ScheduleStore

TRANSITION = "transition"
CYCLE_STARTED = "cycle_started"


class StandingRecorder:
    def __init__(self, repository: MemberRepository, store: ScheduleStore, policy: RulesPolicy) -> None:
        self.repository = repository
        self.store = store
        self.policy = policy

    def transitions(
        self,
        member_id: str,
        events: Sequence[EventRecord],
        history: list[tuple[date, CertificationStatus]],
        run_date: date,
        summary: DailySummary,
    ) -> list[EventRecord]:
        """Every standing change since the last completed run, in order, each with its own date:
        a catch-up run records what daily runs on the missed days would have. ``events``: the
        member's (at least the certification's transitions); returns the certification's
        transitions, those recorded now included."""
        credential = history[-1][1].credential
        previous = [e for e in events if e.kind == TRANSITION and e.credential == credential]
        for day, status in history:
            recorded = self._transition(
                previous, member_id, status, day=day, run_date=run_date, summary=summary
            )
            if recorded is not None:
                previous.append(recorded)
        return previous

    def _transition(
        self,
        previous: list[EventRecord],
        member_id: str,
        status: CertificationStatus,
        *,
        day: date,
        run_date: date,
        summary: DailySummary,
    ) -> EventRecord | None:
        """The transition to ``status`` (the standing on ``day``) unless it is the last recorded one."""
        last = max(previous, key=lambda e: (e.occurred_on, e.recorded_on, e.key), default=None)
        last_status = last.data.get("status") if last else Standing.ACTIVE.value
        if last_status == status.status.value:
            return None
        since = self._since(status, day)
        if status.cutover_on is not None and since < status.cutover_on:
            return None  # took effect before the opening balance: that balance is its record
        if last is not None and since <= last.occurred_on:
            # re-entering a standing (delinquent, reactivated, delinquent again on the same overdue
            # fee): it took effect after the last transition, so the timeline ends with it
            since = max(day, last.occurred_on)
        key = f"{status.credential}#{status.status.value}#{since.isoformat()}"
        taken = {e.key for e in previous}
        sequence = 2
        while key in taken:  # the same standing twice on one day
            key = f"{status.credential}#{status.status.value}#{since.isoformat()}#{sequence}"
            sequence += 1
        reasons = [r.value for r in status.reasons]
        event = EventRecord(
            kind=TRANSITION,
            key=key,
            occurred_on=since,
            recorded_on=run_date,
            credential=status.credential,
            summary=f"{status.credential} became {status.status.value}"
            + (f" ({', '.join(reasons)})" if reasons else ""),
            data={"status": status.status.value, "reasons": reasons, "since": since.isoformat()},
        )
        if self.repository.record_event(member_id, event) is WriteOutcome.CREATED:
            summary.transitions += 1
            standing = status.status.value
            summary.transitions_to[standing] = summary.transitions_to.get(standing, 0) + 1
        return event

    @staticmethod
    def _since(status: CertificationStatus, run_date: date) -> date:
        """The day the new standing took effect, from the rules (so the key is the same on any run)."""
        if status.status is Standing.LAPSED and status.lapsed_on is not None:
            return status.lapsed_on
        if status.status is Standing.DELINQUENT:
            starts = []
            if status.fees.overdue_since is not None:
                starts.append(status.fees.overdue_since)
            if Reason.CCP_INCOMPLETE in status.reasons:
                starts.append(status.ccp.cycle_end + timedelta(days=1))
            return min(starts, default=run_date)
        return run_date

    def rollover(
        self,
        member_id: str,
        events: Sequence[EventRecord],
        status: CertificationStatus,
        run_date: date,
        summary: DailySummary,
    ) -> EventRecord | None:
        """The cycle start of the current cycle, unless ``events`` has it: the event recorded now, or None."""
        if status.status is Standing.LAPSED:
            return None
        cycle = current_cycle(status.certified_on, run_date, self.policy)
        if cycle.number < 2 or (status.cutover_on is not None and cycle.start < status.cutover_on):
            return None  # the first cycle, or one an opening balance brought in
        key = f"{status.credential}#{cycle.start.isoformat()}"
        if any(e.kind == CYCLE_STARTED and e.key == key for e in events):
            return None
        ended = cycle_number(status.certified_on, cycle.number - 1, self.policy)
        if status.ccp.mandatory and ended.end.year >= run_date.year - 1:
            # The pool of next January's audit draw: written before the event, so a crash between
            # the two only repeats an idempotent put.
            self.store.add_to_audit_pool(
                ended.end.year,
                member_id,
                status.credential,
                {"cycle_start": ended.start.isoformat(), "cycle_end": ended.end.isoformat()},
            )
            summary.audit_pool += 1
        event = EventRecord(
            kind=CYCLE_STARTED,
            key=key,
            occurred_on=cycle.start,
            recorded_on=run_date,
            credential=status.credential,
            summary=f"{status.credential} CCP cycle {cycle.number} started (ends {cycle.end})",
            data={"cycle": cycle.number, "start": cycle.start.isoformat(), "end": cycle.end.isoformat()},
        )
        if self.repository.record_event(member_id, event) is WriteOutcome.CREATED:
            summary.cycles_started += 1
        return event
