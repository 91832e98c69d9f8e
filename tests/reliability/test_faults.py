"""Fault injection. Every fault injected is counted (``faults.FAULTS``) and the
totals are asserted by the last test of this module; the parametrized ids show each case.

1. DynamoDB throttling on the k-th request attempt, for every k of a clean run, for the Stripe
   webhook, an xAPI POST, a CSV upload, the daily run and the badge consumer - transient (botocore
   retries it) and persistent (the handler fails without partial state; a clean retry completes
   exactly once).
2. A crash between any two writes of the daily job, at each position, then a re-run: no e-mail is
   ever lost, and none is sent twice except in the one documented window (after SES accepted it and
   before the notice was marked settled: exactly one duplicate, counted in ``EMAIL_DUPLICATED``).
   SES throttling of the k-th e-mail: retried by botocore, or (persistent) the member fails the run
   (``DailyRunIncomplete``) and the re-run sends it - one e-mail per notice in the end.
3. Credly faults (429, 500, timeouts, dropped and refused connections, malformed JSON): retried,
   then a batch item failure; after the fault clears, exactly one badge.
4. The same Stripe event from 8 threads at once against the moto server: one credit.
5. Secret rotation mid-flight (Stripe, exam vendor, LMS Basic auth) and the forced-refresh throttle.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.events import s3_object_created_event
from shared import aws
from tests.ce_ingest.conftest import (
    catalog,
    ce,  # noqa: F401 - fixture
    cmi5_sequence,
    member,
    post,
)
from tests.conftest import TABLE
from tests.helpers import call_api, invoke
from tests.recertification.fixtures import Env, credly, env  # noqa: F401 - fixtures
from tests.reliability import faults
from tests.reliability.faults import FAULTS, THROTTLE_CODES, Crash, DynamoThrottle, SesThrottle, snapshot
from tests.renewal import stripe_payloads as sp
from tests.renewal.conftest import renewal_aws  # noqa: F401 - fixture

Snapshot = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture
def quiet_backoff() -> Iterator[list[float]]:
    with faults.no_backoff() as delays:
        yield delays


# ====================================================================== scenarios


@dataclass
class Scenario:
    """One handler with one event: ``deliver`` runs it once and says whether it succeeded (HTTP 2xx /
    no exception / no batch item failure); ``outcome`` is what must hold exactly once afterwards."""

    name: str
    deliver: Callable[[], bool]
    outcome: Callable[[], Any]
    dynamodb: Any
    side_state: Callable[[], Any] = lambda: None
    reset_side: Callable[[], None] = lambda: None
    markers: frozenset[tuple[str, str]] = frozenset()  # bookkeeping items a failed run may leave
    badge_ids: Callable[[], list[str]] = list  # ids minted outside (Credly): differ between runs
    # attributes a failed run may leave unset on an otherwise complete item (the daily run's
    # ``email_settled``: the notice is recorded, its e-mail still to be sent by the re-run)
    pending: frozenset[str] = frozenset()
    settles: str | None = None  # the DynamoDB operation marking an e-mail settled, after SES took it


def http_ok(call: Callable[[], Any]) -> bool:
    """API Gateway answers 500 when the function raises; the sender retries anything not 2xx."""
    try:
        response = call()
    except Exception:
        return False
    return 200 <= int(response.status) < 300


def async_ok(call: Callable[[], Any]) -> bool:
    try:
        call()
    except Exception:
        return False
    return True


ANA = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2024-05-14"}],
}
PAYMENT = sp.event("payment_intent.succeeded", sp.payment_intent("pi_fault", meta=sp.metadata("m-1")))


def _fees(member_id: str = "m-1") -> tuple[int, str]:
    cert = call_api("GET", f"/members/{member_id}/status").body["certifications"][0]
    return cert["fees"]["fees_paid"], cert["fees"]["paid_through"]


def _kinds(member_id: str, kind: str) -> list[dict[str, Any]]:
    entries = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
    return [e for e in entries if e["kind"] == kind]


def webhook_scenario(renewal: dict[str, Any], business_date: Any) -> Scenario:
    business_date("2025-05-23")
    assert call_api("PUT", "/members/m-1", ANA).status == 201

    def deliver() -> bool:
        body, headers = sp.signed(PAYMENT)
        return http_ok(lambda: call_api("POST", "/webhooks/stripe", headers=headers, raw_body=body))

    def outcome() -> Any:
        return _fees(), [p["data"]["key"] for p in _kinds("m-1", "payment")]

    return Scenario("stripe-webhook", deliver, outcome, renewal["dynamodb"])


def xapi_scenario(ce_env: dict[str, Any], business_date: Any) -> Scenario:
    business_date("2024-03-20")
    member("m-1", "2022-01-10")
    catalog()
    statements = cmi5_sequence()

    def outcome() -> Any:
        ccp = call_api("GET", "/members/m-1/status").body["certifications"][0]["ccp"]
        return ccp["earned"], len(_kinds("m-1", "ce"))

    return Scenario("xapi-post", lambda: http_ok(lambda: post(statements)), outcome, ce_env["dynamodb"])


CSV_KEY = "ce-batches/acme/2024-03.csv"
CSV_RESULTS = "ce-batches-results/"
CSV = (
    "member_id,activity_id,completed_on,points,category,certificate_id\n"
    "m-1,https://acme.example.org/a,2023-05-01,2,professional_education,C-1\n"
    "m-1,https://acme.example.org/b,2023-06-01,1.5,formal_education,C-2\n"
    "ghost,https://acme.example.org/a,2023-05-01,2,professional_education,C-3\n"
    "m-2,https://acme.example.org/a,2024-01-10,2,professional_education,C-4\n"
)


def csv_scenario(ce_env: dict[str, Any], business_date: Any) -> Scenario:
    business_date("2024-03-20")
    member("m-1", "2022-01-10")
    member("m-2", "2024-01-10")
    ce_env["s3"].put_object(Bucket=ce_env["bucket"], Key=CSV_KEY, Body=CSV.encode(), ContentType="text/csv")

    def outcome() -> Any:
        earned = [
            call_api("GET", f"/members/{m}/status").body["certifications"][0]["ccp"]["earned"]
            for m in ("m-1", "m-2")
        ]
        return earned, len(_kinds("m-1", "ce")) + len(_kinds("m-2", "ce"))

    def report() -> Any:
        """The result file the provider reads (accepted / already recorded / rejected rows)."""
        listed = ce_env["s3"].list_objects_v2(Bucket=ce_env["bucket"], Prefix=CSV_RESULTS)
        return {
            o["Key"]: json.loads(
                ce_env["s3"].get_object(Bucket=ce_env["bucket"], Key=o["Key"])["Body"].read()
            )
            for o in listed.get("Contents", [])
        }

    def forget_report() -> None:
        for key in report():
            ce_env["s3"].delete_object(Bucket=ce_env["bucket"], Key=key)

    return Scenario(
        "csv-upload",
        lambda: async_ok(
            lambda: invoke("CeUploadFunction", s3_object_created_event(ce_env["bucket"], CSV_KEY, len(CSV)))
        ),
        outcome,
        ce_env["dynamodb"],
        side_state=report,
        reset_side=forget_report,
    )


# ---------------------------------------------------------------------- the daily run

DAILY_PREVIOUS = "2025-02-27"
DAILY_DAY = "2025-03-02"
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701"}
# ana: renewal notice by e-mail and mail; ben: e-mail only; cy: delinquent (fee due 2025-02-01)
DAILY_MEMBERS = {
    "ana": ("2024-05-14", True),
    "ben": ("2024-05-20", False),
    "cy": ("2024-02-10", True),
}


def ses_messages() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def daily_side_effects(renewal: dict[str, Any]) -> dict[str, Any]:
    """What left the system: e-mails (recipient, subject) and the print batch rows of the day."""
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=renewal["bucket"]).get("Contents", [])
    batches = {
        o["Key"]: s3.get_object(Bucket=renewal["bucket"], Key=o["Key"])["Body"].read().decode()
        for o in listed
    }
    emails = sorted((m.destinations["ToAddresses"][0], m.subject) for m in ses_messages())
    return {"emails": emails, "batches": batches}


def reset_daily_side_effects(renewal: dict[str, Any]) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.sent_messages.clear()
    backend.sent_message_count = 0
    s3 = boto3.client("s3", region_name="us-east-1")
    for o in s3.list_objects_v2(Bucket=renewal["bucket"]).get("Contents", []):
        s3.delete_object(Bucket=renewal["bucket"], Key=o["Key"])


def daily_outcome() -> Any:
    found = {}
    for member_id in DAILY_MEMBERS:
        entries = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
        found[member_id] = sorted(
            (e["kind"], e["on"], json.dumps(e["data"], sort_keys=True))
            for e in entries
            if e["kind"] in ("notice", "transition", "cycle_started")
        )
    return found


def daily_scenario(renewal: dict[str, Any], business_date: Any, *, first_run: bool = False) -> Scenario:
    business_date("2025-02-01")
    for member_id, (certified_on, mailed) in DAILY_MEMBERS.items():
        body: dict[str, Any] = {
            "first_name": member_id.title(),
            "last_name": "Diaz",
            "email": f"{member_id}@example.org",
            "certifications": [{"credential": "RMA", "certified_on": certified_on}],
        }
        if mailed:
            body["postal_address"] = ADDRESS
        assert call_api("PUT", f"/members/{member_id}", body).status == 201
    if not first_run:
        business_date(DAILY_PREVIOUS)
        assert async_ok(lambda: invoke("DailyFunction", {"date": DAILY_PREVIOUS}))
        reset_daily_side_effects(renewal)
    business_date(DAILY_DAY)
    return Scenario(
        "daily-run",
        lambda: async_ok(lambda: invoke("DailyFunction", {"date": DAILY_DAY})),
        daily_outcome,
        renewal["dynamodb"],
        side_state=lambda: daily_side_effects(renewal),
        reset_side=lambda: reset_daily_side_effects(renewal),
        # run bookkeeping by design: the first attempt's date, and the open print batch marker that
        # makes the next run write a crashed day's batch
        markers=frozenset({("SCHEDULER", "FIRST_ATTEMPT"), ("SCHEDULER", f"BATCH#{DAILY_DAY}")}),
        pending=frozenset({"email_settled"}),
        settles="UpdateItem",
    )


# ---------------------------------------------------------------------- the badge consumer


def badge_scenario(recert: Env, business_date: Any) -> Scenario:
    from tests.badges.test_badge_issue import kind_of, recertify

    recertify(recert, business_date, "ana", settle=False)
    [record] = [r for r in recert.tap.drain() if kind_of(r) == "recertified"]

    def deliver() -> bool:
        result = invoke("BadgeIssueFunction", {"Records": [json.loads(json.dumps(record))]})
        return not result["batchItemFailures"]

    def outcome() -> Any:
        issued = recert.credly.issued()
        events = _kinds("ana", "badge")
        return len(issued), len(events), [e["data"]["badge_id"] for e in events] == [b["id"] for b in issued]

    def reset() -> None:
        recert.credly.badges.clear()
        recert.credly.requests.clear()

    return Scenario(
        "badge-issue",
        deliver,
        outcome,
        recert.aws["dynamodb"],
        side_state=lambda: sorted(b["issuer_earner_id"] for b in recert.credly.issued()),
        reset_side=reset,
        badge_ids=lambda: [b["id"] for b in recert.credly.issued()],
    )


BUILDERS: dict[str, tuple[str, Callable[[Any, Any], Scenario]]] = {
    "stripe-webhook": ("renewal_aws", webhook_scenario),
    "xapi-post": ("ce", xapi_scenario),
    "csv-upload": ("ce", csv_scenario),
    "daily-run": ("renewal_aws", daily_scenario),
    "badge-issue": ("env", badge_scenario),
}


def build(request: pytest.FixtureRequest, name: str) -> Scenario:
    fixture, builder = BUILDERS[name]
    return builder(request.getfixturevalue(fixture), request.getfixturevalue("business_date"))


# ====================================================================== 1. DynamoDB throttling

# DynamoDB request attempts of one clean delivery of each scenario (the sweep checks them first):
# the throttle sweeps k over 1..n. The daily run's 20 include the UpdateItem settling each of its two
# e-mails (ana's, ben's). The xAPI post's 5: catalog, member partition, one transaction per crediting
# statement (a stored id with other content is found by its own write's condition, no pre-read). The
# CSV upload's 5 include the BatchGetItem of the catalog entries its rows name (their title and
# provider go on the `ce` facts, for the self-report duplicate check).
CALLS = {"stripe-webhook": 2, "xapi-post": 5, "csv-upload": 5, "daily-run": 20, "badge-issue": 2}
RETRIES = 5  # shared/aws.py: standard mode, max_attempts=5 retries -> 6 attempts per request
VERIFIED: dict[str, int] = {}  # test case -> faulted deliveries verified in it (see the summary test)


def _without(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, name) for k, v in value.items() if k != name}
    if isinstance(value, list):
        return [_without(v, name) for v in value]
    return value


def canonical(scenario: Scenario, items: Snapshot) -> dict[str, str]:
    """Items as comparable text. Credly's badge ids (minted anew by each run) are masked, and
    ``resolved_duplicate`` (a retry that found its badge already issued says so) is left out."""
    from boto3.dynamodb.types import TypeDeserializer

    plain, ids = TypeDeserializer(), scenario.badge_ids()

    def mask(text: str) -> str:
        for badge_id in ids:
            text = text.replace(badge_id, "<credly-badge>")
        return text

    found = {}
    for (pk, sk), item in items.items():
        value = _without({name: plain.deserialize(raw) for name, raw in item.items()}, "resolved_duplicate")
        found[mask(f"{pk}|{sk}")] = mask(json.dumps(value, sort_keys=True, default=str))
    return found


@dataclass
class Baseline:
    start: Snapshot
    clean: dict[str, str]
    outcome: Any
    side: Any
    calls: list[str]  # DynamoDB request attempts, in order
    writes: list[str]  # side-effecting requests (DynamoDB writes, SES sends, S3 puts), in order
    recipients: list[str]  # the To address of each SES send, in order


def fresh_process() -> None:
    """A new client (botocore's retry quota starts full) and an empty catalog cache."""
    from shared.services.catalog import CACHE

    aws.reset_clients()
    CACHE.forget()


def rewind(scenario: Scenario, start: Snapshot, current: Snapshot | None = None) -> None:
    faults.restore(scenario.dynamodb, TABLE, start, current)
    scenario.reset_side()
    fresh_process()


def clean_baseline(scenario: Scenario) -> Baseline:
    """One clean delivery (recorded), then the table and the outside world put back as before it."""
    start = snapshot(scenario.dynamodb, TABLE)
    fresh_process()
    with DynamoThrottle().installed() as counter, Crash().installed() as recorder:
        assert scenario.deliver(), f"{scenario.name}: the clean delivery failed"
    after = snapshot(scenario.dynamodb, TABLE)
    outcome, side = scenario.outcome(), scenario.side_state()
    base = Baseline(
        start, canonical(scenario, after), outcome, side, counter.calls, recorder.writes, recorder.recipients
    )
    rewind(scenario, start)
    return base


def _unset(text: str | None, names: frozenset[str]) -> str | None:
    if text is None or not names:
        return None
    return json.dumps({k: v for k, v in json.loads(text).items() if k not in names}, sort_keys=True)


def assert_no_partial_state(scenario: Scenario, base: Baseline, what: str) -> None:
    """After a failed delivery every item is as before it or as after a clean one (a complete fact,
    never half of one); only the scenario's run bookkeeping may differ, and a complete item may lack
    the scenario's ``pending`` attributes (a notice recorded whose e-mail the re-run sends)."""
    now = canonical(scenario, snapshot(scenario.dynamodb, TABLE))
    before = canonical(scenario, base.start)
    markers = {f"{pk}|{sk}" for pk, sk in scenario.markers}
    for key, text in now.items():
        if key not in markers:
            allowed = (before.get(key), base.clean.get(key), _unset(base.clean.get(key), scenario.pending))
            assert text in allowed, f"{what}: partial item {key}"
    for key in before.keys() - now.keys():
        assert key not in base.clean or key in markers, f"{what}: {key} lost"


def code_for(k: int) -> str:
    """The fast suite alternates the two throttling codes over k; the slow suite runs both for every k."""
    return THROTTLE_CODES[(k - 1) % 2]


EMAIL_LOST: dict[str, int] = {}  # case -> e-mails lost (asserted 0 for every case: at least once)
EMAIL_DUPLICATED: dict[str, int] = {}  # case -> e-mails sent twice (only in the documented window)


def check_emails(base: Baseline, side: Any, what: str, duplicated: str | None = None) -> tuple[int, int]:
    """The daily run's side effects after the faulted run and its re-run: the print batch rows as after
    one clean run, every e-mail of the clean run sent (none lost), each exactly once - except the one
    notice in the documented window (``duplicated``: its recipient), sent exactly twice. Returns
    (lost, duplicated)."""
    assert side["batches"] == base.side["batches"], f"{what}: print batch rows differ"
    expected, sent = Counter(base.side["emails"]), Counter(side["emails"])
    lost, extra = expected - sent, sent - expected
    assert not lost, f"{what}: lost e-mails {sorted(lost)}"
    window = Counter({e: 1 for e in expected if e[0] == duplicated})
    assert len(window) == (duplicated is not None), f"{what}: {duplicated} is not one notice's e-mail"
    assert extra == window, f"{what}: sent twice {sorted(extra.elements())}, expected {sorted(window)}"
    return sum(lost.values()), sum(extra.values())


def tally_emails(key: str, base: Baseline, side: Any, what: str, duplicated: str | None) -> None:
    """``check_emails``, and its lost/duplicated counts kept under ``key`` for the fault ledger."""
    EMAIL_LOST[key], EMAIL_DUPLICATED[key] = check_emails(base, side, what, duplicated)


def settle_window(base: Baseline, operations: list[str], settle: str, first_not_done: int) -> str | None:
    """The recipient whose e-mail SES accepted but whose settle write (``settle``, 1-based position
    ``first_not_done`` in ``operations``) never happened - the documented duplicate window - or None."""
    if first_not_done > len(operations) or operations[first_not_done - 1] != settle:
        return None
    return base.recipients[operations[:first_not_done].count(settle) - 1]


def throttle_sweep(scenario: Scenario, mode: str, codes: Callable[[int], list[str]]) -> int:
    base = clean_baseline(scenario)
    # the sweep's k range is the clean delivery's request count (update CALLS when it changes)
    assert len(base.calls) == CALLS[scenario.name], base.calls
    verified, current = 0, None
    for k in range(1, CALLS[scenario.name] + 1):
        for code in codes(k):
            what = f"{scenario.name}: {mode} {code} at request attempt {k} ({base.calls[k - 1]})"
            rewind(scenario, base.start, current)
            with DynamoThrottle(k, code, persistent=mode == "persistent").installed() as fault:
                succeeded = scenario.deliver()
            if mode == "transient":
                assert succeeded, what
                assert fault.injected == 1, what
            else:
                assert not succeeded, f"{what}: the handler reported success"
                assert fault.injected >= RETRIES + 1, what  # botocore retried, boundedly
                assert_no_partial_state(scenario, base, what)
                fresh_process()
                assert scenario.deliver(), f"{what}: the retry without faults failed"
                assert scenario.outcome() == base.outcome, what  # one credit, one notice, one badge
            current = snapshot(scenario.dynamodb, TABLE)
            assert canonical(scenario, current) == base.clean, what
            if scenario.settles is None:
                assert scenario.side_state() == base.side, what
            else:
                # persistent throttling of a settle write: SES took the e-mail, the mark never made it
                # (retries exhausted): the re-run sends it again - the documented window, as a crash
                window = None
                if mode == "persistent":
                    window = settle_window(base, base.calls, scenario.settles, k)
                tally_emails(
                    f"throttle:{scenario.name}:{mode}:{code}:{k}", base, scenario.side_state(), what, window
                )
            verified += 1
    return verified


THROTTLE_CASES = [
    pytest.param(name, mode, id=f"{name}-{mode}-k1..{CALLS[name]}")
    for name in BUILDERS
    for mode in ("transient", "persistent")
]


@pytest.mark.parametrize(("name", "mode"), THROTTLE_CASES)
def test_dynamodb_throttling_at_every_request(
    request: pytest.FixtureRequest, name: str, mode: str, quiet_backoff: list[float]
) -> None:
    verified = throttle_sweep(build(request, name), mode, lambda k: [code_for(k)])
    assert verified == CALLS[name]
    VERIFIED[f"throttle:{name}:{mode}"] = verified


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "mode"),
    [
        pytest.param(name, mode, id=f"{name}-{mode}-k1..{CALLS[name]}-both-codes")
        for name in BUILDERS
        for mode in ("transient", "persistent")
    ],
)
def test_dynamodb_throttling_both_codes_at_every_request(
    request: pytest.FixtureRequest, name: str, mode: str, quiet_backoff: list[float]
) -> None:
    verified = throttle_sweep(build(request, name), mode, lambda k: list(THROTTLE_CODES))
    assert verified == 2 * CALLS[name]


