"""The daily run's notices: recorded exactly once, e-mailed at least once, mailed in the day's batch.

Each notice is recorded with a conditional put BEFORE it is sent (``ScheduleStore.record_notice``);
its e-mail is marked settled once SES accepted it (or refused it for good: a rejected address is
logged, not retried forever). An e-mail left unsettled - a crash between record and send, or an
SES error, which fails that member for this run - is sent by the re-run, which finds the notice's
item in the same conditional put.
"""

from __future__ import annotations

from datetime import date, timedelta

from shared.adapters.notifier import Notifier
from shared.observability import logger
from shared.rules import schedule
from shared.rules.models import CertificationStatus, Standing
from shared.rules.schedule import NoticeDue
from shared.services.daily_summary import DailySummary
from shared.services.notices import TITLES, email_for, print_row
from shared.store.members import WriteOutcome
from shared.store.records import EventRecord, MemberProfile
from shared.store.schedule import ScheduleStore

NOTICE = "notice"

# SES errors about the message or its recipient: retrying the same e-mail cannot succeed.
PERMANENT_EMAIL_ERRORS = frozenset({"MessageRejected", "InvalidParameterValue"})


class NoticeNotSent(RuntimeError):
    """SES did not take a notice's e-mail (a transient error): the member is retried by the re-run."""


class NoticeSender:
    def __init__(self, store: ScheduleStore, notifier: Notifier, *, pay_at: str, stale_days: int) -> None:
        self.store = store
        self.notifier = notifier
        self.pay_at = pay_at  # where renewal notices send the member to pay
        self.stale_days = stale_days

    def lapse_notice(self, status: CertificationStatus, run_date: date) -> list[NoticeDue]:
        lapsed_on = status.lapsed_on
        if status.status is not Standing.LAPSED or lapsed_on is None:
            return []
        if lapsed_on <= run_date - timedelta(days=self.stale_days):
            return []  # an old lapse (a member loaded from the roster): history, not news
        if status.cutover_on is not None and lapsed_on < status.cutover_on:
            return []  # lapsed before the opening balance: the previous system's news
        data = {"lapsed_on": lapsed_on.isoformat(), "reasons": [r.value for r in status.reasons]}
        return [NoticeDue(kind=schedule.LAPSE, period=lapsed_on.isoformat(), on=run_date, data=data)]

    def send(
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
