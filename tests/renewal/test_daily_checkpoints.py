"""Certification checkpoints in the member partition: the daily run writes them, the status read is
then one bounded Query of RecordedIndex, and a late fact behind a checkpoint (the four kinds named in
docs/rules.md) gives exactly what evaluating every fact gives - through a full read until the
checkpoint is rebuilt."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from shared.config.settings import get_policy
from shared.rules.models import (
    AuditDecided,
    AuditDrawn,
    CertificationStatus,
    CeVoid,
    Fact,
    FeePayment,
    ReversalWithdrawn,
)
from shared.rules.status import evaluate
from shared.services.checkpoints import CheckpointWriter
from shared.store import dynamo
from shared.store.members import RECENT_PAGE_ITEMS, MemberRepository
from shared.store.records import CertificationRecord
from tests.conftest import TABLE
from tests.helpers import call_api
from tests.renewal.test_daily import daily, member_body, notifier  # noqa: F401 - fixtures
from tests.rules.rules_helpers import ce, pay, reverse

CERTIFIED = date(2015, 3, 10)  # RMA: fees due each March, 3-year cycles from 2015-03-10


class Reads:
    """DynamoDB requests by operation (and index), and the items they returned."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        events = dynamo.default_client().meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:  # the API parameters
        index = params.get("IndexName")
        self.calls[f"{model.name}:{index}" if index else model.name] += 1

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += len(parsed.get("Items", []))

    def take(self) -> tuple[dict[str, int], int]:
        found = (dict(self.calls), self.items)
        self.calls.clear()
        self.items = 0
        return found


def _payment(k: int, paid_on: date) -> FeePayment:
    return pay(f"pi_{k}", paid_on)


def _history(until: date) -> list[Fact]:
    """Fees paid each March and 10 CE points each June (from 2015: 30 per cycle, what RMA needs),
    through ``until``."""
    facts: list[Fact] = []
    for k in range(20):
        paid = date(2015 + k, 3, 1)
        if k and paid <= until:
            facts.append(_payment(k, paid))
        done = date(2015 + k, 6, 1)
        if done <= until:
            facts.append(ce(f"course-{k}", done, 10, activity_id=f"course-{k}", source="xapi"))
    return facts


@pytest.fixture
def ana(renewal_aws: dict[str, Any], business_date: Any) -> MemberRepository:
    business_date("2015-03-10")
    assert call_api("PUT", "/members/ana", member_body(CERTIFIED.isoformat())).status == 201
    return MemberRepository(TABLE)


def _status(day: date, business_date: Any) -> CertificationStatus:
    business_date(day.isoformat())
    response = call_api("GET", "/members/ana/status")
    assert response.status == 200
    return CertificationStatus.model_validate(response.body["certifications"][0])


def _every_fact(repository: MemberRepository, day: date) -> CertificationStatus:
    record = repository.load("ana")
    assert record is not None
    return evaluate(record.certifications["RMA"].as_certification(), record.facts, day, get_policy())


def _checkpoint(repository: MemberRepository, run_date: date) -> None:
    record = repository.load("ana")
    assert record is not None
    assert CheckpointWriter(repository, get_policy()).settle(record, "RMA", run_date)[0]


def test_status_read_is_one_bounded_query_whatever_the_years(
    ana: MemberRepository, business_date: Any
) -> None:
    today = date(2026, 5, 1)
    for fact in _history(today):
        ana.record_fact("ana", fact)
    expected = _every_fact(ana, today)
    reads = Reads()
    # no checkpoint yet: the same single Query reads every fact
    assert _status(today, business_date) == expected
    calls, items_without = reads.take()
    assert calls == {"Query:RecordedIndex": 2}  # pages of 12 and 24 items
    _checkpoint(ana, date(2026, 4, 15))
    reads.take()
    assert _status(today, business_date) == expected
    calls, items_with = reads.take()
    assert calls == {"Query:RecordedIndex": 1}
    # one page: profile, certification, checkpoint, the facts recorded since 2026-04-14 (none), and
    # the rest of the page (older facts, ignored)
    assert items_with == RECENT_PAGE_ITEMS
    assert items_without == 2 + len(_history(today))
    # a fact recorded after the checkpoint is read and counted
    ana.record_fact("ana", _payment(12, date(2026, 4, 20)))
    expected = _every_fact(ana, today)
    reads.take()
    status = _status(today, business_date)
    assert reads.take() == ({"Query:RecordedIndex": 1}, RECENT_PAGE_ITEMS)
    assert status == expected
    assert status.fees.fees_paid == 12


