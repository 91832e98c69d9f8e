"""Daily schedule (EventBridge Scheduler): ``{"date": "YYYY-MM-DD"}`` optional, for re-runs/backfills.

Without a date it runs for today's business date and catches up every day since the last completed
run. Failures are retried by Lambda and then land in the on-failure queue (EventInvokeConfig). A
member that fails is logged and skipped; the run finishes the others, then raises
``DailyRunIncomplete`` so that retry/on-failure path sees the failed run (the last run date is not
advanced, so the next run retries the member).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict

from shared.adapters.notifier import SesPrintNotifier
from shared.clock import business_today
from shared.config.settings import get_policy, get_settings
from shared.observability import BusinessMetric, lambda_entry, record
from shared.services.catalog import CatalogService
from shared.services.daily import DailyRun
from shared.store.catalog import CatalogRepository
from shared.store.members import MemberRepository


class DailyEvent(BaseModel):
    model_config = ConfigDict(defer_build=True)

    date: dt.date | None = None


@lambda_entry()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event or {}, model=DailyEvent)
    settings = get_settings()
    run_date = request.date or business_today(settings.zone)
    notifier = SesPrintNotifier(
        sender=settings.notice_sender,
        bucket=settings.bucket_name,
        prefix=settings.print_batch_prefix,
        configuration_set=settings.ses_configuration_set,
    )
    run = DailyRun(
        MemberRepository(settings.table_name),
        get_policy(),
        notifier,
        catalog=CatalogService(CatalogRepository(settings.table_name)).lookup,
        portal_url=settings.portal_url,
    )
    started = time.monotonic()
    summary = run.run(run_date)  # raises DailyRunIncomplete: no heartbeat, the alarm notices
    record(BusinessMetric.DAILY_RUN_COMPLETED)
    record(BusinessMetric.DAILY_RUN_DURATION, time.monotonic() - started, MetricUnit.Seconds)
    record(BusinessMetric.CERTIFICATIONS_EVALUATED, summary.evaluated)
    # e-mails SES accepted (first sends and re-sends) and rows of the print batches written by the run
    for channel, sent in (("email", summary.emails), ("mail", summary.mailed)):
        if sent:
            record(BusinessMetric.NOTICES_SENT, sent, dimension=("channel", channel))
    for standing, count in sorted(summary.transitions_to.items()):
        record(BusinessMetric.TRANSITIONS, count, dimension=("standing", standing))
    return {
        "run_date": run_date.isoformat(),
        "due": summary.due,
        "transitions": summary.transitions,
        "notices": summary.notices,
        "mailed": summary.mailed,
        "email_only": summary.email_only,
        "audits_drawn": summary.audits_drawn,
        "print_batch": summary.print_batch,
    }
