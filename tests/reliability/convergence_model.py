"""Scenarios, delivery schedules and the harness for the convergence property (docs/reliability.md).

A **scenario** is what the outside world sends for one or two members over a few business days:
Stripe events (several event types of one PaymentIntent, full refunds, disputes and disputes won),
xAPI/cmi5 statements (completed/passed/satisfied of one course, and voiding statements), provider
CSV batches (S3 uploads), signed exam results, a recertification application, and the daily run.

The delivery model (what "any permutation with duplicates" means here, and why it is sound):

* Every source event has an **arrival day**: the business date its first copy reaches us. It is part
  of the scenario, so both runs record it on the same day. ``recorded_on`` is an input of the rules
  (R5's late window, "known on" dates): an event that first arrives on another day is a different
  scenario, not a different delivery of the same one. Business timestamps (Stripe ``created``, xAPI
  ``timestamp``, ``completed_on``, ``exam_date``) may lie before the arrival day: late facts are in
  the scenario.
* The **daily run** of a day happens at a fixed position: after the day's deliveries (its 06:00 run
  of the next morning would see exactly these facts). Run B may deliver it twice (a scheduler/Lambda
  retry) right after the first. A final run on ``END`` follows the last day in both runs.
* Opening the recertification application is a member's action, not a delivery: it happens first
  on its day, once, in both runs.
* Within a day, run B delivers the day's events in any order; every event may be delivered again
  at any later point (the same day or a later day: Stripe retries for 3 days, LMSs resend, S3
  redelivers, a provider re-uploads the file). Run B also hands the table stream to
  ``badge_issue`` at arbitrary points (so the consumer sees partial states) and redelivers old
  stream records (the stream is at-least-once too). Both runs drain the stream before and after
  every daily run.

Run A delivers each event once in canonical order. The property: A and B end with the same status,
the same timeline (facts, events, notices, transitions) and the same Credly badges.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote_plus

from moto import mock_aws

from local import template as tpl
from local.fake_credly import FakeCredly
from local.stack import reset_process_caches
from shared import aws
from shared.adapters import files, secrets
from shared.adapters.signatures import sign
from shared.clock import wall_clock_seconds
from shared.config.settings import clear_settings_caches
from shared.services.catalog import CACHE
from tests.ce_ingest.conftest import AU, HOME, PASSWORD, VERBS, basic, statement
from tests.helpers import call_api, invoke
from tests.recertification.streams import StreamTap
from tests.renewal import stripe_payloads as sp

TABLE = "StayCertConvergence"
BUCKET = "staycert-files-convergence"
STRIPE_SECRET_NAME = "StripeWebhookSecretConvergence"
LMS_SECRET_NAME = "staycert/lms-clients-convergence"
EXAM_SECRET = "exam_convergence_secret"
SENDER = "notices@example.org"
TEMPLATES = {"RMA": "tpl-rma"}
CREDLY_TOKEN = "convergence-token"  # the fake Credly's token (not a secret)

# Members: ``ann`` is active (cycle 2023-06-15..2026-06-14, fee anniversaries in June);
# ``bo`` lapsed years ago (RMA 2015, never paid) and recertifies by exam.
ANN, BO = "ann", "bo"
CERTIFIED = {ANN: "2023-06-15", BO: "2015-03-10"}
APPLICATION = f"{BO}.RMA.1"
RECERT_FEE = 12500
ANNUAL_FEE = 5000
# Business days the scenario's deliveries can happen on (around ann's cycle end and fee month).
DAYS = ("2026-05-28", "2026-06-10", "2026-06-16", "2026-07-02")
END = "2026-07-20"
# Courses: two in the catalog, one not (its completions are recorded unmapped).
COURSES = {
    "https://courses.example.org/ccp/c1": 10,
    "https://courses.example.org/ccp/c2": 12,
    "https://courses.example.org/ccp/c3-unmapped": None,
}
ELIGIBLE = {"work": [{"start": "2020-01-01", "end": None, "full_time": True}]}

CHICAGO_NOON_UTC = 17  # 17:00Z is noon in Chicago (CDT): the business date is the calendar date


def stamp(day: str, minute: int = 0) -> int:
    moment = datetime.fromisoformat(day).replace(hour=CHICAGO_NOON_UTC, minute=minute, tzinfo=UTC)
    return int(moment.timestamp())


def shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


# ---------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class Event:
    """One source event: ``kind`` selects the delivery, ``payload`` is what is sent."""

    name: str  # unique within the scenario; shown in falsifying examples
    kind: str  # stripe | xapi | csv | exam
    day: str  # arrival day of the first copy
    payload: Any

    def __repr__(self) -> str:
        return f"<{self.name}@{self.day}>"


@dataclass(frozen=True)
class Scenario:
    days: tuple[str, ...]
    members: tuple[str, ...]
    events: tuple[Event, ...]  # canonical order: by day, then as drawn
    application_day: str | None = None  # bo opens the exam application first thing that day

    def on(self, day: str) -> list[int]:
        return [i for i, e in enumerate(self.events) if e.day == day]

    @property
    def reverses_recertification_fee(self) -> bool:
        """A refund or dispute of bo's recertification fee is delivered (see ``in_force_view``)."""
        return any(e.name.startswith(("refund:pi_bo", "dispute:pi_bo")) for e in self.events)


