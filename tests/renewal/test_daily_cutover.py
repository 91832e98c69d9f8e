"""The daily run after members arrive with opening balances: nothing before the cutover is news."""

# ruff: noqa: F811 - the daily-run fixtures are imported from test_daily and used as arguments

from __future__ import annotations

from typing import Any

from tests.renewal.test_daily import (  # noqa: F401 - fixtures
    FakeNotifier,
    daily,
    events,
    notice_keys,
    notifier,
    upsert,
)


def migrated(certified_on: str, balance: dict[str, Any], credential: str = "RMA") -> dict[str, Any]:
    return {
        "first_name": "Mia",
        "last_name": "Grant",
        "email": "mia@example.org",
        "certifications": [
            {"credential": credential, "certified_on": certified_on, "opening_balance": balance}
        ],
    }


def test_first_run_after_the_import_sends_only_what_is_due_from_the_cutover_on(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    # fee due February 2022: its "60 days before" notice was dated 2021-12-03, before the cutover
    balance = {
        "cutover_on": "2021-12-20",
        "paid_through": "2022-02-09",
        "cycle_start": "2019-02-10",
        "standing": "active",
    }
    upsert(business_date, "2021-12-20", "carla", migrated("2004-02-10", balance, "CMAS"))
    first = daily("2021-12-20")
    assert (first.due, first.notices, first.transitions, first.cycles_started) == (1, 0, 0, 0)
    assert notifier.emails == []
    daily("2022-02-01")
    assert notice_keys("carla") == ["renewal_due@2022-02"]
    assert events("carla", "cycle_started") == []  # the cycle of 2019 came with the balance
    daily("2022-02-10")
    [cycle] = events("carla", "cycle_started")
    assert cycle["on"] == "2022-02-10"


def test_imported_delinquent_and_lapsed_standings_record_no_transition_or_lapse_notice(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    delinquent = {  # fee 5 overdue since 2021-06-01
        "cutover_on": "2021-10-01",
        "paid_through": "2021-05-13",
        "cycle_start": "2019-05-14",
        "points": {"professional_education": 30},
        "standing": "delinquent",
    }
    lapsed = {
        "cutover_on": "2021-10-01",
        "paid_through": "2015-02-28",
        "cycle_start": "2020-03-01",
        "standing": "lapsed",
        "lapsed_on": "2021-09-20",
        "lapse_reason": "ccp_lapse",
    }
    upsert(business_date, "2021-10-01", "mia", migrated("2016-05-14", delinquent))
    upsert(
        business_date, "2021-10-01", "noor", {**migrated("2008-03-01", lapsed), "email": "noor@example.org"}
    )
    summary = daily("2021-10-01")
    assert (summary.evaluated, summary.transitions, summary.notices) == (2, 0, 0)
    assert summary.by_status == {"delinquent": 1, "lapsed": 1}
    assert events("mia", "transition") == events("noor", "transition") == []
    assert notifier.emails == []
    # what happens after the cutover is news again: the fee rule lapses mia 3 years after 2021-06-01
    daily("2024-06-01")
    [transition] = events("mia", "transition")
    assert (transition["on"], transition["data"]["status"]) == ("2024-06-01", "lapsed")
    assert notice_keys("mia") == ["lapse@2024-06-01"]
