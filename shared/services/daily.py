"""The daily run: for every certification with something due, evaluate the rules core and act.

What it reads (docs/architecture.md, data principle 4): the DueIndex partitions from the last completed run date
(inclusive: certifications the roster added after that run) through the run date, then one Query per
member found there. Cost grows with what is due, not with the membership.

What it does per due certification (as of the run date):

* transitions (``transition`` events: delinquent, lapsed with its lapse date, active again) and cycle
  roll-over (``cycle_started``), each keyed on (credential, kind, period);
* notices (``notice`` events, :mod:`shared.rules.schedule`): renewal, CCP progress, lapse - by e-mail,
  and by mail when the member has a postal address;
* its next action date (``shared.rules.schedule.next_action_date``), written conditionally so a
  payment webhook's nudge in the meantime is kept;
* the recertification backstop: each open recertification application of the member is completed
  if it is ready (:meth:`RecertCompletion.complete`, from the record already loaded), so
  a fee payment whose stream record went to the on-failure queue is healed by the next run (the
  payment nudged the certification's due date to the day it was credited);
* badge reconciliation (:mod:`shared.services.badge_reconciliation`): when the Credly badges recorded
  for the certification disagree with its standing, a ``badge_reconcile`` event the stream consumer
  carries out, and the certification is due again the next day until they agree;
* on the audit draw date, the draw (:mod:`shared.services.audit_draw`), with ``AuditDrawn`` facts and notices.

Modules: this one reads what is due and runs each member; :mod:`shared.services.daily_transitions`
records standing changes and cycle starts; :mod:`shared.services.daily_notices` records and sends
notices; :mod:`shared.services.audit_draw` draws the audits.

Notices exactly once, e-mails at least once: each notice/transition is recorded with a conditional
put BEFORE it is sent, so a re-run, a crash-and-rerun or a catch-up run never records it twice. Its
e-mail is marked settled on the notice item once SES accepted it (or refused it for good: a rejected
address is logged, not retried forever). An e-mail left unsettled - a crash between record and send,
or an SES error (throttling, outage), which fails that member for this run - is sent by the re-run,
which finds the notice's item in the same conditional put. The price is one possible duplicate when
SES accepted the e-mail but it was not marked: a crash in between, or the marking write failing
after its retries. Mail cannot be lost: the day's print batch is rebuilt from the
recorded notices listed under ``PRINT#{date}``, for the run date and every earlier day whose batch
was not written (a ``BATCH#{day}`` marker, put when the run starts and deleted once the CSV is
written: a crashed day's rows go out with the next run). The last completed run date is written last, so a
crashed run is simply run again. A catch-up reads every missed day, one DueIndex Query per month.
The first run ever (no last run yet) reads the DueIndex from ``FIRST_RUN_LOOKBACK_DAYS`` back, so
certifications the roster loaded before it are not left behind.

One member's failure does not stop the run: it is logged (member id only) and the run goes on;
that certification keeps its due date. The run then writes the print batches but NOT the last run
date, and raises ``DailyRunIncomplete`` - Lambda retries the event and finally sends it to the
on-failure destination, and the next run re-reads from the same last run date, so the member is
retried.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta

from shared.adapters.notifier import Notifier
from shared.observability import logger
from shared.rules import audit, schedule
from shared.rules.models import CertificationStatus
from shared.rules.policy import RulesPolicy
from shared.rules.schedule import next_action_date, notices_due
from shared.rules.status import standing_history
from shared.services.audit_draw import AuditDraw
from shared.services.badge_reconciliation import plan_badges, reconcile_event
from shared.services.badge_records import badges_in
from shared.services.checkpoints import CheckpointWriter
from shared.services.daily_notices import NoticeNotSent, NoticeSender
from shared.services.daily_reads import DailyReads, DueMember, state_after
from shared.services.daily_summary import DailySummary
from shared.services.daily_transitions import TRANSITION, StandingRecorder
from shared.services.members import CatalogLookup
from shared.services.recert_completion import RecertCompletion
from shared.store.members import DueCertification, MemberRepository, WriteOutcome
from shared.store.recert import StaleWrite
from shared.store.recert_queries import applications_of
from shared.store.records import CertificationRecord, MemberRecord
from shared.store.schedule import ScheduleStore

__all__ = ["DailyRun", "DailyRunIncomplete", "DailySummary", "NoticeNotSent"]

FIRST_RUN_LOOKBACK_DAYS = 400  # a year and a month of DueIndex partitions: one Query per month


class DailyRunIncomplete(RuntimeError):
    """Some members failed (logged one by one); the rest of the run was done."""


class DailyRun:
    def __init__(
        self,
        repository: MemberRepository,
        policy: RulesPolicy,
        notifier: Notifier,
        *,
        store: ScheduleStore | None = None,
        catalog: CatalogLookup | None = None,
        stale_days: int = schedule.DEFAULT_STALE_DAYS,
        portal_url: str = "https://portal.example.org",
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.notifier = notifier
        self.store = store or ScheduleStore(repository.table_name, repository.client)
        self.catalog = catalog
        self.reads = DailyReads(repository, policy, catalog)
        self.checkpoints = CheckpointWriter(repository, policy)  # derived: rebuilt as it evaluates
        self.notices = NoticeSender(
            self.store, notifier, pay_at=f"{portal_url}/invoices", stale_days=stale_days
        )
        self.standing = StandingRecorder(repository, self.store, policy)
        self.completion = RecertCompletion(repository, policy)
        self.audits = AuditDraw(repository, self.store, policy, self.notices, catalog)

    def days_to_read(self, run_date: date) -> tuple[list[date], bool]:
        """The last completed run date (inclusive) through ``run_date``; only ``run_date`` for a
        re-run of the same day or a backfill of an earlier one. However long the gap, it costs one
        Query per calendar month (month-bucketed DueIndex), so nothing is skipped. Before any run
        completed, the first attempted run date stands in for the last run (a crashed first run is
        caught up like any other day); the flag says no run has completed yet."""
        last = self.store.last_run()
        first_run = last is None
        if last is None:
            last = self.store.first_attempt(run_date)
        if last >= run_date:
            return [run_date], first_run
        return [last + timedelta(days=n) for n in range((run_date - last).days + 1)], first_run

    def run(self, run_date: date) -> DailySummary:
        summary = DailySummary(run_date=run_date)
        days, first_run = self.days_to_read(run_date)
        summary.days_read = len(days)
        read_from = days[0] - timedelta(days=FIRST_RUN_LOOKBACK_DAYS) if first_run else days[0]
        self.store.open_batch(run_date)
        due: dict[str, dict[str, DueCertification]] = defaultdict(dict)
        for entry in self.repository.due_between(read_from, days[-1]):
            due[entry.member_id][entry.credential] = entry
            summary.due += 1
        for member_id in sorted(due):
            try:
                self._member(member_id, due[member_id], run_date, summary, days[0])
            except Exception:  # isolate: the others still get their notices; retried next run
                logger.exception("daily run: member failed", extra={"member_id": member_id})
                summary.failed += 1
        for year in sorted({day.year for day in days}):
            if audit.draw_date(year, self.policy) in days:
                self.audits.draw(year, run_date, summary)
        self._print_batches(run_date, summary)
        if summary.failed:
            logger.error("daily run incomplete", extra=summary.as_log())
            raise DailyRunIncomplete(f"{summary.failed} member(s) failed on {run_date.isoformat()}")
        self.store.set_last_run(run_date)
        logger.info("daily run done", extra=summary.as_log())
        return summary

    def _print_batches(self, run_date: date, summary: DailySummary) -> None:
        """The run date's batch (always rebuilt), and that of any day whose run crashed before
        writing its batch (its ``BATCH#{day}`` marker is still there)."""
        for day in sorted({*self.store.open_batches(), run_date}):
            rows = [e.data["print_row"] for e in self.store.mailed_notices(day) if e.data.get("print_row")]
            key = self.notifier.write_print_batch(day, rows)
            self.store.close_batch(day)
            summary.mailed += len(rows)
            if day == run_date:
                summary.print_batch = key

    # ------------------------------------------------------------------ one member

    def _member(
        self,
        member_id: str,
        entries: dict[str, DueCertification],
        run_date: date,
        summary: DailySummary,
        since_run: date,
    ) -> None:
        member = self.reads.load(member_id, entries, since_run, run_date)
        if member is None:
            return
        summary.members += 1
        summary.read_whole += member.record is not None
        if member.record is not None:
            member = self._recertify(member, member.record, run_date, summary)
        for credential, entry in sorted(entries.items()):
            cert = member.certifications.get(credential)
            if cert is None:
                continue
            events = member.events_for(credential)
            # from the last completed run, or from the latest run that recorded a transition of this
            # certification if later (a crashed run before this re-run): it recorded the changes up
            # to its run date already
            recorded = [e.recorded_on for e in events if e.kind == TRANSITION and e.credential == credential]
            history = standing_history(
                cert.as_certification(),
                member.facts,
                min(max([since_run, *recorded]), run_date),
                run_date,
                self.policy,
                member.catalog or None,
                checkpoint=member.checkpoint(credential),
            )
            status = history[-1][1]  # the status on the run date
            summary.evaluated += 1
            summary.by_status[status.status.value] = summary.by_status.get(status.status.value, 0) + 1
            transitions = self.standing.transitions(member_id, events, history, run_date, summary)
            started = self.standing.rollover(member_id, events, status, run_date, summary)
            lapses = [
                n for _, s in history for n in self.notices.lapse_notice(s, run_date)
            ]  # each in the gap
            for notice in [*lapses, *notices_due(status, run_date, self.policy, self.notices.stale_days)]:
                self.notices.send(member.profile, credential, notice, run_date, summary)
            upcoming = next_action_date(
                status, member.facts, run_date, self.policy, member.audit_deadlines(credential)
            )
            if self._badges_disagree(member, status, run_date, summary):
                # look again tomorrow until the stream consumer has brought Credly in line
                upcoming = min(upcoming or date.max, run_date + timedelta(days=1))
            # The checkpoint before the next action date: that write marks the certification done for
            # the day, so a crash between the two re-runs it and the checkpoint is written again.
            checkpoint = member.checkpoint(credential)  # a bounded read continued from it
            whole = member.with_every_fact()
            if whole is not None:  # every fact read: the writer folds, keeps or drops the checkpoint
                changed, checkpoint = self.checkpoints.settle(whole, credential, run_date)
                summary.checkpoints += changed
            state = state_after(
                member, credential, checkpoint, [*transitions, *([started] if started else [])], run_date
            )
            self.store.set_next_due(
                member_id,
                CertificationRecord(credential=credential, certified_on=cert.certified_on, due_on=upcoming),
                entry.due_on,
                state,
            )

    def _badges_disagree(
        self, member: DueMember, status: CertificationStatus, run_date: date, summary: DailySummary
    ) -> bool:
        """The badge reconciliation step (:mod:`shared.services.badge_reconciliation`): from what the
        run read, no request unless the badges disagree with the standing."""
        plan = plan_badges(badges_in(member.events), member.facts, status, run_date)
        if not plan:
            return False
        event = reconcile_event(status, plan, run_date)
        if self.repository.record_event(member.member_id, event) is WriteOutcome.CREATED:
            summary.badges_reconciled += 1
        return True

    def _recertify(
        self,
        member: DueMember,
        record: MemberRecord,
        run_date: date,
        summary: DailySummary,
    ) -> DueMember:
        """Backstop for the stream consumer: complete any open application that is ready. No read (the
        record read whole: a bounded read is never made for a member with an open application); the
        completion transaction only when one completes. The member is returned with the new
        ``Recertified`` facts, so this run already evaluates the certification as recertified (the
        completion moved its due date to the next day, which the conditional ``set_next_due`` below
        keeps)."""
        completed = []
        for app in (a for a in applications_of(record) if a.status == "open"):
            try:
                fact = self.completion.complete(record, app, run_date, member.catalog)
            except StaleWrite:  # completed (or rejected) meanwhile by the stream or a request
                continue
            if fact is not None:
                completed.append(fact)
        if not completed:
            return member
        summary.recertified += len(completed)
        facts = (*member.facts, *completed)
        return replace(member, facts=facts, record=record.model_copy(update={"facts": facts}))