# Steps of a schedule (plain tuples so falsifying examples print readably):
#   ("deliver", event index[, re-upload a CSV file instead of redelivering its S3 event])
#   | ("drain",) | ("redeliver", seed)
Step = tuple[Any, ...]


@dataclass(frozen=True)
class Schedule:
    """Per scenario day, the steps between opening the application and the fixed daily run."""

    per_day: tuple[tuple[Step, ...], ...]
    daily_twice: tuple[bool, ...]  # run B: the day's daily run is delivered again (a retry)


def canonical(scenario: Scenario) -> Schedule:
    return Schedule(
        per_day=tuple(tuple(("deliver", i) for i in scenario.on(day)) for day in scenario.days),
        daily_twice=tuple(False for _ in scenario.days),
    )


# ---------------------------------------------------------------------- payload builders


def stripe_payment(
    member_id: str,
    pi: str,
    event_type: str,
    paid_on: str,
    purpose: str,
    amount: int,
    invoices: tuple[str, ...] = (),
    currency: str = "usd",
) -> dict[str, Any]:
    meta = sp.metadata(member_id, "RMA", purpose)
    if purpose == "recertification":
        meta["application_id"] = APPLICATION
    if invoices:
        meta["invoices"] = ",".join(invoices)
    created = stamp(paid_on)
    obj: dict[str, Any]
    if event_type == "checkout.session.completed":
        obj = sp.checkout_session(pi=pi, meta=meta, session_id=f"cs_{pi}", created=created)
        obj.update(amount_total=amount, amount_subtotal=amount)
    elif event_type == "payment_intent.succeeded":
        obj = sp.payment_intent(pi=pi, meta=meta, created=created)
        obj.update(amount=amount, amount_received=amount)
    else:  # invoice.paid: keyed on its PaymentIntent, the invoice id is an alias
        obj = sp.invoice(inv=f"in_{pi}", pi=pi, meta=meta)
        obj.update(created=created, amount_due=amount, amount_paid=amount)
    obj["currency"] = currency
    return sp.event(event_type, obj, created=created)


def stripe_refund(pi: str, on: str) -> dict[str, Any]:
    return sp.event(
        "charge.refunded", sp.charge(pi=pi, charge_id=f"ch_{pi}", created=stamp(on)), created=stamp(on)
    )


def stripe_dispute(pi: str, on: str, won: bool) -> dict[str, Any]:
    obj = sp.dispute(pi=pi, status="won" if won else "needs_response", dispute_id=f"dp_{pi}")
    obj.update(created=stamp(on), charge=f"ch_{pi}")
    kind = "charge.dispute.closed" if won else "charge.dispute.created"
    return sp.event(kind, obj, created=stamp(on, 30 if won else 0))


