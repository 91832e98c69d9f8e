"""Bulk roster import (S3 roster-imports/{name}.csv) through the upload handler under moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.files import FilesBucket
from shared.config.settings import get_policy
from shared.rules.models import CeCompletion
from shared.services import roster_import
from shared.services.members import MemberService
from shared.services.roster_file import parse_roster
from shared.store.members import MemberRepository
from tests.ce_ingest.conftest import BUCKET, catalog, cmi5_sequence, member, post
from tests.ce_ingest.test_uploads import s3_event, upload
from tests.conftest import TABLE, reset_caches
from tests.helpers import call_api, invoke
from tests.renewal import stripe_payloads as sp
from tests.renewal.conftest import SIGNING_SECRET

TODAY = date(2024, 3, 20)
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "roster-import.csv"
HEADER = (
    "member_id,first_name,last_name,email,credential,certified_on,cutover_on,paid_through,cycle_start,"
    "points,standing,lapsed_on,lapse_reason\n"
)


def row(member_id: str, credential: str, certified_on: str, balance: str, email: str | None = None) -> str:
    return f"{member_id},Ana,Quintero,{email or member_id + '@example.org'},{credential},{certified_on},{balance}\n"


# cutover 2024-03-20 (the business date of the tests)
ROWS = (
    HEADER
    # 2 pre-2006, fees paid through 2025-02-09: active
    + row("pre", "CMAS", "2004-02-10", "2024-03-20,2025-02-09,2022-02-10,,active,,")
    # 3 post-2006 inside the late window of the cycle ended 2024-01-09, short: delinquent
    + row(
        "late", "RMA", "2018-01-10", "2024-03-20,2025-01-09,2021-01-10,professional_education=20,delinquent,,"
    )
    # 4 post-2006, the ended cycle settled: the current one with 6 points
    + row("post", "RMA", "2018-01-10", "2024-03-20,2025-01-09,2024-01-10,authorship=6,active,,")
    # 5 lapsed 2017 (inside 10 years): CCP and exam
    + row(
        "lap-in", "RMA", "2010-03-01", "2024-03-20,2013-02-28,2022-03-01,,lapsed,2017-04-01,fee_unpaid_lapse"
    )
    # 6 lapsed 2012 (outside 10 years): exam only
    + row(
        "lap-out", "RMA", "2006-03-01", "2024-03-20,2009-02-28,2024-03-01,,lapsed,2012-04-01,fee_unpaid_lapse"
    )
    # 7, 8 two credentials of one member
    + row("two", "RMA", "2018-01-10", "2024-03-20,2025-01-09,2024-01-10,,active,,")
    + row("two", "MT", "2020-06-01", "2024-03-20,2024-05-31,2023-06-01,professional_education=45,active,,")
    # 9.. bad rows
    + row("bad-1", "XYZ", "2018-01-10", "2024-03-20,2025-01-09,2024-01-10,,active,,")
    + row("bad-2", "RMA", "2018-01-10", "2024-03-20,2017-01-09,2024-01-10,,active,,")
    + row("bad-3", "RMA", "2018-01-10", "2024-03-20,2025-01-09,2024-01-10,knitting=3,active,,")
    + row("bad-4", "RMA", "2018-01-10", "2024-03-21,2025-01-09,2024-01-10,,active,,")
    + row("two", "MLS", "2020-06-01", "2024-03-20,2024-05-31,2023-06-01,,active,,")
    + row("m-1", "RMA", "2022-01-10", "2024-03-20,2025-01-09,2022-01-10,,active,,")
    + row("bad-5", "RMA", "2018-01-10", "2024-03-20,2025-01-09,2024-01-10,,active,,", email="=HYPERLINK(1)")
    + row(
        "bad-6",
        "RMA",
        "2018-01-10",
        "2024-03-20,2025-01-09,2024-01-10,,active,,",
        email="x@example.org,extra",
    )
)
REFUSED = {
    9: "unknown credential 'XYZ'",
    10: "paid_through is before certified_on",
    11: "points.knitting",
    12: "cutover_on is after today",
    13: "duplicate row: MLS of two (line 8)",
    14: "member already has facts or events in this system",
    15: "email: a formula cell",
    16: "expected 13 fields, found 14",
}


@pytest.fixture
def members(ce: dict[str, Any], business_date: Any) -> dict[str, Any]:
    business_date("2024-03-20")
    member("m-1", "2022-01-10")
    MemberRepository(TABLE).record_fact(
        "m-1",
        CeCompletion(key="c1", recorded_on="2024-03-01", activity_id="a", completed_on="2024-03-01"),  # type: ignore[arg-type]
    )
    return ce


def report(ce: dict[str, Any], key: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ce["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return loaded


def status(member_id: str) -> dict[str, dict[str, Any]]:
    body = call_api("GET", f"/members/{member_id}/status").body
    return {c["credential"]: c for c in body["certifications"]}


def table_items(ce: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        ce["dynamodb"].scan(TableName=ce["table"])["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"])
    )


def test_import_reports_each_row_and_members_arrive_in_their_standing(members: dict[str, Any]) -> None:
    upload(members, "roster-imports/2024-03.csv", ROWS.encode())
    result = report(members, "roster-imports-results/2024-03.json")
    assert (result["rows"], result["accepted"], result["unchanged"]) == (15, 7, 0)
    assert {r["line"] for r in result["refused"]} == set(REFUSED)
    for refused in result["refused"]:
        assert REFUSED[refused["line"]] in refused["reason"], refused
    assert {(r["line"], r["standing"]) for r in result["results"]} == {
        (2, "active"),
        (3, "delinquent"),
        (4, "active"),
        (5, "lapsed"),
        (6, "lapsed"),
        (7, "active"),
        (8, "active"),
    }
    assert status("pre")["CMAS"]["status"] == "active"
    assert (status("late")["RMA"]["status"], status("late")["RMA"]["reasons"]) == (
        "delinquent",
        ["ccp_incomplete"],
    )
    assert status("post")["RMA"]["ccp"]["earned"] == 6
    assert status("lap-in")["RMA"]["recertification"]["allowed_methods"] == ["ccp", "exam"]
    assert status("lap-out")["RMA"]["recertification"]["allowed_methods"] == ["exam"]
    assert {c: s["status"] for c, s in status("two").items()} == {"MLS": "active", "RMA": "active"}
    for ghost in ("bad-1", "bad-2", "bad-3", "bad-4", "bad-5", "bad-6"):
        assert call_api("GET", f"/members/{ghost}/status").status == 404
    assert [e["kind"] for e in call_api("GET", "/members/m-1/timeline").body["entries"]].count(
        "opening_balance"
    ) == 0


def test_reupload_and_redelivery_change_nothing(members: dict[str, Any]) -> None:
    upload(members, "roster-imports/2024-03.csv", ROWS.encode())
    items = table_items(members)
    upload(members, "roster-imports/2024-03.csv", ROWS.encode())
    invoke("CeUploadFunction", s3_event("roster-imports/2024-03.csv"))
    again = report(members, "roster-imports-results/2024-03.json")
    assert (again["accepted"], again["unchanged"], len(again["refused"])) == (0, 7, 8)
    assert table_items(members) == items


def test_dry_run_writes_only_the_report_with_standings_and_the_next_run(members: dict[str, Any]) -> None:
    # line 17: the cycle ends 2024-04-19 and 10 of 30 points are in: the 30-day CCP notice is due today
    rows = ROWS + row("soon", "RMA", "2018-04-20", "2024-03-20,2024-04-19,2021-04-20,authorship=10,active,,")
    items = table_items(members)
    upload(members, "roster-imports/dry-run/2024-03.csv", rows.encode())
    assert table_items(members) == items
    dry = report(members, "roster-imports-results/dry-run/2024-03.json")
    assert (dry["dry_run"], dry["accepted"], len(dry["refused"])) == (True, 8, 8)
    by_line = {r["line"]: r for r in dry["results"]}
    assert by_line[17]["next_daily_run"] == {
        "standing": "active",
        "notices": ["ccp_progress@2024-04-19-30d"],
        "transition": None,
    }
    # delinquent and lapsed before the cutover: no transition, no notice
    assert by_line[3]["next_daily_run"] == {"standing": "delinquent", "notices": [], "transition": None}
    assert by_line[5]["next_daily_run"] == {"standing": "lapsed", "notices": [], "transition": None}
    # then the real run gives the same answers
    upload(members, "roster-imports/2024-03.csv", rows.encode())
    real = report(members, "roster-imports-results/2024-03.json")
    assert [(r["line"], r["standing"]) for r in real["results"]] == [
        (r["line"], r["standing"]) for r in dry["results"]
    ]


def test_the_example_file_of_the_readme_imports(members: dict[str, Any], business_date: Any) -> None:
    business_date("2021-10-01")
    upload(members, "roster-imports/example.csv", EXAMPLE.read_bytes())
    result = report(members, "roster-imports-results/example.json")
    assert (result["accepted"], [r["line"] for r in result["refused"]]) == (3, [5])
    assert "they give delinquent (fee_overdue)" in result["refused"][0]["reason"]
    assert status("carla")["CMAS"]["status"] == "active"


def test_a_run_cut_short_continues_after_its_last_chunk(
    members: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster_import, "CHUNK_MEMBERS", 2)
    members["s3"].put_object(Bucket=BUCKET, Key="roster-imports/cut.csv", Body=ROWS.encode())
    service = roster_import.RosterImport(
        MemberService(MemberRepository(TABLE), get_policy()), FilesBucket(BUCKET)
    )
    calls = iter([False, False, True])
    first = service.run("roster-imports/cut.csv", TODAY, deadline=lambda: next(calls, True))
    assert "stopped before chunk 3" in first["incomplete"]
    done_first = first["accepted"]
    assert 0 < done_first < 7
    second = service.run("roster-imports/cut.csv", TODAY)
    assert "incomplete" not in second
    assert (second["accepted"], second["unchanged"]) == (7, 0)  # the first run's rows are reported once
    third = service.run("roster-imports/cut.csv", TODAY)
    assert (third["accepted"], third["unchanged"]) == (0, 7)  # progress forgotten once done


WAITS_ROWS = HEADER + row(
    "waits", "RMA", "2018-01-10", "2024-03-01,2025-01-09,2024-01-10,authorship=6,active,,"
)


def bring_in_by_import(ce: dict[str, Any]) -> str:
    upload(ce, "roster-imports/waits.csv", WAITS_ROWS.encode())
    result = report(ce, "roster-imports-results/waits.json")
    return "accepted" if result["accepted"] == 1 else "unchanged" if result["unchanged"] == 1 else "refused"


def bring_in_by_put(_ce: dict[str, Any]) -> str:
    """The same row as the import's, sent as the body of PUT /members/{id}."""
    [parsed], _, _ = parse_roster(WAITS_ROWS.encode(), get_policy().canonical_code)
    body = parsed.upsert.model_dump(mode="json", exclude_none=True)
    response = call_api("PUT", "/members/waits", body)
    return {201: "accepted", 200: "unchanged"}.get(response.status, "refused")


