"""Catch-up runs record every standing change since the last completed run, each with its own date:
a certification that lapses, comes back and lapses again between two runs gets both lapses (the
delinquency undone and redone in a gap: test_daily's re-entering test, caught-up case)."""

# ruff: noqa: F811 - the daily-run fixtures are imported from test_daily and used as arguments

from __future__ import annotations

from datetime import date
from typing import Any

from shared.rules.models import AuditDecided, Recertified, RecertMethod
from shared.store.members import MemberRepository
from shared.store.records import CertificationRecord
from tests.conftest import TABLE
from tests.renewal.test_daily import (  # noqa: F401 - daily and notifier are fixtures
    FakeNotifier,
    daily,
    events,
    member_body,
    notice_keys,
    notifier,
    points,
    upsert,
)


def transitions(member_id: str) -> list[tuple[str, str]]:
    return [(t["on"], t["data"]["status"]) for t in events(member_id, "transition")]


def test_lapse_recertification_and_second_lapse_in_one_gap_are_all_recorded(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    upsert(business_date, "2023-05-20", "ana", member_body("2019-05-14"))
    repository = MemberRepository(TABLE)
    repository.record_fact("ana", points(30, on=date(2020, 1, 10)))  # CCP is fine: fees lapse
    daily("2023-05-20")
    daily("2023-06-01")  # lapsed (fee unpaid)
    # between two runs: recertified on 06-05, then a failed audit lapses it again on 06-10
    recertified = Recertified(
        key="rc-1",
        recorded_on=date(2023, 6, 5),
        credential="RMA",
        completed_on=date(2023, 6, 5),
        method=RecertMethod.EXAM,
        application_id="app-1",
    )
    repository.record_fact("ana", recertified)
    # what the recertification completion does besides its fact: the certification is due next day
    repository.set_due(
        "ana", CertificationRecord(credential="RMA", certified_on=date(2019, 5, 14), due_on=date(2023, 6, 6))
    )
    failed = AuditDecided(
        key="au-1",
        recorded_on=date(2023, 6, 10),
        audit_id="au-1",
        credential="RMA",
        outcome="failed",
        decided_on=date(2023, 6, 10),
    )
    repository.record_fact("ana", failed)
    caught_up = daily("2023-06-12")
    assert caught_up.transitions == 2
    assert transitions("ana") == [
        ("2020-06-01", "delinquent"),
        ("2023-06-01", "lapsed"),
        ("2023-06-05", "active"),
        ("2023-06-10", "lapsed"),
    ]
    assert notice_keys("ana") == ["lapse@2023-06-01", "lapse@2023-06-10"]
    again = daily("2023-06-12")  # a re-run, and the next day, record nothing twice
    nxt = daily("2023-06-13")
    assert (again.transitions, again.notices, nxt.transitions, nxt.notices) == (0, 0, 0, 0)
    assert len(transitions("ana")) == 4
    assert sum("lapsed" in e.subject for e in notifier.emails) == 2
