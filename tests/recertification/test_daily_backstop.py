"""The daily run heals a recertification whose fee payment never reached the stream consumer."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.config.settings import get_policy
from shared.rules.models import Recertified
from shared.services.daily import DailyRun, DailySummary
from shared.store.payments import PaymentLedger
from tests.helpers import call_api
from tests.recertification.fixtures import Env
from tests.recertification.test_recertification import exam, open_app
from tests.renewal.test_daily import FakeNotifier
from tests.rules.rules_helpers import reverse


@pytest.fixture
def lapsed(env: Env, business_date: Any) -> Env:
    """ana: RMA certified 2015, never paid -> lapsed (as in test_recertification)."""
    business_date("2026-05-01")
    env.member("ana", "RMA", "2015-03-10")
    assert env.status("ana")["status"] == "lapsed"
    return env


def pay_like_the_webhook(env: Env, on: str) -> None:
    """The fee fact plus the nudge the Stripe webhook's credit writes (cert due on the payment day);
    the stream record is NOT delivered (as if it went to the on-failure queue)."""
    env.pay("ana", "ana.RMA.1", 12500, on)
    ledger = PaymentLedger(env.repository.table_name)
    env.repository.client.update_item(**ledger._nudge("ana", "RMA", date.fromisoformat(on))["Update"])


def daily(env: Env, day: str) -> DailySummary:
    return DailyRun(env.repository, get_policy(), FakeNotifier()).run(date.fromisoformat(day))


def recertified(env: Env) -> list[Recertified]:
    record = env.repository.load("ana")
    assert record is not None
    return [f for f in record.facts if isinstance(f, Recertified)]


def test_daily_run_completes_when_the_stream_never_delivers_the_payment(
    lapsed: Env, business_date: Any
) -> None:
    open_app("ana")
    business_date("2026-05-21")
    assert lapsed.exam_result(exam("ana")).body["completed"] is False
    business_date("2026-05-25")
    pay_like_the_webhook(lapsed, "2026-05-25")
    assert call_api("GET", "/recertifications/ana.RMA.1").body["application"]["status"] == "open"

    business_date("2026-05-26")
    first = daily(lapsed, "2026-05-26")
    assert first.recertified == 1
    assert first.failed == 0
    assert lapsed.status("ana")["status"] == "active"
    assert lapsed.status("ana")["certified_on"] == "2026-05-25"  # the day the fee (last input) landed
    facts = recertified(lapsed)
    assert len(facts) == 1
    assert facts[0].completed_on == date(2026, 5, 25)
    view = call_api("GET", "/recertifications/ana.RMA.1").body
    assert view["application"]["status"] == "completed"
    assert view["application"]["completed_on"] == "2026-05-25"

    before = lapsed.repository.load("ana")
    again = daily(lapsed, "2026-05-26")
    assert again.recertified == 0
    assert lapsed.repository.load("ana") == before  # a second run changes nothing
    business_date("2026-05-27")
    assert daily(lapsed, "2026-05-27").recertified == 0
    assert len(recertified(lapsed)) == 1
    assert lapsed.status("ana")["status"] == "active"


def test_completed_on_is_the_day_the_last_input_arrived_when_processed_later(
    lapsed: Env, business_date: Any
) -> None:
    open_app("ana")
    business_date("2026-05-21")
    assert lapsed.exam_result(exam("ana")).body["completed"] is False
    business_date("2026-05-25")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-25")
    business_date("2026-06-03")  # the stream consumer catches up days later
    lapsed.tap.settle()
    view = call_api("GET", "/recertifications/ana.RMA.1").body
    assert view["application"]["status"] == "completed"
    assert view["application"]["completed_on"] == "2026-05-25"
    facts = recertified(lapsed)
    assert [f.completed_on for f in facts] == [date(2026, 5, 25)]
    assert lapsed.status("ana")["certified_on"] == "2026-05-25"


def test_completed_on_is_the_exam_result_day_when_the_fee_came_first(lapsed: Env, business_date: Any) -> None:
    open_app("ana")
    business_date("2026-05-10")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-10")
    business_date("2026-05-21")
    assert lapsed.exam_result(exam("ana", on="2026-05-19")).body["completed"] is True
    assert [f.completed_on for f in recertified(lapsed)] == [date(2026, 5, 21)]


def test_completed_on_counts_the_fee_from_the_payment_that_made_it_paid_again(
    lapsed: Env, business_date: Any
) -> None:
    open_app("ana")
    business_date("2026-05-10")
    lapsed.pay("ana", "ana.RMA.1", 12500, "2026-05-10", key="pi_refunded")
    business_date("2026-05-12")
    lapsed.fact(
        "ana",
        reverse("re_1", "pi_refunded", date(2026, 5, 12)),
    )
    business_date("2026-05-21")
    assert lapsed.exam_result(exam("ana")).body["completed"] is False  # the fee was refunded
    business_date("2026-05-25")
    pay_like_the_webhook(lapsed, "2026-05-25")
    business_date("2026-06-03")
    assert daily(lapsed, "2026-06-03").recertified == 1
    assert [f.completed_on for f in recertified(lapsed)] == [date(2026, 5, 25)]
