"""Real races: handlers run at the same moment, each in its own process, against a moto server.

What runs: the local stack's moto server on loopback (``local.stack.LocalStack``: the table, its
stream, the secrets, provisioned from template.yaml). For each case, 8 (or 2) worker processes are
forked; each forgets the parent's AWS clients, waits on one ``multiprocessing.Barrier`` and then calls
the real handler in-process (``tests.helpers.call_api``: template.yaml route -> Powertools resolver ->
service -> boto3 over HTTP to the moto server). Processes, not threads: a Powertools resolver keeps
the current event on the module-level ``app``, so two threads in one handler module would read each
other's requests - a Lambda execution environment never runs two invocations at once, processes
model Lambda's concurrency faithfully. No sleeps: the barrier starts them together.

What it proves: our conditional writes and transactions keep the invariants under real interleaving
at the HTTP level - every read-decide-write of one handler can be overtaken by another handler's
requests between any two of its own requests, which is the interleaving DynamoDB allows.

What it does not prove: moto's server answers one request at a time (``SerialMotoServer``: its
in-memory backends are not thread-safe, so one lock around each request), so two requests are never
evaluated at the same instant inside the table; there is no partition-level concurrency, throttling,
or the eventual consistency of DynamoDB's GSIs and stream. DynamoDB itself guarantees that each
conditional write and transaction is atomic and serialisable, which is what the lock stands for.
"""

from __future__ import annotations

import json
import multiprocessing
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.stack import LOCAL_SECRETS, LocalStack, reset_process_caches
from shared.config.settings import get_settings
from shared.rules.models import FeePayment
from shared.store.members import MemberRepository
from tests.ce_ingest.conftest import basic, catalog, cmi5_sequence
from tests.helpers import call_api
from tests.renewal.stripe_payloads import event, metadata, payment_intent, signed

pytestmark = pytest.mark.e2e

STRIPE_SECRET = LOCAL_SECRETS["StripeWebhookSecret"]["current"]
TODAY = "2026-05-01"
Outcome = tuple[int, Any]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", "STAYCERT_BUSINESS_DATE": TODAY}
    ) as running:
        yield running