@pytest.mark.parametrize("bring_in", [bring_in_by_import, bring_in_by_put], ids=["import", "put"])
def test_what_waited_for_an_imported_member_is_credited_once(
    members: dict[str, Any], monkeypatch: pytest.MonkeyPatch, bring_in: Callable[[dict[str, Any]], str]
) -> None:
    """The import and PUT /members with an opening balance credit what waited for the member they
    bring in: a parked payment and the LMS statements for its account, once; doing it again (a
    re-upload, the same PUT) changes nothing."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "StripeWebhookSecretImport")
    members["secrets"].create_secret(
        Name="StripeWebhookSecretImport", SecretString=json.dumps({"current": SIGNING_SECRET, "previous": ""})
    )
    reset_caches()  # the settings read the secret's name
    paid = sp.event(  # 2024-03-15, after the cutover (2024-03-01)
        "payment_intent.succeeded",
        sp.payment_intent("pi_waits", meta=sp.metadata("waits"), created=1_710_504_000),
    )
    assert post_payment(paid) == {"result": "parked"}
    catalog()
    assert all(post(s).status == 200 for s in cmi5_sequence("waits", day="2024-03-10"))
    assert call_api("GET", "/admin/unmatched-statements").body["items"]
    assert len(call_api("GET", "/admin/parked-payments").body["items"]) == 1

    assert bring_in(members) == "accepted"

    assert call_api("GET", "/admin/parked-payments").body["items"] == []
    assert call_api("GET", "/admin/unmatched-statements").body["items"] == []
    rma = status("waits")["RMA"]
    assert rma["fees"]["paid_through"] == "2026-01-09"  # the opening balance's year plus the payment
    assert rma["ccp"]["earned"] == 9  # the balance's 6 points plus the course's 3
    facts = [i["sk"]["S"] for i in table_items(members) if i["pk"]["S"] == "MEMBER#waits"]
    assert sum(sk.startswith("FACT#payment#") for sk in facts) == 1
    # one fact per crediting statement (completed, passed, satisfied); the course counts once (9 above)
    assert sum(sk.startswith("FACT#ce#") for sk in facts) == 3

    before = table_items(members)
    assert bring_in(members) == "unchanged"
    assert table_items(members) == before
    assert post_payment(paid) == {"result": "duplicate"}


def post_payment(payload: dict[str, Any]) -> Any:
    body, headers = sp.signed(payload)
    return call_api("POST", "/webhooks/stripe", headers=headers, raw_body=body).body
