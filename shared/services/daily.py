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
  if it is ready (:meth:`RecertificationService.complete_loaded`, from the record already loaded), so
  a fee payment whose stream record went to the on-failure queue is healed by the next run (the
  payment nudged the certification's due date to the day it was credited);
* on the audit draw date, the draw (:mod:`shared.rules.audit`), with ``AuditDrawn`` facts and notices.

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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from shared.adapters.notifier import Notifier
from shared.observability import logger
from shared.rules import audit, schedule
from shared.rules.cycles import current_cycle, cycle_number
from shared.rules.models import ActivitySpec, AuditDrawn, CertificationStatus, Reason, Standing
from shared.rules.policy import RulesPolicy
from shared.rules.schedule import NoticeDue, next_action_date, notices_due
from shared.rules.status import catalog_ids_needed, evaluate, standing_history
from shared.services.checkpoints import CheckpointWriter
from shared.services.members import CatalogLookup
from shared.services.notices import TITLES, email_for, print_row
from shared.services.recertification import RecertificationService, applications_of
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.records import CertificationRecord, EventRecord, MemberProfile, MemberRecord
from shared.store.schedule import ScheduleStore

TRANSITION = "transition"
CYCLE_STARTED = "cycle_started"
NOTICE = "notice"
FIRST_RUN_LOOKBACK_DAYS = 400  # a year and a month of DueIndex partitions: one Query per month


class DailyRunIncomplete(RuntimeError):
    """Some members failed (logged one by one); the rest of the run was done."""


class NoticeNotSent(RuntimeError):
    """SES did not take a notice's e-mail (a transient error): the member is retried by the re-run."""


# SES errors about the message or its recipient: retrying the same e-mail cannot succeed.
PERMANENT_EMAIL_ERRORS = frozenset({"MessageRejected", "InvalidParameterValue"})


@dataclass
class DailySummary:
    run_date: date
    days_read: int = 0
    due: int = 0
    members: int = 0
    evaluated: int = 0
    transitions: int = 0
    cycles_started: int = 0
    notices: int = 0
    already_sent: int = 0
    emails: int = 0
    emails_retried: int = 0
    email_failed: int = 0
    mailed: int = 0
    email_only: int = 0
    audit_pool: int = 0
    audits_drawn: int = 0
    recertified: int = 0
    checkpoints: int = 0  # certification checkpoints (re)written
    print_batch: str | None = None
    failed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    transitions_to: dict[str, int] = field(default_factory=dict)  # recorded transitions by new standing

    def as_log(self) -> dict[str, Any]:
        values = asdict(self)
        values["run_date"] = self.run_date.isoformat()
        return values


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
        recertification: RecertificationService | None = None,
        portal_url: str = "https://portal.example.org",
    ) -> None:
        self.repository = repository
        self.pay_at = f"{portal_url}/invoices"  # where renewal notices send the member to pay
        self.policy = policy
        self.notifier = notifier
        self.store = store or ScheduleStore(repository.table_name, repository.client)
        self.catalog = catalog
        self.stale_days = stale_days
        self.checkpoints = CheckpointWriter(repository, policy)  # derived: rebuilt as it evaluates
        # the backstop's catalog entries: those this run already fetched for the member (no read)
        self._member_catalog: Mapping[str, ActivitySpec] = {}
        self.recertification = recertification or RecertificationService(
            repository, policy, {}, catalog=self._fetched_catalog
        )

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
        due: dict[str, dict[str, date]] = defaultdict(dict)
        for entry in self.repository.due_between(read_from, days[-1]):
            due[entry.member_id][entry.credential] = entry.due_on
            summary.due += 1
        for member_id in sorted(due):
            try:
                self._member(member_id, due[member_id], run_date, summary, days[0])
            except Exception:  # isolate: the others still get their notices; retried next run
                logger.exception("daily run: member failed", extra={"member_id": member_id})
                summary.failed += 1
        for year in sorted({day.year for day in days}):
            if audit.draw_date(year, self.policy) in days:
                self._draw(year, run_date, summary)
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
        credentials: dict[str, date],
        run_date: date,
        summary: DailySummary,
        since_run: date,
    ) -> None:
        record = self.repository.load(member_id)
        if record is None:
            return
        summary.members += 1
        unmapped = catalog_ids_needed(record.facts)
        catalog = self.catalog(unmapped) if self.catalog and unmapped else None
        self._member_catalog = catalog or {}
        record = self._recertify(record, run_date, summary)
        for credential, read_from in sorted(credentials.items()):
            cert = record.certifications.get(credential)
            if cert is None:
                continue
            # from the last completed run, or from the latest run that recorded a transition of this
            # certification if later (a crashed run before this re-run): it recorded the changes up
            # to its run date already
            recorded = [
                e.recorded_on for e in record.events if e.kind == TRANSITION and e.credential == credential
            ]
            history = standing_history(
                cert.as_certification(),
                record.facts,
                min(max([since_run, *recorded]), run_date),
                run_date,
                self.policy,
                catalog,
            )
            status = history[-1][1]  # the status on the run date
            summary.evaluated += 1
            summary.by_status[status.status.value] = summary.by_status.get(status.status.value, 0) + 1
            self._transitions(record, history, run_date, summary)
            self._rollover(record, status, run_date, summary)
            for notice in [
                *(n for _, s in history for n in self._lapse_notice(s, run_date)),  # each lapse in the gap
                *notices_due(status, run_date, self.policy, self.stale_days),
            ]:
                self._notify(record.profile, credential, notice, run_date, summary)
            upcoming = next_action_date(status, record.facts, run_date, self.policy)
            self.store.set_next_due(
                member_id,
                CertificationRecord(credential=credential, certified_on=cert.certified_on, due_on=upcoming),
                read_from,
            )
            if self.checkpoints.refresh(record, credential, run_date):
                summary.checkpoints += 1

    def _fetched_catalog(self, ids: set[str]) -> Mapping[str, ActivitySpec]:
        return {i: self._member_catalog[i] for i in ids if i in self._member_catalog}

    def _recertify(self, record: MemberRecord, run_date: date, summary: DailySummary) -> MemberRecord:
        """Backstop for the stream consumer: complete any open application that is ready. No read (the
        loaded record); the completion transaction only when one completes. The record is returned
        with the new ``Recertified`` facts, so this run already evaluates the certification as
        recertified (the completion moved its due date to the next day, which the conditional
        ``set_next_due`` below keeps)."""
        completed = [
            fact
            for app in applications_of(record)
            if app.status == "open"
            and (fact := self.recertification.complete_loaded(record, app, run_date)) is not None
        ]
        if not completed:
            return record
        summary.recertified += len(completed)
        return record.model_copy(update={"facts": (*record.facts, *completed)})

    def _transitions(
        self,
        record: MemberRecord,
        history: list[tuple[date, CertificationStatus]],
        run_date: date,
        summary: DailySummary,
    ) -> None:
        """Every standing change since the last completed run, in order, each with its own date:
        a catch-up run records what daily runs on the missed days would have."""
        credential = history[-1][1].credential
        previous = [e for e in record.events if e.kind == TRANSITION and e.credential == credential]
        for day, status in history:
            recorded = self._transition(
                previous, record.profile.member_id, status, day=day, run_date=run_date, summary=summary
            )
            if recorded is not None:
                previous.append(recorded)

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

    def _rollover(
        self, record: MemberRecord, status: CertificationStatus, run_date: date, summary: DailySummary
    ) -> None:
        if status.status is Standing.LAPSED:
            return
        cycle = current_cycle(status.certified_on, run_date, self.policy)
        if cycle.number < 2 or (status.cutover_on is not None and cycle.start < status.cutover_on):
            return  # the first cycle, or one an opening balance brought in
        key = f"{status.credential}#{cycle.start.isoformat()}"
        if any(e.kind == CYCLE_STARTED and e.key == key for e in record.events):
            return
        ended = cycle_number(status.certified_on, cycle.number - 1, self.policy)
        member_id = record.profile.member_id
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

    def _lapse_notice(self, status: CertificationStatus, run_date: date) -> list[NoticeDue]:
        lapsed_on = status.lapsed_on
        if status.status is not Standing.LAPSED or lapsed_on is None:
            return []
        if lapsed_on <= run_date - timedelta(days=self.stale_days):
            return []  # an old lapse (a member loaded from the roster): history, not news
        if status.cutover_on is not None and lapsed_on < status.cutover_on:
            return []  # lapsed before the opening balance: the previous system's news
        data = {"lapsed_on": lapsed_on.isoformat(), "reasons": [r.value for r in status.reasons]}
        return [NoticeDue(kind=schedule.LAPSE, period=lapsed_on.isoformat(), on=run_date, data=data)]

    # ------------------------------------------------------------------ notices

    def _notify(
        self,
        profile: MemberProfile,
        credential: str,
        notice: NoticeDue,
        run_date: date,
        summary: DailySummary,
    ) -> None:
        row = print_row(profile, credential, notice, self.pay_at)
        channels = ["email", "mail"] if row else ["email"]
        event = EventRecord(
            kind=NOTICE,
            key=f"{credential}#{notice.kind}#{notice.period}",
            occurred_on=run_date,
            recorded_on=run_date,
            credential=credential,
            summary=f"{TITLES[notice.kind]} - notice sent by {' and '.join(channels)}",
            data={
                "notice": notice.kind,
                "period": notice.period,
                "channels": channels,
                **notice.data,
                "print_row": row,
            },
        )
        outcome, email_settled = self.store.record_notice(profile.member_id, event, run_date if row else None)
        if outcome is WriteOutcome.DUPLICATE and email_settled:
            summary.already_sent += 1
            return
        if outcome is WriteOutcome.DUPLICATE:
            summary.emails_retried += 1  # a crash or an SES error left it unsent: send it now
        else:
            summary.notices += 1
            if row is None:
                summary.email_only += 1
        try:
            self.notifier.send_email(email_for(profile, credential, notice, self.pay_at))
        except Exception as error:
            # No traceback or message: SES rejections name the recipient's address (PII). The error
            # class and SES error code say what went wrong.
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            refused = code in PERMANENT_EMAIL_ERRORS
            logger.error(
                "notice e-mail refused for good" if refused else "notice e-mail failed; retried next run",
                extra={
                    "member_id": profile.member_id,
                    "key": event.key,
                    "error": type(error).__name__,
                    "code": code,
                },
            )
            summary.email_failed += 1
            if not refused:
                raise NoticeNotSent(event.key) from None
            self.store.settle_email(profile.member_id, event, "refused", run_date)
            return
        self.store.settle_email(profile.member_id, event, "sent", run_date)
        summary.emails += 1

    # ------------------------------------------------------------------ audit draw

    def _lapsed(self, record: MemberRecord, cert: CertificationRecord, on: date) -> bool:
        unmapped = catalog_ids_needed(record.facts)
        catalog = self.catalog(unmapped) if self.catalog and unmapped else None
        status = evaluate(cert.as_certification(), record.facts, on, self.policy, catalog)
        return status.status is Standing.LAPSED

    def _draw(self, year: int, run_date: date, summary: DailySummary) -> None:
        if self.store.audit_draw(year) is not None:
            return
        pool = {f"{item['member_id']}#{item['credential']}": item for item in self.store.audit_pool(year - 1)}
        seed = audit.audit_seed(year)
        chosen = audit.draw(pool, self.policy.audit_rate, seed)
        deadline = audit.deadline(run_date, self.policy)
        skipped: list[str] = []
        failed = 0
        for entry in chosen:
            try:
                if not self._draw_one(
                    pool[entry], year, run_date, deadline=deadline, seed=seed, summary=summary
                ):
                    skipped.append(entry)  # lapsed since the cycle ended: nothing left to audit
            except Exception:  # isolate like members; the draw is recorded only once all went through
                logger.exception("audit draw: member failed", extra={"member_id": pool[entry]["member_id"]})
                failed += 1
        if failed:
            summary.failed += failed
            return
        self.store.record_audit_draw(
            year,
            {
                "seed": seed,
                "pool_year": year - 1,
                "pool_size": len(pool),
                "rate": str(self.policy.audit_rate),
                "selected": chosen,
                "skipped_lapsed": skipped,
                "drawn_on": run_date.isoformat(),
                "deadline": deadline.isoformat(),
            },
        )

    def _draw_one(
        self,
        item: Mapping[str, Any],
        year: int,
        run_date: date,
        *,
        deadline: date,
        seed: str,
        summary: DailySummary,
    ) -> bool:
        """Draw one chosen cycle: its ``AuditDrawn`` fact, notice and due date; False if skipped."""
        member_id, credential = str(item["member_id"]), str(item["credential"])
        record = self.repository.load(member_id)
        cert = record.certifications.get(credential) if record else None
        if record is None or cert is None or self._lapsed(record, cert, run_date):
            return False
        fact = AuditDrawn(
            key=audit.audit_id(year, member_id, credential),
            recorded_on=run_date,
            audit_id=audit.audit_id(year, member_id, credential),
            credential=credential,
            cycle_start=date.fromisoformat(str(item["cycle_start"])),
            cycle_end=date.fromisoformat(str(item["cycle_end"])),
            drawn_on=run_date,
            deadline=deadline,
            seed=seed,
        )
        if self.repository.record_fact(member_id, fact) is WriteOutcome.CREATED:
            summary.audits_drawn += 1
        notice = NoticeDue(
            kind=schedule.AUDIT,
            period=str(year),
            on=run_date,
            data={
                "audit_id": fact.audit_id,
                "cycle_start": fact.cycle_start.isoformat(),
                "cycle_end": fact.cycle_end.isoformat(),
                "deadline": fact.deadline.isoformat(),
                "seed": seed,
            },
        )
        self._notify(record.profile, credential, notice, run_date, summary)
        if cert.due_on is not None and cert.due_on > fact.deadline:
            # the missed-deadline check (R7c) must come first: pull the next action date forward
            moved = CertificationRecord(
                credential=credential,
                certified_on=cert.certified_on,
                due_on=fact.deadline + timedelta(days=1),
            )
            self.store.set_next_due(member_id, moved, cert.due_on)
        return True
