"""The daily run's reads (docs/data-model.md, "The daily run's reads"): on a normal day - every
certification due was evaluated by an earlier run, so its due entry carries its checkpoint and
recorded transitions - the run reads the due entry, one bounded RecordedIndex Query per member (the
facts recorded since the checkpoint) and the profile only for a notice, at most 1.5 items per
certification due; and it does exactly what a run reading every member whole does."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from shared.config.settings import get_policy
from shared.services.daily import DailyRun, DailySummary
from shared.store.dynamo import default_client, from_item, json_body
from shared.store.members import DAILY_STATE, MemberRepository
from shared.store.records import DailyState
from shared.store.schedule import ScheduleStore
from tests.conftest import TABLE
from tests.renewal.test_daily import FakeNotifier, member_body, upsert
from tests.renewal.test_daily_checkpoints import Reads
from tests.rules.rules_helpers import ce, pay

MEMBERS = 24
LOADED = "2025-01-06"  # the roster day: every certification is due then (the scheduler's first look)
FIRST_RUN = date(2025, 1, 6)
NORMAL_DAY = date(2025, 3, 3)  # 56 days later: within the checkpoints' 90 days


class ItemsRead(Reads):
    """``Reads`` plus the items each kind of request returned (GetItem's one included)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_call: Counter[str] = Counter()
        self._last = ""

    def _before(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        super()._before(model, params, **kwargs)
        index = params.get("IndexName")
        self._last = f"{model.name}:{index}" if index else model.name

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        super()._after(parsed)
        found = len(parsed.get("Items", [])) + ("Item" in parsed)
        self.items += "Item" in parsed
        self.by_call[self._last] += found

    def items_by_call(self) -> dict[str, int]:
        found = dict(self.by_call)
        self.by_call.clear()
        return found


def _load_members(business_date: Any) -> MemberRepository:
    """Members certified every ~2 weeks from 2022-02 (fee anniversaries all over the year); most paid
    their fees, some did not (they turn delinquent), some report CE; a third get mailed notices."""
    repository = MemberRepository(TABLE)
    for n in range(MEMBERS):
        member_id = f"m{n:02d}"
        certified = date(2022, 2, 1) + timedelta(days=15 * n)
        upsert(business_date, LOADED, member_id, member_body(certified.isoformat(), address=n % 3 == 0))
        for year in range(1, 3 if n % 4 else 2):  # every 4th member paid one fee only
            paid = certified.replace(year=certified.year + year) - timedelta(days=20)
            if paid < FIRST_RUN:
                repository.record_fact(member_id, pay(f"pi_{member_id}_{year}", paid))
    # in R5's late window after its first cycle on the first run's day (module docstring of the test)
    upsert(business_date, LOADED, "w00", member_body("2021-12-01", first="Wes"))
    for year in (2022, 2023, 2024):
        repository.record_fact("w00", pay(f"pi_w00_{year}", date(year, 11, 20)))
    repository.record_fact("w00", ce("course-w", date(2024, 11, 1), 30))
    return repository


def _run(day: date, notifier: FakeNotifier) -> DailySummary:
    return DailyRun(MemberRepository(TABLE), get_policy(), notifier).run(day)


def _between_runs(repository: MemberRepository) -> None:
    """What lands between the runs: CE and a fee payment for a few members (facts recorded after
    their checkpoints, which the bounded read has to read)."""
    repository.record_fact("m01", ce("course-a", date(2025, 2, 3), 10))
    repository.record_fact("m05", ce("course-b", date(2025, 2, 10), 5))
    repository.record_fact("m05", ce("course-c", date(2025, 2, 11), 5))
    repository.record_fact("m10", pay("pi_m10_late", date(2025, 2, 14)))


def _table() -> list[dict[str, Any]]:
    return default_client().scan(TableName=TABLE)["Items"]


def _restore(items: list[dict[str, Any]], *, without_state: bool) -> None:
    client = default_client()
    for item in _table():
        client.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    for item in items:
        kept = {k: v for k, v in item.items() if not (without_state and k == DAILY_STATE)}
        client.put_item(TableName=TABLE, Item=kept)


def _outcome(notifier: FakeNotifier) -> tuple[Any, ...]:
    """What a run did: every item but the daily state (which only the bounded reads use), and the
    e-mails and print rows it sent."""
    items = sorted(
        (
            {k: v for k, v in item.items() if k != DAILY_STATE}
            for item in _table()
            if not item["pk"]["S"].startswith("SCHEDULER")
        ),
        key=lambda i: (i["pk"]["S"], i["sk"]["S"]),
    )
    return items, [(e.to, e.subject, e.text) for e in notifier.emails], notifier.batches


def test_a_normal_day_reads_at_most_one_and_a_half_items_per_certification_due(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    repository = _load_members(business_date)
    first = _run(FIRST_RUN, FakeNotifier())  # the first run: every member read whole
    assert first.due == first.read_whole == MEMBERS + 1
    _between_runs(repository)
    before = _table()
    # w00's first cycle ended 2024-11-30: R5's late window is open on the first run's day, so no
    # checkpoint could be folded - its state has none, and the normal day reads every fact of it
    # (through RecordedIndex: still not its profile, rows and events)
    [in_window] = [e.daily for e in repository.due_between(FIRST_RUN, NORMAL_DAY) if e.member_id == "w00"]
    assert in_window is not None
    assert in_window.checkpoint is None

    reads = ItemsRead()
    bounded_notifier = FakeNotifier()
    normal = _run(NORMAL_DAY, bounded_notifier)
    calls, _ = reads.take()
    by_call = reads.items_by_call()
    bounded = _outcome(bounded_notifier)

    assert normal.due >= MEMBERS // 2  # a real day's work: notices, transitions, fees turning overdue
    assert normal.notices
    assert normal.transitions
    assert normal.read_whole == 0  # every member from its due entry and the facts since its checkpoint
    # Each read accounted for: the DueIndex partitions (January through March) and one bounded Query
    # per member; besides them only the run's own bookkeeping (its last run date, the print batch).
    assert calls["Query:DueIndex"] == 3
    assert calls["Query:RecordedIndex"] == normal.members
    assert by_call["Query:DueIndex"] == normal.due
    # at most the four facts recorded since the checkpoints (those of the members due today), and
    # w00's four facts (every fact: no checkpoint)
    assert by_call["Query:RecordedIndex"] <= 4 + 4
    member_items = by_call["Query:DueIndex"] + by_call["Query:RecordedIndex"]
    assert member_items <= 1.5 * normal.due, (by_call, normal.due)
    # Besides them, the run's own bookkeeping, once per run and not per certification: its last run
    # date, the open print batch markers, the mailed notices for the batch, and (the catch-up covers
    # January's audit draw date) the draw's pool.
    assert set(by_call) - {"Query:DueIndex", "Query:RecordedIndex"} <= {
        "GetItem",
        "Query",
        "Query:ListIndex",
    } | {k for k, v in by_call.items() if v == 0}

    # The same day with the state removed from the rows (the run reads every member whole) does
    # exactly the same: same items written, same e-mails, same print batch.
    _restore(before, without_state=True)
    whole_notifier = FakeNotifier()
    reads.take()
    reads.items_by_call()
    whole = _run(NORMAL_DAY, whole_notifier)
    _, items_whole = reads.take()
    assert whole.read_whole == whole.members == normal.members
    assert _outcome(whole_notifier) == bounded
    assert (whole.notices, whole.transitions, whole.by_status) == (
        normal.notices,
        normal.transitions,
        normal.by_status,
    )
    assert items_whole > 3 * normal.due  # what the bounded reads save (each partition read whole)


def test_a_late_fact_behind_the_checkpoint_reads_that_member_whole(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    repository = _load_members(business_date)
    _run(FIRST_RUN, FakeNotifier())
    # a payment recorded now but paid before the checkpoints' day (2025-01-05): a late fact
    repository.record_fact("m00", pay("pi_m00_late", date(2024, 12, 20), recorded_on=date(2025, 2, 20)))
    repository.record_fact("m00", pay("pi_m00_next", date(2025, 2, 20)))
    due = {e.member_id for e in repository.due_between(FIRST_RUN, NORMAL_DAY)}
    assert "m00" in due
    normal = _run(NORMAL_DAY, FakeNotifier())
    assert normal.read_whole == 1  # m00 only
    record = repository.load("m00")
    assert record is not None
    # the invalidated checkpoint is rebuilt or removed, and the due entry's state with it
    checkpoint = record.checkpoints.get("RMA")
    assert checkpoint is None or checkpoint.through == NORMAL_DAY - timedelta(days=1)
    [entry] = [e for e in repository.due_between(NORMAL_DAY, date(2026, 12, 31)) if e.member_id == "m00"]
    assert (entry.daily.checkpoint if entry.daily else None) == checkpoint


def test_a_row_moved_meanwhile_keeps_its_date_and_still_gets_the_runs_state(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    """A payment moved the row's next action date after the run read it: the run's conditional put
    leaves the date alone and writes only its state (so the next run does not see a state older than
    the transitions this one recorded); a row whose roster date changed meanwhile gets no state."""
    upsert(business_date, LOADED, "r00", member_body("2022-02-01"))
    repository, store = MemberRepository(TABLE), ScheduleStore(TABLE)
    loaded = repository.load("r00")
    assert loaded is not None
    row = loaded.certifications["RMA"]
    state = DailyState(profile=loaded.profile, checkpoint=None, audit_deadlines=(date(2025, 9, 1),))
    moved = row.model_copy(update={"due_on": date(2025, 4, 1)})
    assert store.set_next_due("r00", moved, read_from=date(2024, 12, 1), daily=state) is False

    def stored() -> tuple[Any, Any]:
        item = default_client().get_item(
            TableName=TABLE, Key={"pk": {"S": "MEMBER#r00"}, "sk": {"S": "CERT#RMA"}}
        )
        found = from_item(item["Item"])
        return found["body"]["due_on"], found.get(DAILY_STATE)

    assert stored() == (LOADED, json_body(state))
    renamed = row.model_copy(update={"certified_on": date(2020, 1, 1)})
    later = state.model_copy(update={"audit_deadlines": ()})
    assert store.set_next_due("r00", renamed, read_from=date(2024, 12, 1), daily=later) is False
    assert stored() == (LOADED, json_body(state))
