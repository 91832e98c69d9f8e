"""The daily run under moto: notices and transitions exactly once across double runs, crash-and-rerun
and missed days; print batch rows; the audit draw."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.adapters.notifier import Email
from shared.config.settings import get_policy
from shared.rules import audit
from shared.rules.models import CeCompletion
from shared.services.daily import DailyRun, DailyRunIncomplete, DailySummary
from shared.store.dynamo import default_client
from shared.store.members import MemberRepository
from tests.conftest import TABLE
from tests.helpers import call_api, invoke
from tests.renewal.conftest import BUCKET

ADDRESS = {"line1": '=HYPERLINK("x")', "city": "Springfield", "region": "IL", "postal_code": "62701"}


def member_body(certified_on: str, *, address: bool = True, first: str = "Ana") -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": first,
        "last_name": "Diaz",
        "email": f"{first.lower()}@example.org",
        "certifications": [{"credential": "RMA", "certified_on": certified_on}],
    }
    if address:
        body["postal_address"] = ADDRESS
    return body


@dataclass
class FakeNotifier:
    emails: list[Email] = field(default_factory=list)
    batches: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    written: list[date] = field(default_factory=list)
    fail_batch_on: set[date] = field(default_factory=set)
    ses_errors: list[str] = field(default_factory=list)  # SES error codes the next sends raise

    def send_email(self, email: Email) -> str:
        if self.ses_errors:
            code = self.ses_errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "SendEmail")
        self.emails.append(email)
        return f"msg-{len(self.emails)}"

    def write_print_batch(self, day: date, rows: Any) -> str:
        if day in self.fail_batch_on:
            self.fail_batch_on.discard(day)
            raise ConnectionError("injected S3 outage")
        self.written.append(day)
        self.batches[day] = list(rows)
        return f"print-batches/{day}.csv"


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def daily(renewal_aws: dict[str, Any], notifier: FakeNotifier) -> Any:
    def run(day: str) -> DailySummary:
        return DailyRun(MemberRepository(TABLE), get_policy(), notifier).run(date.fromisoformat(day))

    return run


def points(amount: int, on: date, key: str = "ce-1") -> CeCompletion:
    return CeCompletion(
        key=key,
        recorded_on=on,
        activity_id=key,
        completed_on=on,
        points=Decimal(amount),
        category="professional_education",
    )


def upsert(business_date: Any, day: str, member_id: str, body: dict[str, Any]) -> None:
    business_date(day)
    assert call_api("PUT", f"/members/{member_id}", body).status in (200, 201)


def events(member_id: str, kind: str) -> list[dict[str, Any]]:
    entries = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
    return [e for e in entries if e["kind"] == kind]


def notice_keys(member_id: str) -> list[str]:
    return sorted(f"{e['data']['notice']}@{e['data']['period']}" for e in events(member_id, "notice"))


def stripe(payload: dict[str, Any]) -> str:
    """Deliver a signed Stripe event to the webhook; its ``result``."""
    import json

    from tests.renewal import stripe_payloads as sp

    body, headers = sp.signed(json.dumps(payload).encode())
    return str(call_api("POST", "/webhooks/stripe", headers=headers, raw_body=body).body["result"])


def test_renewal_notices_on_schedule_exactly_once_with_print_batch(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    upsert(business_date, "2025-02-01", "ana", member_body("2024-05-14"))
    upsert(business_date, "2025-02-01", "ben", member_body("2024-05-20", address=False, first="Ben"))
    first = daily("2025-02-01")
    assert (first.due, first.notices) == (2, 0)

    notice_day = daily("2025-03-02")  # 60 days before 2025-05-01
    assert (notice_day.notices, notice_day.mailed, notice_day.email_only) == (2, 1, 1)
    assert [e.to for e in notifier.emails] == ["ana@example.org", "ben@example.org"]
    assert "$50.00" in notifier.emails[0].text
    # the invoice it is about, its amount and where to pay (GET /members/{id}/invoices has the same number)
    assert "Invoice ana-RMA-2025: $50.00. Pay online at https://portal.example.org/invoices." in (
        notifier.emails[0].text
    )
    [row] = notifier.batches[date(2025, 3, 2)]
    assert (
        row["member_id"],
        row["notice"],
        row["period"],
        row["amount_due"],
        row["invoice"],
        row["pay_at"],
    ) == (
        "ana",
        "renewal_before",
        "2025-05",
        "$50.00",
        "ana-RMA-2025",
        "https://portal.example.org/invoices",
    )
    listed = [i["number"] for i in call_api("GET", "/members/ana/invoices").body["invoices"]]
    assert "ana-RMA-2025" not in listed  # not due yet on 2025-03-02
    business_date("2025-05-01")
    assert "ana-RMA-2025" in [i["number"] for i in call_api("GET", "/members/ana/invoices").body["invoices"]]

    again = daily("2025-03-02")  # the same day twice: nothing new, the batch is rebuilt identically
    assert (again.notices, again.transitions) == (0, 0)
    assert len(notifier.emails) == 2
    assert notifier.batches[date(2025, 3, 2)] == [row]

    daily("2025-05-01")
    daily("2025-06-01")
    daily("2025-06-30")
    assert notice_keys("ana") == ["renewal_before@2025-05", "renewal_due@2025-05", "renewal_late@2025-05"]
    [transition] = events("ana", "transition")
    assert (transition["on"], transition["data"]["status"]) == ("2025-06-01", "delinquent")
    assert len(notifier.emails) == 6


def test_a_three_day_gap_is_caught_up(daily: Any, notifier: FakeNotifier, business_date: Any) -> None:
    upsert(business_date, "2025-02-27", "ana", member_body("2024-05-14"))
    daily("2025-02-27")
    caught_up = daily("2025-03-04")  # 02-28, 03-01, 03-02 (the notice day) and 03-03 missed
    assert caught_up.days_read == 6  # the last run day (inclusive) through the run date
    assert caught_up.notices == 1
    assert notice_keys("ana") == ["renewal_before@2025-05"]
    [notice] = events("ana", "notice")
    assert notice["on"] == "2025-03-04"
    assert daily("2025-03-05").notices == 0


def test_a_multi_year_gap_is_caught_up_with_one_query_per_month(daily: Any, business_date: Any) -> None:
    """Nothing due in a long outage is skipped: the delinquency and the lapse are both recorded."""
    upsert(business_date, "2020-05-20", "ana", member_body("2019-05-14"))
    MemberRepository(TABLE).record_fact("ana", points(30, on=date(2020, 1, 10)))
    daily("2020-05-20")
    queries: list[str] = []
    client = default_client()  # the client the daily run uses
    client.meta.events.register(
        "before-parameter-build.dynamodb.Query",  # sees the API parameters of each Query
        lambda params, **_: queries.append(params.get("IndexName", "table")),
    )
    caught_up = daily("2023-06-02")  # three years without a run
    due_index_queries = queries.count("DueIndex")
    assert 1 <= due_index_queries <= 38  # one per calendar month 2020-05 .. 2023-06, not one per day
    assert caught_up.due >= 1
    transitions = [(t["data"]["status"], t["on"]) for t in events("ana", "transition")]
    assert ("lapsed", "2023-06-01") in transitions


class Fault:
    """A botocore ``before-send`` hook that fails one DynamoDB request matching ``needle``, once."""

    def __init__(self, operation: str, needle: str) -> None:
        self.operation, self.needle, self.fired = operation, needle, False

    def __call__(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if not self.fired and target.endswith(self.operation) and self.needle in body:
            self.fired = True
            raise ConnectionError(f"injected fault on {self.operation}")


@pytest.fixture
def inject() -> Iterator[Any]:
    registered: list[Fault] = []

    def add(operation: str, needle: str) -> Fault:
        fault = Fault(operation, needle)
        default_client().meta.events.register("before-send.dynamodb", fault)
        registered.append(fault)
        return fault

    yield add
    for fault in registered:
        default_client().meta.events.unregister("before-send.dynamodb", fault)


@pytest.mark.parametrize(
    ("operation", "needle", "sent_before_rerun"),
    [
        ("Query", "MEMBER#ben", ["ana"]),  # between two members: loading the second one fails
        # after ana's notice was recorded, before her next date was stored: ben still gets his
        ("PutItem", "CERT#RMA", ["ana", "ben"]),
    ],
    ids=["between-members", "after-notice-before-next-date"],
)
def test_crash_and_rerun_sends_each_notice_once(
    daily: Any,
    notifier: FakeNotifier,
    business_date: Any,
    inject: Any,
    operation: str,
    needle: str,
    sent_before_rerun: list[str],
) -> None:
    upsert(business_date, "2025-03-02", "ana", member_body("2024-05-14"))
    upsert(business_date, "2025-03-02", "ben", member_body("2024-05-20", first="Ben"))
    fault = inject(operation, needle)
    with pytest.raises(DailyRunIncomplete):  # the failed member does not stop the others
        daily("2025-03-02")
    assert fault.fired
    assert [e.to for e in notifier.emails] == [f"{m}@example.org" for m in sent_before_rerun]

    rerun = daily("2025-03-02")
    assert [e.to for e in notifier.emails] == ["ana@example.org", "ben@example.org"]
    assert rerun.notices == 2 - len(sent_before_rerun)
    assert notice_keys("ana") == notice_keys("ben") == ["renewal_before@2025-05"]
    assert [r["member_id"] for r in notifier.batches[date(2025, 3, 2)]] == ["ana", "ben"]
    assert daily("2025-03-02").notices == 0


def test_lapse_is_recorded_once_with_its_date_and_notice(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    upsert(business_date, "2023-05-20", "ana", member_body("2019-05-14"))
    MemberRepository(TABLE).record_fact("ana", points(30, on=date(2020, 1, 10)))  # CCP is fine: fees lapse
    daily("2023-05-20")
    [delinquent] = events("ana", "transition")
    assert (delinquent["on"], delinquent["data"]["status"]) == ("2020-06-01", "delinquent")
    lapse_day = daily("2023-06-01")
    assert lapse_day.transitions == 1
    daily("2023-06-01")
    daily("2023-06-02")
    transitions = events("ana", "transition")
    assert [(t["on"], t["data"]["status"]) for t in transitions] == [
        ("2020-06-01", "delinquent"),
        ("2023-06-01", "lapsed"),
    ]
    assert transitions[1]["data"]["reasons"] == ["fee_unpaid_lapse"]
    assert notice_keys("ana") == ["lapse@2023-06-01"]
    assert sum("lapsed" in e.subject for e in notifier.emails) == 1


def test_ccp_progress_notice_states_points(daily: Any, notifier: FakeNotifier, business_date: Any) -> None:
    upsert(business_date, "2024-09-01", "ana", member_body("2022-03-01"))
    MemberRepository(TABLE).record_fact("ana", points(12, on=date(2024, 8, 1)))
    summary = daily("2024-09-01")  # 180 days before the cycle's last day, 2025-02-28
    assert summary.notices >= 1
    [progress] = [e for e in events("ana", "notice") if e["data"]["notice"] == "ccp_progress"]
    assert progress["data"]["period"] == "2025-02-28-180d"
    email = next(e for e in notifier.emails if "CCP" in e.subject)
    assert "Points earned: 12 of 30 required; 18 remaining." in email.text
    assert "professional_education: 12" in email.text


def test_audit_draw_is_reproducible_and_a_missed_deadline_lapses(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    repo = MemberRepository(TABLE)
    members = [f"m{n:02d}" for n in range(20)]
    for n, member_id in enumerate(members):
        upsert(
            business_date,
            "2026-01-02",
            member_id,
            member_body(f"2022-{4 + n % 9:02d}-1{n % 9}", first=f"M{n}"),
        )
        repo.record_fact(member_id, points(30, on=date(2024, 10, 1)))
    rollover = daily("2026-01-02")
    assert rollover.audit_pool == 20  # every cycle ended in 2025

    draw_day = daily("2026-01-15")
    assert draw_day.audits_drawn == 2  # 10 % of 20
    drawn = {m: events(m, "audit_drawn") for m in members}
    chosen = sorted(m for m, found in drawn.items() if found)
    expected = audit.draw([f"{m}#RMA" for m in members], Decimal("0.10"), audit.audit_seed(2026))
    assert [f"{m}#RMA" for m in chosen] == expected
    fact = drawn[chosen[0]][0]["data"]
    assert (fact["seed"], fact["deadline"]) == ("ccp-audit-2026", "2026-03-16")
    assert sum("audit" in e.subject for e in notifier.emails) == 2

    assert daily("2026-01-15").audits_drawn == 0
    daily("2026-03-17")
    for member_id in chosen:
        lapsed = [t for t in events(member_id, "transition") if t["data"]["status"] == "lapsed"]
        assert [(t["on"], t["data"]["reasons"]) for t in lapsed] == [
            ("2026-03-17", ["audit_deadline_missed"])
        ]
    assert not any(
        t["data"]["status"] == "lapsed" for m in members if m not in chosen for t in events(m, "transition")
    )


def test_handler_sends_through_ses_and_writes_the_csv(
    renewal_aws: dict[str, Any], business_date: Any
) -> None:
    upsert(business_date, "2025-03-02", "ana", member_body("2024-05-14"))
    upsert(business_date, "2025-03-02", "ben", member_body("2024-05-20", address=False, first="Ben"))
    result = invoke("DailyFunction", {"date": "2025-03-02"})
    assert (result["notices"], result["mailed"], result["email_only"]) == (2, 1, 1)
    body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key=result["print_batch"])
    rows = list(csv.DictReader(io.StringIO(body["Body"].read().decode())))
    assert [(r["member_id"], r["notice"], r["address_line1"]) for r in rows] == [
        ("ana", "renewal_before", '\'=HYPERLINK("x")')  # formula-injection safe
    ]
    quota = boto3.client("ses", region_name="us-east-1").get_send_quota()
    assert quota["SentLast24Hours"] == 2


def test_a_completed_run_emits_its_heartbeat_and_business_metrics(
    renewal_aws: dict[str, Any], business_date: Any, emitted_metrics: Any
) -> None:
    upsert(business_date, "2025-03-02", "ana", member_body("2024-05-14"))
    upsert(business_date, "2025-03-02", "ben", member_body("2024-05-20", address=False, first="Ben"))
    upsert(business_date, "2025-03-02", "cy", member_body("2023-02-10", first="Cy"))  # Feb fee unpaid
    emitted_metrics()
    result = invoke("DailyFunction", {"date": "2025-03-02"})
    emitted = emitted_metrics()
    assert emitted[("DailyRunCompleted", ())] == 1
    assert emitted[("CertificationsEvaluated", ())] == 3
    assert emitted[("NoticesSent", (("channel", "email"),))] == result["notices"]
    assert emitted[("NoticesSent", (("channel", "mail"),))] == result["mailed"]
    assert emitted[("Transitions", (("standing", "delinquent"),))] == result["transitions"] == 1
    assert ("DailyRunDuration", ()) in emitted


def test_an_incomplete_run_emits_no_heartbeat(
    renewal_aws: dict[str, Any], business_date: Any, inject: Any, emitted_metrics: Any
) -> None:
    upsert(business_date, "2025-03-01", "ana", member_body("2024-05-14"))
    emitted_metrics()
    inject("Query", "MEMBER#ana")
    with pytest.raises(DailyRunIncomplete):
        invoke("DailyFunction", {"date": "2025-03-01"})
    assert ("DailyRunCompleted", ()) not in emitted_metrics()
    invoke("DailyFunction", {"date": "2025-03-02"})  # the next run completes: the heartbeat is back
    assert emitted_metrics()[("DailyRunCompleted", ())] == 1


# ---------------------------------------------------------------- audit findings (review)


def test_first_run_reads_certifications_the_roster_loaded_earlier(
    daily: Any, notifier: FakeNotifier, business_date: Any, renewal_aws: dict[str, Any]
) -> None:
    upsert(business_date, "2025-02-01", "ana", member_body("2024-05-14"))  # due 2025-02-01
    first = daily("2025-03-03")  # the first run ever, a month later
    assert (first.due, first.evaluated) == (1, 1)
    assert notice_keys("ana") == ["renewal_before@2025-05"]
    cert = renewal_aws["dynamodb"].get_item(
        TableName=TABLE, Key={"pk": {"S": "MEMBER#ana"}, "sk": {"S": "CERT#RMA"}}
    )["Item"]
    assert cert["due_sk"]["S"] > "2025-03-03"  # moved on: no longer orphaned in the past


def test_one_failing_member_does_not_stop_the_run_and_is_retried(
    daily: Any, notifier: FakeNotifier, business_date: Any, inject: Any, renewal_aws: dict[str, Any]
) -> None:
    for name in ("ana", "ben", "cat"):
        upsert(business_date, "2025-03-01", name, member_body("2024-05-14", first=name.title()))
    daily("2025-03-01")
    inject("Query", "MEMBER#ben")  # loading ben fails once
    with pytest.raises(DailyRunIncomplete, match="1 member"):
        daily("2025-03-02")
    assert [e.to for e in notifier.emails] == ["ana@example.org", "cat@example.org"]
    assert [r["member_id"] for r in notifier.batches[date(2025, 3, 2)]] == ["ana", "cat"]
    last = renewal_aws["dynamodb"].get_item(
        TableName=TABLE, Key={"pk": {"S": "SCHEDULER"}, "sk": {"S": "LAST_RUN"}}
    )["Item"]
    assert last["run_date"]["S"] == "2025-03-01"  # not advanced: the failed member is read again

    nxt = daily("2025-03-03")
    assert nxt.failed == 0
    assert [e.to for e in notifier.emails][-1] == "ben@example.org"
    assert notice_keys("ben") == ["renewal_before@2025-05"]
    assert len(notifier.emails) == 3


def test_an_ses_outage_fails_the_member_and_the_next_run_sends_the_email_once(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    """E-mails are at least once: SES throttling leaves the notice recorded but unsent; the run
    reports it incomplete and the next run sends it - once, with the notice still recorded once."""
    upsert(business_date, "2025-03-01", "ana", member_body("2024-05-14"))
    daily("2025-03-01")
    notifier.ses_errors.append("Throttling")
    with pytest.raises(DailyRunIncomplete, match="1 member"):
        daily("2025-03-02")
    assert notifier.emails == []
    assert notice_keys("ana") == ["renewal_before@2025-05"]

    retried = daily("2025-03-03")
    assert (retried.failed, retried.emails_retried, retried.emails) == (0, 1, 1)
    assert [e.to for e in notifier.emails] == ["ana@example.org"]
    assert notice_keys("ana") == ["renewal_before@2025-05"]
    again = daily("2025-03-03")  # a re-run of the day sends nothing more
    assert (again.emails, len(notifier.emails)) == (0, 1)


def test_an_email_ses_refuses_for_good_is_not_retried_and_the_run_completes(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    upsert(business_date, "2025-03-01", "ana", member_body("2024-05-14"))
    daily("2025-03-01")
    notifier.ses_errors.append("MessageRejected")
    refused = daily("2025-03-02")
    assert (refused.failed, refused.email_failed, refused.emails) == (0, 1, 0)
    assert daily("2025-03-03").emails == 0
    assert notifier.emails == []


def test_mailed_notices_of_a_crashed_day_reach_the_next_days_batch(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    upsert(business_date, "2025-03-01", "ana", member_body("2024-05-14"))
    daily("2025-03-01")
    notifier.fail_batch_on.add(date(2025, 3, 2))
    with pytest.raises(ConnectionError):
        daily("2025-03-02")  # ana's notice recorded and e-mailed, the CSV never written
    assert date(2025, 3, 2) not in notifier.batches
    nxt = daily("2025-03-03")
    assert [r["member_id"] for r in notifier.batches[date(2025, 3, 2)]] == ["ana"]
    assert notifier.batches[date(2025, 3, 3)] == []
    assert nxt.mailed == 1
    written = list(notifier.written)
    daily("2025-03-04")  # 03-03 is read again (inclusive) but its batch was written: not rewritten
    assert notifier.written == [*written, date(2025, 3, 4)]


@pytest.mark.parametrize("runs_between", [True, False], ids=["daily", "caught-up-in-one-run"])
def test_reentering_delinquent_after_reactivation_is_recorded(
    daily: Any, notifier: FakeNotifier, business_date: Any, runs_between: bool
) -> None:
    """Delinquent, paid (active), disputed (delinquent again): recorded the same way whether the run
    happens each day or one run catches up over all three."""
    from tests.renewal import stripe_payloads as sp

    upsert(business_date, "2025-06-01", "ana", member_body("2024-05-14"))
    daily("2025-06-01")
    business_date("2025-06-05")
    assert (
        stripe(sp.event("payment_intent.succeeded", sp.payment_intent(meta=sp.metadata("ana")))) == "credited"
    )
    if runs_between:
        daily("2025-06-05")
    business_date("2025-06-20")
    assert stripe(sp.event("charge.dispute.created", sp.dispute())) == "reversed"
    last = daily("2025-06-20")
    assert last.transitions == (1 if runs_between else 2)
    assert daily("2025-06-20").transitions == 0  # a re-run records nothing new
    transitions = [(t["on"], t["data"]["status"]) for t in events("ana", "transition")]
    assert transitions == [
        ("2025-06-01", "delinquent"),
        ("2025-06-05", "active"),
        ("2025-06-20", "delinquent"),
    ]
    status = call_api("GET", "/members/ana/status").body["certifications"][0]["status"]
    assert status == transitions[-1][1]


def test_a_crashed_first_run_is_caught_up_with_its_print_batch(
    daily: Any, notifier: FakeNotifier, business_date: Any
) -> None:
    upsert(business_date, "2025-03-02", "ana", member_body("2024-05-14"))
    notifier.fail_batch_on.add(date(2025, 3, 2))
    with pytest.raises(ConnectionError):
        daily("2025-03-02")  # the first run ever: notice recorded, no CSV, no last run date
    nxt = daily("2025-03-03")
    assert nxt.days_read == 2
    assert [r["member_id"] for r in notifier.batches[date(2025, 3, 2)]] == ["ana"]
    assert notice_keys("ana") == ["renewal_before@2025-05"]
