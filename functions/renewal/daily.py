"""Daily schedule (EventBridge Scheduler): ``{"date": "YYYY-MM-DD"}`` optional, for re-runs/backfills."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.clock import business_today
from shared.config.settings import get_policy, get_settings
from shared.observability import lambda_entry
from shared.services.daily import DailyRun
from shared.store.members import MemberRepository


class DailyEvent(BaseModel):
    date: dt.date | None = None


@lambda_entry()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event or {}, model=DailyEvent)
    settings = get_settings()
    run_date = request.date or business_today(settings.zone)
    summary = DailyRun(MemberRepository(settings.table_name), get_policy()).run(run_date)
    return {"run_date": run_date.isoformat(), "due": summary.due, "transitions": summary.transitions}