@pytest.mark.usefixtures("renewal_aws")
def test_retry_config_is_standard_and_bounded() -> None:
    config = aws.client("dynamodb").meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": RETRIES + 1}


# ====================================================================== 2. crash between daily writes

# Side-effecting requests of one clean daily run (DynamoDB writes, SES sends, the S3 print batch):
# test_daily_write_positions checks them; the crash sweeps every position, before and after. Each
# e-mailed notice is three writes: recorded (conditional put), sent, settled (``email_settled``).
SETTLE = "dynamodb:UpdateItem:EVENT"
DAILY_WRITES = {
    "notice-day": [
        "dynamodb:PutItem:BATCH",  # the day's print batch is opened
        "dynamodb:PutItem:EVENT",  # ana's renewal notice recorded (mailed: listed for the batch)
        "ses:SendEmail",  # ... e-mailed
        SETTLE,  # ... and its e-mail marked sent
        "dynamodb:PutItem:CERT",  # ana's next action date
        "dynamodb:PutItem:EVENT",  # ben's renewal notice (e-mail only)
        "ses:SendEmail",
        SETTLE,
        "dynamodb:PutItem:CERT",
        "dynamodb:PutItem:EVENT",  # cy became delinquent (transition)
        "dynamodb:PutItem:EVENT",  # cy's renewal-due notice: sent and settled on 02-27 (duplicate)
        "dynamodb:PutItem:CERT",
        "s3:PutObject",  # the print batch CSV
        "dynamodb:DeleteItem:BATCH",  # the batch is closed
        "dynamodb:PutItem:LAST_RUN",  # the run is complete
    ],
    "first-run": [
        "dynamodb:PutItem:FIRST_ATTEMPT",
        "dynamodb:PutItem:BATCH",
        "dynamodb:PutItem:EVENT",
        "ses:SendEmail",
        SETTLE,
        "dynamodb:PutItem:CKPT",  # ana's checkpoint (the first run finds none), before her next action date
        "dynamodb:PutItem:CERT",
        "dynamodb:PutItem:EVENT",
        "ses:SendEmail",
        SETTLE,
        "dynamodb:PutItem:CKPT",
        "dynamodb:PutItem:CERT",
        "dynamodb:PutItem:EVENT",  # cy became delinquent
        "dynamodb:PutItem:EVENT",  # cy's renewal-due notice (first sent today)
        "ses:SendEmail",
        SETTLE,
        "dynamodb:PutItem:CKPT",
        "dynamodb:PutItem:CERT",
        "s3:PutObject",
        "dynamodb:DeleteItem:BATCH",
        "dynamodb:PutItem:LAST_RUN",
    ],
}