def xapi_statement(
    member_id: str, course: str, verb: str, on: str, minute: int, resend: str = ""
) -> dict[str, Any]:
    """A cmi5 statement with ids derived from its content (so both runs send the same statement):
    AU verbs on the course's own AU, ``satisfied`` on the course. ``resend``: a corrected statement
    the LMS sends again in the same registration (another id)."""
    au = (
        None if verb == "satisfied" else {"objectType": "Activity", "id": f"{AU}/{course.rsplit('/', 1)[-1]}"}
    )
    built = statement(
        verb,
        member_id,
        timestamp=f"{on}T{CHICAGO_NOON_UTC}:{minute:02d}:00Z",
        obj=au,
        course=course,
        statement_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{member_id}/{course}/{verb}{resend}")),
    )
    built["context"]["registration"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{member_id}/{course}"))
    return built


def xapi_void(target: dict[str, Any], on: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"void/{target['id']}")),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": "lms-admin"}},
        "verb": {"id": VERBS["voided"], "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target["id"]},
        "timestamp": f"{on}T{CHICAGO_NOON_UTC}:59:00Z",
    }


def csv_file(name: str, rows: list[tuple[str, str, str, int, str, str]]) -> dict[str, Any]:
    lines = ["member_id,activity_id,completed_on,points,category,certificate_id"]
    lines += [",".join(str(cell) for cell in row) for row in rows]
    return {"key": f"ce-batches/acme/{name}.csv", "body": ("\n".join(lines) + "\n")}


def exam_result(result_id: str, passed: bool, exam_date: str) -> dict[str, Any]:
    return {
        "member_id": BO,
        "credential": "RMA",
        "passed": passed,
        "exam_date": exam_date,
        "result_id": result_id,
    }


# ---------------------------------------------------------------------- the harness