def _audit_failed_long_ago() -> tuple[list[Fact], Fact]:
    drawn = AuditDrawn(
        key="audit-2024",
        recorded_on=date(2024, 5, 1),
        audit_id="audit-2024",
        credential="RMA",
        cycle_start=date(2021, 3, 10),
        cycle_end=date(2024, 3, 9),
        drawn_on=date(2024, 5, 1),
        deadline=date(2024, 6, 30),
        seed="s",
    )
    decided = AuditDecided(
        key="audit-2024",
        recorded_on=date(2026, 4, 20),  # entered now, dated when staff decided it
        audit_id="audit-2024",
        credential="RMA",
        outcome="failed",
        decided_on=date(2024, 6, 15),
    )
    return [drawn], decided


LATE_FACTS: dict[str, tuple[list[Fact], Fact, date, date]] = {
    # a refund of the March 2023 payment, three years later
    "refund of a 3-year-old payment": (
        [],
        reverse("re_1", "pi_8", date(2026, 4, 20)),
        date(2026, 4, 15),
        date(2026, 5, 1),
    ),
    # the cycle ending 2027-03-09 is 10 points short (a course voided) at the checkpoint of
    # 2027-02-01; 10 points completed in January 2027 are recorded in April 2027, inside R5's 90-day
    # window after the cycle
    "late CE record inside R5's window": (
        [CeVoid(key="void-11", recorded_on=date(2026, 7, 1), completion_key="course-11")],
        ce(
            "late-course",
            date(2027, 1, 15),
            10,
            recorded_on=date(2027, 4, 1),
            activity_id="late-course",
            source="xapi",
        ),
        date(2027, 2, 2),
        date(2027, 4, 2),
    ),
    # the 2024 audit (deadline passed before the checkpoint) decided "failed", dated before its deadline
    "audit decision on an old cycle": (*_audit_failed_long_ago(), date(2026, 4, 15), date(2026, 5, 1)),
    # the March 2023 payment disputed in 2023, the dispute won in 2026
    "dispute won years later": (
        [reverse("dp_1", "pi_8", date(2023, 5, 1), reason="dispute")],
        ReversalWithdrawn(
            key="dp_1#won", recorded_on=date(2026, 4, 20), reversal_key="dp_1", withdrawn_on=date(2026, 4, 20)
        ),
        date(2026, 4, 15),
        date(2026, 5, 1),
    ),
}


@pytest.mark.parametrize("example", list(LATE_FACTS))
def test_late_fact_behind_a_checkpoint_gives_what_every_fact_gives(
    ana: MemberRepository, business_date: Any, example: str
) -> None:
    before, late, run_date, read_on = LATE_FACTS[example]
    for fact in [*_history(run_date - timedelta(days=1)), *before]:
        ana.record_fact("ana", fact)
    _checkpoint(ana, run_date)
    record = ana.load("ana")
    assert record is not None
    checkpoint = record.checkpoints["RMA"]
    ana.record_fact("ana", late)
    expected = _every_fact(ana, read_on)
    # the late fact matters: continuing blindly from the checkpoint would give another answer
    cert = record.certifications["RMA"].as_certification()
    assert evaluate(cert, [late], read_on, get_policy(), checkpoint=checkpoint) != expected

    reads = Reads()
    assert _status(read_on, business_date) == expected
    assert reads.take()[0] == {"Query:RecordedIndex": 1, "Query": 1}  # the bounded read, then all facts
    # the daily run's writer rebuilds the checkpoint (or drops it when that day cannot be one: a
    # cycle's late window open); either way the next status read is RecordedIndex only
    rebuilt = ana.load("ana")
    assert rebuilt is not None
    CheckpointWriter(ana, get_policy()).settle(rebuilt, "RMA", read_on)
    later = read_on + timedelta(days=1)
    expected = _every_fact(ana, later)
    reads.take()
    assert _status(later, business_date) == expected
    assert set(reads.take()[0]) == {"Query:RecordedIndex"}


def test_the_daily_run_writes_checkpoints_as_derived_data(
    ana: MemberRepository,
    business_date: Any,
    daily: Any,  # noqa: F811 - the fixture imported above
) -> None:
    run_on = date(2026, 4, 2)
    for fact in _history(run_on - timedelta(days=1)):
        ana.record_fact("ana", fact)
    ana.set_due("ana", CertificationRecord(credential="RMA", certified_on=CERTIFIED, due_on=run_on))
    summary = daily(run_on.isoformat())
    assert summary.evaluated >= 1
    assert summary.checkpoints == 1
    record = ana.load("ana")
    assert record is not None
    checkpoint = record.checkpoints["RMA"]
    assert checkpoint.through < run_on
    # derived: deleting it changes no answer, only the size of the read
    expected = _status(run_on, business_date)
    ana.delete_checkpoint("ana", "RMA")
    assert _status(run_on, business_date) == expected == _every_fact(ana, run_on)