def daily_crash_scenario(request: pytest.FixtureRequest, name: str) -> Scenario:
    renewal, dates = request.getfixturevalue("renewal_aws"), request.getfixturevalue("business_date")
    return daily_scenario(renewal, dates, first_run=name == "first-run")


def crash_points(name: str, mode: str) -> list[tuple[int, bool]]:
    """(n, after) of each crash. ``between``: before each write and after the last one - every gap
    between two writes (a crash just after write n is the same as just before write n+1: nothing but
    computation lies between). ``lost-ack``: just after each write, before its answer arrives."""
    count = len(DAILY_WRITES[name])
    if mode == "between":
        return [(n, False) for n in range(1, count + 1)] + [(count, True)]
    return [(n, True) for n in range(1, count + 1)]


def crash_sweep(scenario: Scenario, name: str, mode: str) -> int:
    base = clean_baseline(scenario)
    writes = DAILY_WRITES[name]
    # the positions are the writes of the clean run (update DAILY_WRITES when they change)
    assert base.writes == writes, base.writes
    assert len(base.recipients) == writes.count("ses:SendEmail") == writes.count(SETTLE), base.recipients
    verified, current = 0, None
    for n, after in crash_points(name, mode):
        what = f"{name}: crash {'after' if after else 'before'} write {n} ({writes[n - 1]})"
        rewind(scenario, base.start, current)
        with Crash(n, after=after).installed() as crash, pytest.raises(faults.ProcessCrash):
            scenario.deliver()
        assert crash.fired, what
        fresh_process()  # Lambda retries the event in a new process
        assert scenario.deliver(), f"{what}: the re-run failed"
        # notices, transitions, next action dates, settled e-mails, the last run: as after one clean run
        current = snapshot(scenario.dynamodb, TABLE)
        assert canonical(scenario, current) == base.clean, what
        # lost: never (an unsettled notice is re-sent). Twice: only if the crash fell after SES took
        # the e-mail and before its settle write - exactly that notice's e-mail, exactly once more.
        window = settle_window(base, writes, SETTLE, n + 1 if after else n)
        key = f"crash:{name}:{mode}:{n}:{'after' if after else 'before'}"
        tally_emails(key, base, scenario.side_state(), what, window)
        verified += 1
    return verified