def environment(credly: FakeCredly) -> dict[str, str]:
    """Environment variables for every handler (set once per test; the table is per run)."""
    return {
        "TABLE_NAME": TABLE,
        "BUCKET_NAME": BUCKET,
        "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET_NAME,
        "LMS_CLIENTS_SECRET": LMS_SECRET_NAME,
        "NOTICE_SENDER": SENDER,
        "SES_CONFIGURATION_SET": "",
        "CREDLY_BASE_URL": credly.url,
        "CREDLY_ORGANIZATION_ID": credly.organization_id,
        "CREDLY_BACKOFF_SECONDS": "0",
        "CREDLY_TIMEOUT_SECONDS": "2",
        "BADGE_TEMPLATE_IDS": json.dumps(TEMPLATES),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def _forget_caches() -> None:
    """What handlers cache per process except the AWS clients (same moto account for every run)."""
    from functions.ce_ingest import xapi as xapi_function

    secrets.reset_cache()
    clear_settings_caches()
    CACHE.forget()
    files.reset_default_client()
    xapi_function._authenticators.clear()


@contextmanager
def moto_account() -> Iterator[None]:
    """One in-process moto account for a whole test: the secrets and the SES identity."""
    with mock_aws():
        reset_process_caches()
        secrets_client = aws.client("secretsmanager")
        stripe = {"current": sp.SIGNING_SECRET, "previous": ""}
        secrets_client.create_secret(Name=STRIPE_SECRET_NAME, SecretString=json.dumps(stripe))
        lms = {"clients": {"lms-a": {"homePage": HOME, "passwords": {"current": PASSWORD}}}}
        secrets_client.create_secret(Name=LMS_SECRET_NAME, SecretString=json.dumps(lms))
        secrets_client.create_secret(Name="staycert/credly", SecretString=json.dumps({"token": CREDLY_TOKEN}))
        exam = {"current": EXAM_SECRET, "previous": ""}
        secrets_client.create_secret(Name="staycert/exam-vendor", SecretString=json.dumps(exam))
        aws.client("ses").verify_email_identity(EmailAddress=SENDER)
        try:
            yield
        finally:
            reset_process_caches()


@dataclass
class Outcome:
    status: dict[str, Any]
    timeline: dict[str, list[dict[str, Any]]]
    badges: list[tuple[str, str, str]]  # (recipient, template, state) per badge Credly holds
    recertified: int  # recertified facts across members
    parked: list[dict[str, Any]] = field(default_factory=list)
    invoices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    # GET /recertifications/{id} of every application, compared exactly in every scenario: completion
    # is derived from facts (a reversed fee reopens the application), so it does not depend on order
    applications: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """One delivery of a scenario into a fresh in-process moto account."""

    scenario: Scenario
    credly: FakeCredly
    set_date: Callable[[str], None]
    env: Callable[[str, str], None]
    tap: StreamTap | None = None
    s3: Any = None
    bucket: str = BUCKET
    log: list[str] = field(default_factory=list)
    handed_out: set[str] = field(default_factory=set)  # stream sequence numbers delivered once
    counter: ClassVar[int] = 0

    @contextmanager
    def account(self) -> Iterator[Run]:
        """A fresh table and bucket in the test's moto account (secrets are created once, see
        ``moto_account``): AWS clients stay cached across runs - making them is most of the cost."""
        Run.counter += 1
        table, bucket = f"{TABLE}{Run.counter}", f"{BUCKET}-{Run.counter}"
        self.env("TABLE_NAME", table)
        self.env("BUCKET_NAME", bucket)
        _forget_caches()
        self.credly.badges.clear()
        self.credly.requests.clear()
        dynamodb = aws.client("dynamodb")
        dynamodb.create_table(TableName=table, **tpl.table_definition())
        self.s3 = aws.client("s3")
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.bucket = bucket
        self.tap = StreamTap(dynamodb, table)
        try:
            yield self
        finally:
            dynamodb.delete_table(TableName=table)

    # -- setup

    def roster(self) -> None:
        self.set_date(self.scenario.days[0])
        for member_id in self.scenario.members:
            body = {
                "first_name": member_id.capitalize(),
                "last_name": "Tester",
                "email": f"{member_id}@example.org",
                "certifications": [{"credential": "RMA", "certified_on": CERTIFIED[member_id]}],
            }
            answer = call_api("PUT", f"/members/{member_id}", body)
            assert answer.status == 201, answer.body
        for course, points in COURSES.items():
            if points is None:
                continue
            activity = {
                "activity_id": course,
                "title": course.rsplit("/", 1)[-1],
                "category": "professional_education",
                "points": points,
                "provider_id": "acme",
            }
            answer = call_api("PUT", "/catalog/activities", activity)
            assert answer.status in (200, 201), answer.body

    # -- deliveries

    def deliver(self, event: Event, again: bool = False, reupload: bool = False) -> None:
        reupload = reupload and again and event.kind == "csv"
        self.log.append(f"{'again ' if again else ''}{'re-upload ' if reupload else ''}{event.name}")
        if event.kind == "stripe":
            body, headers = sp.signed(event.payload)
            answer = call_api("POST", "/webhooks/stripe", raw_body=body, headers=headers)
        elif event.kind == "xapi":
            headers = {"authorization": basic(), "x-experience-api-version": "1.0.3"}
            answer = call_api("POST", "/xapi/statements", [event.payload], headers=headers)
        elif event.kind == "exam":
            raw = json.dumps(event.payload).encode()
            header = sign(raw, EXAM_SECRET, wall_clock_seconds())
            answer = call_api("POST", "/exam-results", raw_body=raw, headers={"exam-signature": header})
        elif event.kind == "csv":
            self.upload(event.payload, reupload)
            return
        else:  # pragma: no cover - scenario bug
            raise AssertionError(event.kind)
        assert answer.status == 200, (event, answer.status, answer.body)

    def upload(self, csv: dict[str, Any], reupload: bool) -> None:
        """The first copy (and a re-upload) puts the file; a redelivery repeats the S3 event."""
        bucket = self.bucket
        if reupload or not self.s3.list_object_versions(Bucket=bucket, Prefix=csv["key"]).get("Versions"):
            self.s3.put_object(
                Bucket=bucket, Key=csv["key"], Body=csv["body"].encode(), ContentType="text/csv"
            )
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {
                    "key": quote_plus(csv["key"], safe="/"),
                    "size": len(csv["body"]),
                    "sequencer": "1",
                },
            },
        }
        invoke("CeUploadFunction", {"Records": [record]})

    def open_application(self) -> None:
        body = {"credential": "RMA", "method": "exam", "eligibility": ELIGIBLE}
        answer = call_api("POST", f"/members/{BO}/recertifications", body)
        assert answer.status == 201, answer.body

    def daily(self) -> None:
        self.log.append("daily")
        invoke("DailyFunction", {})

    def fresh_records(self) -> list[dict[str, Any]]:
        """Stream records not handed out yet, read from TRIM_HORIZON each time (a moto shard iterator
        carried from one read to the next was seen to stop returning new records)."""
        assert self.tap is not None
        client, found = self.tap.client, []
        for shard_id in self.tap.iterators:
            iterator = client.get_shard_iterator(
                StreamArn=self.tap.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = client.get_records(ShardIterator=iterator)
                if not response["Records"]:
                    break
                found += response["Records"]
                iterator = response.get("NextShardIterator")
        fresh = [
            {**r, "eventSourceARN": self.tap.arn}
            for r in found
            if r["dynamodb"]["SequenceNumber"] not in self.handed_out
        ]
        self.handed_out.update(r["dynamodb"]["SequenceNumber"] for r in fresh)
        records: list[dict[str, Any]] = json.loads(json.dumps(fresh, default=str))
        self.tap.seen += records
        return records

    def settle(self) -> None:
        """Deliver the stream until the consumer's own writes produce nothing new."""
        assert self.tap is not None
        for _ in range(10):
            batch = self.fresh_records()
            if not batch:
                return
            kinds = [str(r["dynamodb"].get("NewImage", {}).get("kind", {}).get("S", "-")) for r in batch]
            self.log.append(f"stream {','.join(k for k in kinds if k in _STREAMED)}")
            result = self.tap.deliver(batch)
            assert result["batchItemFailures"] == [], result
        raise AssertionError("the stream did not settle")

    def drain(self) -> None:
        assert self.tap is not None
        self.log.append("drain")
        result = self.tap.deliver(self.fresh_records())
        assert result["batchItemFailures"] == [], result

    def redeliver(self, seed: int) -> None:
        """Hand some already delivered stream records to the consumer again."""
        assert self.tap is not None
        seen = self.tap.seen
        if not seen:
            return
        picked = [seen[(seed * 7919 + i * 104729) % len(seen)] for i in range(1 + seed % 4)]
        self.log.append(f"redeliver {len(picked)}")
        result = self.tap.deliver(picked)
        assert result["batchItemFailures"] == [], result

    # -- the whole run

    def play(self, schedule: Schedule) -> Outcome:
        scenario = self.scenario
        with self.account():
            self.roster()
            for index, day in enumerate(scenario.days):
                self.set_date(day)
                self.log.append(f"-- {day}")
                if scenario.application_day == day:
                    self.open_application()
                delivered: set[int] = set()
                for step in schedule.per_day[index]:
                    if step[0] == "deliver":
                        again = step[1] in delivered
                        self.deliver(scenario.events[step[1]], again, reupload=len(step) > 2 and step[2])
                        delivered.add(step[1])
                    elif step[0] == "drain":
                        self.drain()
                    elif step[0] == "redeliver":
                        self.redeliver(step[1])
                self.settle()
                self.daily()
                if schedule.daily_twice[index]:
                    self.daily()
                self.settle()
            self.set_date(END)
            self.log.append(f"-- {END}")
            self.daily()
            self.settle()
            return self.outcome()

    def outcome(self) -> Outcome:
        status: dict[str, Any] = {}
        timeline: dict[str, list[dict[str, Any]]] = {}
        invoices: dict[str, list[dict[str, Any]]] = {}
        for member_id in self.scenario.members:
            invoices[member_id] = call_api("GET", f"/members/{member_id}/invoices").body["invoices"]
            answer = call_api("GET", f"/members/{member_id}/status")
            assert answer.status == 200, answer.body
            status[member_id] = {
                **answer.body,
                "badges": [
                    normalise({"kind": "badge", "data": b})["data"] for b in answer.body.get("badges", [])
                ],
            }
            entries = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
            timeline[member_id] = [normalise(entry) for entry in entries]
        badges = sorted(
            (b["recipient_email"], b["badge_template"]["id"], b["state"]) for b in self.credly.badges.values()
        )
        recertified = sum(1 for entries in timeline.values() for e in entries if e["kind"] == "recertified")
        parked = call_api("GET", "/admin/parked-payments").body["items"]
        exceptions = call_api("GET", "/admin/payment-exceptions").body["items"]
        applications = {
            e["data"]["application_id"]: application_view(e["data"]["application_id"])
            for entries in timeline.values()
            for e in entries
            if e["kind"] == "recert_application"
        }
        return Outcome(status, timeline, badges, recertified, parked, invoices, exceptions, applications)


# Normalised, and why (everything else - fact keys, dates, recorded_on, amounts, points, notices,
# transitions, application and exam events - must be equal):
# * ids Credly makes up (badge ids) differ from run to run by construction;
# * an xAPI statement event says whether *this* statement credited its course or found it already
#   credited ("one course, one credit"): which of completed/passed/satisfied arrived first is the
#   delivery order itself. The outcome is reduced to "course credited once" (rejections, voids and
#   duplicates stay as they are) and the summary to "LMS {verb}: {course}"; the CE fact is compared
#   exactly.
# * a completed application names the passing exam result that completed it: when two passes are
#   recorded on the same day, which one arrived first is the delivery order itself (the completion
#   date, from the day the result was recorded, is compared exactly).
_CREDLY_GENERATED = ("badge_id", "credly_badge_id")
_STREAMED = {
    "recertified",
    "payment",
    "payment_reversal",
    "reversal_withdrawn",
    "transition",
    "audit_drawn",
    "badge",
}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def application_view(application_id: str) -> dict[str, Any]:
    """The application as the API derives it; which of two same-day passing results closed it is the
    delivery order itself (see ``normalise``)."""
    answer = call_api("GET", f"/recertifications/{application_id}")
    assert answer.status == 200, answer.body
    view: dict[str, Any] = answer.body
    if view["application"].get("exam_result_id"):
        view = {**view, "application": {**view["application"], "exam_result_id": "<a passing result>"}}
    return view


def normalise(entry: dict[str, Any]) -> dict[str, Any]:
    data = entry.get("data")
    if entry.get("kind") == "recert_application" and isinstance(data, dict) and data.get("exam_result_id"):
        return {**entry, "data": {**data, "exam_result_id": "<a passing result>"}}
    if entry.get("kind") != "badge":
        return entry
    if isinstance(data, dict):
        data = {k: ("<credly id>" if k in _CREDLY_GENERATED and v else v) for k, v in data.items()}
    return {**entry, "summary": _UUID.sub("<credly id>", str(entry.get("summary"))), "data": data}


# A recertification completed and then taken out of force by a refund or dispute of its fee: the
# badge Credly issued meanwhile cannot be un-issued, so the run that completed before the reversal
# arrived keeps a trail the other run never had: the ``recertified`` record (out of force, or in force
# from a later day than its ``completed_on``), the application closed as completed, and a revoked
# badge (the live one, if restored, is the completion's next ``issue``). What is in force converges:
# status (standing, epoch start, cycle, fees), every other timeline entry, and the live badges. For
# scenarios with such a reversal the comparison is made on that view; ``check_badges_agree`` checks
# the trail itself in both runs (a live badge exactly while a recertification is in force).
_COMPLETION_TRAIL = {"recertified", "recert_application", "badge"}


def _live(badge: dict[str, Any]) -> dict[str, Any] | None:
    if badge.get("state") == "revoked":
        return None
    return {k: v for k, v in badge.items() if k != "issue"}


def in_force_view(outcome: Outcome) -> Outcome:
    timeline = {}
    for member_id, entries in outcome.timeline.items():
        kept = [e for e in entries if e["kind"] not in _COMPLETION_TRAIL]
        for entry in entries:
            live = _live(entry["data"]) if entry["kind"] == "badge" else None
            if live is not None:
                kept.append({**entry, "data": live})
        timeline[member_id] = kept
    status = {
        member_id: {**body, "badges": [b for b in map(_live, body["badges"]) if b is not None]}
        for member_id, body in outcome.status.items()
    }
    badges = [b for b in outcome.badges if b[2] != "revoked"]
    return Outcome(
        status,
        timeline,
        badges,
        outcome.recertified,
        outcome.parked,
        outcome.invoices,
        outcome.exceptions,
        outcome.applications,
    )


def check_badges_agree(outcome: Outcome) -> None:
    """Badge and certificate never disagree: one live badge per member exactly while a
    recertification is in force (the epoch started after the roster date) and not lapsed."""
    for member_id, body in outcome.status.items():
        [cert] = body["certifications"]
        recertified = cert["certified_on"] != CERTIFIED[member_id] and cert["status"] != "lapsed"
        live = [b for b in body["badges"] if b["state"] != "revoked"]
        assert len(live) == (1 if recertified else 0), (member_id, cert, body["badges"])
        for badge in body["badges"]:
            if badge["state"] == "revoked":
                assert badge["revoke_reason"], badge