def race(calls: list[Callable[[], Outcome]]) -> list[Outcome]:
    """Run every call in its own forked process, all released by one barrier; their outcomes in order."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(calls))
    results = context.Queue()

    def worker(index: int, call: Callable[[], Outcome]) -> None:
        reset_process_caches()  # own connections, like a fresh Lambda environment
        try:
            barrier.wait(timeout=60)
            results.put((index, call()))
        except Exception:  # reported to the parent, which fails the test with it
            results.put((index, (-1, traceback.format_exc())))

    processes = [context.Process(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    found = [outcomes[i] for i in range(len(calls))]
    assert all(status != -1 for status, _ in found), found
    return found


def api(method: str, path: str, body: Any = None, **extra: Any) -> Callable[[], Outcome]:
    def call() -> Outcome:
        result = call_api(method, path, body, **extra)
        return result.status, result.body

    return call


def stripe(payload: dict[str, Any]) -> Callable[[], Outcome]:
    body, headers = signed(payload, STRIPE_SECRET)
    return api("POST", "/webhooks/stripe", raw_body=body, headers=headers)


def member(member_id: str, certified_on: str, last_name: str = "Diaz", status: int = 201) -> None:
    assert roster(member_id, certified_on, last_name)()[0] == status


def roster(member_id: str, certified_on: str, last_name: str) -> Callable[[], Outcome]:
    body = {
        "first_name": "Ana",
        "last_name": last_name,
        "email": f"{member_id}@example.org",
        "certifications": [{"credential": "RMA", "certified_on": certified_on}],
    }
    return api("PUT", f"/members/{member_id}", body)


def facts_of(member_id: str) -> list[Any]:
    record = MemberRepository(get_settings().table_name).load(member_id)
    assert record is not None
    return list(record.facts)


def status_of(member_id: str) -> dict[str, Any]:
    body: dict[str, Any] = call_api("GET", f"/members/{member_id}/status").body
    return {k: v for k, v in body["certifications"][0].items() if k != "member_id"}


def paid(pi: str, member_id: str) -> dict[str, Any]:
    return event("payment_intent.succeeded", payment_intent(pi, metadata(member_id)), event_id=f"evt_{pi}")


def test_the_same_stripe_payment_eight_times_at_once_credits_once(stack: LocalStack) -> None:
    member("ana", "2024-05-14")
    outcomes = race([stripe(paid("pi_same", "ana")) for _ in range(8)])
    assert [status for status, _ in outcomes] == [200] * 8
    payments = [f for f in facts_of("ana") if isinstance(f, FeePayment)]
    assert [(p.key, p.amount_cents) for p in payments] == [("pi_same", 5000)]


def test_eight_different_fee_payments_at_once_end_as_if_one_after_another(stack: LocalStack) -> None:
    """8 payments for one certification at once, and the same 8 one after another for a twin member:
    the same facts and the same status (which payment is the surplus may differ; how much may not)."""
    member("raced", "2024-05-14")
    member("serial", "2024-05-14")
    outcomes = race([stripe(paid(f"pi_r{n}", "raced")) for n in range(8)])
    assert [status for status, _ in outcomes] == [200] * 8
    for n in range(8):
        assert stripe(paid(f"pi_s{n}", "serial"))()[0] == 200

    def shape(member_id: str) -> Counter[tuple[str, int]]:
        return Counter((f.kind, getattr(f, "amount_cents", 0)) for f in facts_of(member_id))

    assert shape("raced") == shape("serial")
    assert shape("raced")[("payment", 5000)] == 8
    assert status_of("raced") == status_of("serial")


def test_two_staff_decisions_racing_on_one_application_one_wins(stack: LocalStack) -> None:
    member("dee", "2015-03-10")  # never paid: lapsed, within the CCP path's years
    opened = call_api("POST", "/members/dee/recertifications", {"credential": "RMA", "method": "ccp"})
    assert opened.status == 201, opened.body
    application_id = opened.body["application"]["application_id"]
    reasons = ["points not documented", "evidence illegible"]
    outcomes = race(
        [
            api("POST", f"/recertifications/{application_id}/decision", {"decision": "rejected", "reason": r})
            for r in reasons
        ]
    )
    assert sorted(status for status, _ in outcomes) == [200, 409]
    [winner] = [reasons[i] for i, (status, _) in enumerate(outcomes) if status == 200]
    view = call_api("GET", f"/recertifications/{application_id}").body
    assert (view["application"]["status"], view["application"]["decision"]["reason"]) == ("rejected", winner)
    record = MemberRepository(get_settings().table_name).load("dee")
    assert record is not None
    assert [json.dumps(e.data["decision"]) for e in record.events if e.kind == "recert_application"] == [
        json.dumps(view["application"]["decision"])
    ]


def xapi(statement: dict[str, Any]) -> Callable[[], Outcome]:
    headers = {
        "authorization": basic("demo-lms", "demo-lms-local-password"),
        "x-experience-api-version": "1.0.3",
    }
    return api("POST", "/xapi/statements", statement, headers=headers)


def test_a_roster_upsert_racing_xapi_statements_loses_neither(stack: LocalStack) -> None:
    """The roster changes the member's name while the LMS sends a course's statements one request each;
    a twin member gets the same requests one after another. Both end with the roster's change and
    the course credited once, with the same statement outcomes."""
    course = "https://courses.example.org/ccp/races"
    catalog(course)
    for member_id in ("eve", "twin"):
        member(member_id, "2025-01-10", last_name="Before")
    sequences = {m: cmi5_sequence(m, day="2026-04-20", course=course) for m in ("eve", "twin")}
    outcomes = race([roster("eve", "2025-01-10", "After"), *(xapi(s) for s in sequences["eve"])])
    assert [status for status, _ in outcomes] == [200] * len(outcomes), outcomes
    assert roster("twin", "2025-01-10", "After")()[0] == 200
    for one in sequences["twin"]:
        assert xapi(one)()[0] == 200

    def outcome_of(member_id: str) -> tuple[Any, ...]:
        record = MemberRepository(get_settings().table_name).load(member_id)
        assert record is not None
        timeline = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
        xapi_outcomes = sorted(e["data"]["outcome"] for e in timeline if e["kind"] == "xapi")
        return record.profile.last_name, status_of(member_id)["ccp"], xapi_outcomes

    assert outcome_of("eve") == outcome_of("twin")
    assert outcome_of("eve")[0] == "After"
    assert outcome_of("eve")[2] == ["credited"] * 3  # completed, passed, satisfied: each its own fact
    assert outcome_of("eve")[1]["earned"] == 3  # the course counts once