CRASH_CASES = [
    pytest.param(name, mode, id=f"{name}-{mode}-{len(crash_points(name, mode))}-positions", marks=marks)
    for name, mode, marks in [
        ("notice-day", "between", ()),
        ("notice-day", "lost-ack", (pytest.mark.slow,)),
        ("first-run", "between", (pytest.mark.slow,)),
        ("first-run", "lost-ack", (pytest.mark.slow,)),
    ]
]


@pytest.mark.parametrize(("name", "mode"), CRASH_CASES)
def test_daily_crash_at_every_write_then_rerun(request: pytest.FixtureRequest, name: str, mode: str) -> None:
    """Complements tests/renewal/test_daily.py's two hand-picked crashes (FakeNotifier) with every
    position, through the real handler, SES and the S3 print batch."""
    verified = crash_sweep(daily_crash_scenario(request, name), name, mode)
    assert verified == len(crash_points(name, mode))
    VERIFIED[f"crash:{name}:{mode}"] = verified


SES_THROTTLE_CASES = [
    pytest.param(name, mode, id=f"{name}-{mode}", marks=marks)
    for name, marks in [("notice-day", ()), ("first-run", (pytest.mark.slow,))]
    for mode in ("transient", "persistent")
]


@pytest.mark.parametrize(("name", "mode"), SES_THROTTLE_CASES)
def test_daily_ses_throttling_at_every_send(
    request: pytest.FixtureRequest, name: str, mode: str, quiet_backoff: list[float]
) -> None:
    """SES answers ``Throttling`` to the k-th e-mail of the run, for every k. Transient (one attempt):
    botocore's retry sends it. Persistent (every attempt of that send): the notice stays recorded with
    its e-mail unsettled, the others go out, the run raises ``DailyRunIncomplete`` without advancing
    the last run date, and the re-run (Lambda's retry) sends it - exactly one e-mail per notice."""
    from shared.services.daily import DailyRunIncomplete

    scenario = daily_crash_scenario(request, name)
    base = clean_baseline(scenario)
    assert base.writes == DAILY_WRITES[name], base.writes
    persistent, current, verified = mode == "persistent", None, 0
    for k, recipient in enumerate(base.recipients, start=1):
        what = f"{name}: {mode} SES Throttling at send {k} ({recipient})"
        rewind(scenario, base.start, current)
        with SesThrottle(k, persistent=persistent).installed() as fault:
            if persistent:
                with pytest.raises(DailyRunIncomplete, match=r"^1 member"):
                    invoke("DailyFunction", {"date": DAILY_DAY})
            else:
                assert scenario.deliver(), what
        if persistent:
            assert fault.injected == RETRIES + 1, what  # botocore retried it, boundedly
            unsent = Counter(base.side["emails"]) - Counter(scenario.side_state()["emails"])
            assert [to for to, _ in unsent.elements()] == [recipient], f"{what}: unsent {unsent}"
            assert_no_partial_state(scenario, base, what)
            items = snapshot(scenario.dynamodb, TABLE)
            member_pk = f"MEMBER#{recipient.split('@')[0]}"
            recorded = [
                item
                for (pk, sk), item in items.items()
                if pk == member_pk and sk.startswith("EVENT#notice#") and (pk, sk) not in base.start
            ]
            assert len(recorded) == 1, what  # the notice is recorded (once) ...
            assert "email_settled" not in recorded[0], what  # ... its e-mail still to send
            assert items.get(("SCHEDULER", "LAST_RUN")) == base.start.get(("SCHEDULER", "LAST_RUN")), what
            fresh_process()  # Lambda retries the event
            assert scenario.deliver(), f"{what}: the re-run failed"
        else:
            assert fault.injected == 1, what
        assert scenario.deliver(), f"{what}: a further re-run failed"  # sends nothing more
        current = snapshot(scenario.dynamodb, TABLE)
        assert canonical(scenario, current) == base.clean, what
        lost, twice = check_emails(base, scenario.side_state(), what)
        assert (lost, twice) == (0, 0), what
        verified += 1
    assert verified == len(base.recipients) == DAILY_WRITES[name].count("ses:SendEmail")
    VERIFIED[f"ses-throttle:{name}:{mode}"] = verified


# ====================================================================== 3. Credly faults

CREDLY_ATTEMPTS = 3  # CREDLY_MAX_ATTEMPTS in these tests (no backoff, 0.3 s timeouts)
# fault -> (fake Credly knob, does a faulted POST still create the badge at Credly?)
CREDLY_FAULTS: dict[str, tuple[str | None, bool]] = {
    "429": ("429", False),
    "500": ("500", False),
    "timeout": ("hang", False),  # no answer within the client's read timeout
    "timeout-after-issuing": ("late", True),  # Credly did issue it; the answer came too late
    "dropped-connection": ("drop", False),
    "malformed-json": ("garbled", True),  # Credly did issue it; the body is not JSON
    "connection-refused": (None, False),  # nothing listens on the port
}


@pytest.fixture
def credly_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Env, list[str]]]:
    """``env`` with fast Credly settings and every HTTP attempt of the Credly client counted."""
    import urllib3

    recert: Env = request.getfixturevalue("env")

    from tests.conftest import reset_caches

    monkeypatch.setenv("CREDLY_MAX_ATTEMPTS", str(CREDLY_ATTEMPTS))
    monkeypatch.setenv("CREDLY_TIMEOUT_SECONDS", "0.3")
    reset_caches()
    attempts: list[str] = []
    # urllib3's Retry re-enters the pool's urlopen once per attempt: each one is counted there
    real_urlopen = urllib3.HTTPConnectionPool.urlopen

    def counted(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"{method} {url}")
        return real_urlopen(self, method, url, *args, **kwargs)

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "urlopen", counted)
    yield recert, attempts
    recert.credly._release.set()  # let hung fake-Credly threads finish


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that refuses connections: bound, never listening (no race with other
    processes for the port while the test runs)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def _point_credly_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import reset_caches

    monkeypatch.setenv("CREDLY_BASE_URL", url)
    reset_caches()


def _badge_state(recert: Env) -> tuple[int, int, bool]:
    issued = recert.credly.issued()
    events = _kinds("ana", "badge")
    return len(issued), len(events), [e["data"]["badge_id"] for e in events] == [b["id"] for b in issued]


@pytest.mark.parametrize("kind", list(CREDLY_FAULTS))
def test_credly_faults_are_retried_then_fail_the_record_and_never_issue_twice(
    credly_env: tuple[Env, list[str]],
    business_date: Any,
    refused_url: str,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    recert, attempts = credly_env
    knob, issued_anyway = CREDLY_FAULTS[kind]
    from tests.badges.test_badge_issue import kind_of, recertify

    recertify(recert, business_date, "ana", settle=False)
    [record] = [r for r in recert.tap.drain() if kind_of(r) == "recertified"]
    sequence = record["dynamodb"]["SequenceNumber"]
    start = snapshot(recert.aws["dynamodb"], TABLE)

    def deliver() -> list[dict[str, str]]:
        failures: list[dict[str, str]] = invoke("BadgeIssueFunction", {"Records": [record]})[
            "batchItemFailures"
        ]
        return failures

    injected = 0
    if knob is not None:  # transient: one faulted attempt, retried inside the same delivery
        recert.credly.fail_next(knob, only="POST")  # type: ignore[arg-type]
        injected += 1
        assert deliver() == [], kind
        assert len(attempts) >= 2, attempts
        assert _badge_state(recert) == (1, 1, True), kind
        faults.restore(recert.aws["dynamodb"], TABLE, start)
        recert.credly.badges.clear()
        attempts.clear()

    # persistent: every attempt of the delivery faults -> bounded retries, then the record fails
    if knob is None:
        _point_credly_at(refused_url, monkeypatch)
    else:
        recert.credly.fail_next(knob, times=CREDLY_ATTEMPTS, only="POST")  # type: ignore[arg-type]
    assert deliver() == [{"itemIdentifier": sequence}], kind
    posts = [a for a in attempts if a.startswith("POST")]
    assert len(posts) == CREDLY_ATTEMPTS, attempts  # retried, boundedly
    injected += CREDLY_ATTEMPTS
    assert _kinds("ana", "badge") == []  # nothing recorded for a failed record
    assert len(recert.credly.issued()) == (1 if issued_anyway else 0)

    # the fault clears; Lambda redelivers the record (twice, to be sure): exactly one badge
    if knob is None:
        _point_credly_at(recert.credly.url, monkeypatch)
    assert deliver() == []
    assert deliver() == []
    assert _badge_state(recert) == (1, 1, True), kind
    if issued_anyway:
        [event] = _kinds("ana", "badge")
        assert event["data"]["resolved_duplicate"] is True  # found at Credly, not issued again
    FAULTS[f"credly:{kind}"] += injected
    VERIFIED[f"credly:{kind}"] = injected


# ====================================================================== 4. concurrency (moto server)

THREADS = 8


def _http(
    stack: Any, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    request = Request(stack.url + path, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_same_stripe_event_from_8_threads_at_once_credits_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight deliveries of one event run the webhook handler concurrently against the local stack's moto
    SERVER (real HTTP, real conditional transactions). The gateway serializes invocations (one process
    environment), so the threads call the handler itself, like 8 concurrent Lambda instances; a
    second barrier in ``before-send`` holds every thread's first transaction until all 8 have read
    the ledger, so the race is not left to chance: 7 transactions must lose and come back duplicates."""
    import threading

    from local.stack import LOCAL_SECRETS, LocalStack
    from shared.adapters.signatures import sign
    from shared.clock import BUSINESS_DATE_ENV, wall_clock_seconds

    monkeypatch.setenv(BUSINESS_DATE_ENV, "2025-05-23")
    with LocalStack(env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"}) as stack:
        status, _ = _http(
            stack, "PUT", "/members/m-1", json.dumps(ANA).encode(), {"content-type": "application/json"}
        )
        assert status == 201
        payload = json.dumps(PAYMENT).encode()
        secret = LOCAL_SECRETS["StripeWebhookSecret"]["current"]
        headers = {
            "content-type": "application/json",
            "stripe-signature": sign(payload, secret, wall_clock_seconds()),
        }
        from local import template as tpl
        from local.events import http_api_event, route_for
        from tests.helpers import lambda_context

        route, params = route_for("POST", "/webhooks/stripe")
        module = __import__(tpl.functions()[route.function].module, fromlist=["handler"])
        start, first_write = threading.Barrier(THREADS), threading.Barrier(THREADS)
        mine = threading.local()

        def hold_first_transaction(request: Any, **_: Any) -> None:
            if faults.operation_of(request) == "TransactWriteItems" and not getattr(mine, "held", False):
                mine.held = True
                first_write.wait(timeout=30)

        client = aws.client("dynamodb")
        client.meta.events.register_first("before-send.dynamodb", hold_first_transaction)
        results: list[tuple[int, Any]] = []
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                event = http_api_event(route, "/webhooks/stripe", params, headers=headers, body=payload)
                start.wait(timeout=30)
                response = module.handler(event, lambda_context(route.function))
                results.append((int(response["statusCode"]), json.loads(response["body"])))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=deliver) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        client.meta.events.unregister("before-send.dynamodb", hold_first_transaction)
        assert errors == []
        assert all(200 <= code < 300 for code, _ in results), results
        assert len(results) == THREADS
        assert sorted(body["result"] for _, body in results) == ["credited"] + ["duplicate"] * (THREADS - 1)
        FAULTS["concurrent-delivery"] += THREADS - 1

        # one credit: one payment fact, paid-through advanced once (as through the gateway, over HTTP)
        status, body = _http(stack, "GET", "/members/m-1/status")
        fees = body["certifications"][0]["fees"]
        assert (fees["fees_paid"], fees["paid_through"]) == (1, "2026-05-13")
        items = stack.client("dynamodb").scan(TableName=stack.refs["StayCertTable"])["Items"]
        assert [i["sk"]["S"] for i in items if i["sk"]["S"].startswith("FACT#payment")] == [
            "FACT#payment#pi_fault"
        ]
        again = [_http(stack, "POST", "/webhooks/stripe", payload, headers) for _ in range(2)]  # over HTTP
        assert again == [(200, {"result": "duplicate"})] * 2


# ====================================================================== 5. secret rotation mid-flight

FLOOD = 20  # bad signatures / passwords per burst


@dataclass
class SignedCaller:
    """One caller authenticated by a rotating secret: ``send(secret)`` answers the HTTP status."""

    secret_name: str
    old: str
    send: Callable[[str], int]
    rotate: Callable[[str, str], None]  # (new current, previous)


def stripe_caller(request: pytest.FixtureRequest) -> SignedCaller:
    from tests.renewal.conftest import SECRET_NAME, SIGNING_SECRET

    renewal = request.getfixturevalue("renewal_aws")

    def send(secret: str) -> int:
        body, headers = sp.signed(PAYMENT, secret=secret)
        return call_api("POST", "/webhooks/stripe", headers=headers, raw_body=body).status

    def rotate(current: str, previous: str) -> None:
        value = json.dumps({"current": current, "previous": previous})
        renewal["secrets"].put_secret_value(SecretId=SECRET_NAME, SecretString=value)

    return SignedCaller(SECRET_NAME, SIGNING_SECRET, send, rotate)


def exam_caller(request: pytest.FixtureRequest) -> SignedCaller:
    from shared.adapters.signatures import sign
    from shared.clock import wall_clock_seconds
    from tests.recertification.fixtures import EXAM_SECRET

    request.getfixturevalue("env")
    result = {"member_id": "nobody", "credential": "RMA", "passed": True, "exam_date": "2026-05-20"}

    def send(secret: str) -> int:
        raw = json.dumps({**result, "result_id": "r-1"}).encode()
        headers = {"exam-signature": sign(raw, secret, wall_clock_seconds())}
        return call_api("POST", "/exam-results", raw_body=raw, headers=headers).status

    def rotate(current: str, previous: str) -> None:
        value = json.dumps({"current": current, "previous": previous})
        boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
            SecretId="staycert/exam-vendor", SecretString=value
        )

    return SignedCaller("staycert/exam-vendor", EXAM_SECRET, send, rotate)


def lms_caller(request: pytest.FixtureRequest) -> SignedCaller:
    from tests.ce_ingest.conftest import HOME, PASSWORD, SECRET, basic, statement

    ce_env = request.getfixturevalue("ce")

    def send(password: str) -> int:
        return int(post(statement("completed"), auth=basic(password=password)).status)

    def rotate(current: str, previous: str) -> None:
        passwords = {"current": current, "previous": previous}
        value = json.dumps({"clients": {"lms-a": {"homePage": HOME, "passwords": passwords}}})
        ce_env["secrets"].put_secret_value(SecretId=SECRET, SecretString=value)

    return SignedCaller(SECRET, PASSWORD, send, rotate)


CALLERS = {"stripe-webhook": stripe_caller, "exam-results": exam_caller, "lms-basic-auth": lms_caller}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_rotation_mid_flight_and_forced_refresh_throttle(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, caller: str
) -> None:
    """A warm function with the old secret cached verifies the new one (one forced read), the previous
    one still verifies, and floods of bad signatures cost at most one Secrets Manager read per minute
    per secret - the throttle lives in shared.adapters.secrets, for all three callers alike."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from shared.adapters import secrets as secrets_adapter
    from shared.adapters.secrets import FORCED_REFRESH_INTERVAL_SECONDS as INTERVAL

    target = CALLERS[caller](request)
    now = [1000.0]
    monkeypatch.setattr(secrets_adapter.REFRESH_THROTTLE, "clock", lambda: now[0])
    reads: list[str] = []
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.meta.events.register(
        "before-send.secrets-manager.GetSecretValue",
        lambda request, **_: reads.append(json.loads(request.body)["SecretId"]),
    )
    DEFAULT_PROVIDERS["secrets"] = SecretsProvider(boto3_client=client)

    def verified(secret: str) -> bool:
        return target.send(secret) != 401

    def flood() -> int:
        before = len(reads)
        assert not any(verified(f"wrong-{n}") for n in range(FLOOD))
        FAULTS["bad-signature"] += FLOOD
        return len(reads) - before

    assert verified(target.old)  # warm: the old value is cached
    assert reads == [target.secret_name]
    target.rotate("rotated-1", target.old)
    FAULTS["secret-rotation"] += 1
    assert verified("rotated-1")  # mismatch on the cached value -> one forced read
    assert verified(target.old)  # the previous value verifies during the rotation
    assert len(reads) == 2
    assert flood() == 0  # the forced read just happened: the whole flood answers from the cache
    now[0] += INTERVAL - 1
    assert flood() == 0
    now[0] += 1
    assert flood() == 1  # one read per interval, however many bad signatures
    assert flood() == 0

    # rotated again inside the window of that read: refused until the window ends, then picked up
    target.rotate("rotated-2", "rotated-1")
    FAULTS["secret-rotation"] += 1
    assert not verified("rotated-2")
    now[0] += INTERVAL
    assert verified("rotated-2")
    assert verified("rotated-1")
    assert reads == [target.secret_name] * 4
    VERIFIED[f"rotation:{caller}"] = 2


def test_reset_process_caches_resets_the_forced_refresh_throttle() -> None:
    """Tests call reset_process_caches between cases: a throttle window must not leak into the next
    test (a leaked window once broke test_exam_secret_rotation_accepts_current_and_previous)."""
    from local.stack import reset_process_caches
    from shared.adapters.secrets import REFRESH_THROTTLE

    assert REFRESH_THROTTLE.may_force("leak-check")
    assert not REFRESH_THROTTLE.may_force("leak-check")
    reset_process_caches()
    assert REFRESH_THROTTLE.may_force("leak-check")
    reset_process_caches()


# ====================================================================== the ledger

CREDLY_INJECTED = {
    kind: (0 if knob is None else 1) + CREDLY_ATTEMPTS for kind, (knob, _) in CREDLY_FAULTS.items()
}
EXPECTED_VERIFIED: dict[str, int] = {
    **{f"throttle:{name}:{mode}": CALLS[name] for name in BUILDERS for mode in ("transient", "persistent")},
    "crash:notice-day:between": len(crash_points("notice-day", "between")),
    **{f"ses-throttle:notice-day:{mode}": 2 for mode in ("transient", "persistent")},
    **{f"credly:{kind}": count for kind, count in CREDLY_INJECTED.items()},
    **{f"rotation:{caller}": 2 for caller in CALLERS},
}


def test_fault_ledger() -> None:
    """Runs last: every fault the fast cases above injected, by kind. Skipped when only part of the
    module was selected."""
    missing = sorted(EXPECTED_VERIFIED.keys() - VERIFIED.keys())
    if missing:
        pytest.skip(f"only part of the module ran (e.g. {missing[0]})")
    assert {k: VERIFIED[k] for k in EXPECTED_VERIFIED} == EXPECTED_VERIFIED
    throttled = sum(CALLS.values())  # request positions swept, per mode
    transient_faults = throttled  # one per case
    assert FAULTS["dynamodb:ProvisionedThroughputExceededException"] + FAULTS[
        "dynamodb:ThrottlingException"
    ] >= (transient_faults + throttled * (RETRIES + 1))
    assert FAULTS["dynamodb:ProvisionedThroughputExceededException"] > 0
    assert FAULTS["dynamodb:ThrottlingException"] > 0
    assert FAULTS["crash:before-write"] == len(DAILY_WRITES["notice-day"])
    assert FAULTS["crash:after-write"] == 1
    sends = DAILY_WRITES["notice-day"].count("ses:SendEmail")
    assert FAULTS["ses:Throttling"] == sends * (1 + RETRIES + 1)  # transient: 1 each; persistent: 6
    # e-mails: checked after every crash position and every daily-run throttle case; none lost
    crashes = [k for k in EMAIL_LOST if k.startswith("crash:notice-day:between:")]
    throttles = [
        f"throttle:daily-run:{mode}:{code_for(k)}:{k}"
        for mode in ("transient", "persistent")
        for k in range(1, CALLS["daily-run"] + 1)
    ]
    assert len(crashes) == len(crash_points("notice-day", "between"))
    assert all(k in EMAIL_LOST for k in throttles)
    assert sum(EMAIL_LOST[k] for k in crashes + throttles) == 0
    # duplicates: exactly one per e-mail in the documented window (SES took it, the settle write did
    # not happen): the crash just before each settle write, and a persistent throttle of each settle
    crash_twice = {k: v for k in crashes if (v := EMAIL_DUPLICATED[k])}
    throttle_twice = {k: v for k in throttles if (v := EMAIL_DUPLICATED[k])}
    settles = [n for n, w in enumerate(DAILY_WRITES["notice-day"], start=1) if w == SETTLE]
    assert crash_twice == {f"crash:notice-day:between:{n}:before": 1 for n in settles}
    assert len(throttle_twice) == sends
    assert set(throttle_twice.values()) == {1}
    assert all(k.startswith("throttle:daily-run:persistent:") for k in throttle_twice)
    for kind, count in CREDLY_INJECTED.items():
        assert FAULTS[f"credly:{kind}"] == count
    assert FAULTS["concurrent-delivery"] == THREADS - 1
    assert FAULTS["secret-rotation"] == 2 * len(CALLERS)
    assert FAULTS["bad-signature"] == 4 * FLOOD * len(CALLERS)
    print("\nfaults injected:", dict(sorted(FAULTS.items())), "total", sum(FAULTS.values()))
    print(
        "cases verified:",
        sum(EXPECTED_VERIFIED.values()),
        "| crash positions:",
        len(crashes),
        "| lost e-mails:",
        sum(EMAIL_LOST[k] for k in crashes + throttles),
        "| duplicated e-mails (after SES, before the settle write):",
        sum(crash_twice.values()),
        "at crash positions,",
        sum(throttle_twice.values()),
        "under persistent settle throttling",
    )
