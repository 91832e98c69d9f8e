"""``staycert ops``: the on-call tools - redrive a failure queue, replay the daily schedule, inspect a
member - against the local stack (``--local URL``) or a deployed stack (``--stack NAME``, AWS
credentials from the default chain).

Nothing here re-implements a function: every action invokes the deployed function (``lambda:Invoke``,
or the local stack's ``POST /_local/invoke/{function}``) with the event Lambda would have delivered,
so a redrive or a replay runs exactly the code path that failed or was missed.

* ``redrive --queue badge``: each ``BadgeDlq`` message says where a failed batch sits in the table's
  stream (shard, first and last sequence number; the records are not in the message). The records
  are read back from the stream - which keeps them 24 h, hence the queue's age alarm at 6 h - and
  handed to the consumer named in the message. The message is deleted only when every record went
  through; the consumer is idempotent (a badge already recorded is not issued again), so redriving
  twice issues nothing twice.
* ``redrive --queue async``: each ``AsyncFailureQueue`` message is an asynchronous invocation that
  failed (Lambda's on-failure record with the original ``requestPayload``, or the scheduler's
  dead letter with its ``TARGET_ARN``): the same event is invoked again.
* ``replay-daily``: the schedule's function for each date, in order, with ``{"date": D}``. Idempotent
  by design: every notice and transition is recorded under a key of (certification, kind, period)
  before it is sent, so a replay records and sends only what was missed.
* ``inspect member ID``: the members function's own status and timeline answers, printed for a
  terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import boto3
import requests
from botocore.config import Config

from local import template as tpl
from local.events import http_api_event

QUEUES = {"badge": "BadgeDlq", "async": "AsyncFailureQueue"}
RECEIVE_BATCH = 10  # SQS ReceiveMessage maximum


class OpsError(RuntimeError):
    """A target or an invocation failed in a way the operator must see."""


class Target(Protocol):
    """Where the stack runs: AWS clients, physical ids of the template's resources, invocation."""

    def client(self, service: str) -> Any: ...

    def physical_id(self, logical_id: str) -> str: ...

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke ``function`` (a physical name or ARN) synchronously; its result, or OpsError."""
        ...


@dataclass
class LocalTarget:
    """The local stack (``staycert up``): AWS APIs on its moto endpoint, functions through its gateway."""

    url: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.info = requests.get(f"{self.url}/_local/info", timeout=30).json()

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.info["endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's placeholder credentials
        )

    def physical_id(self, logical_id: str) -> str:
        refs: dict[str, str] = self.info["refs"]
        return refs.get(f"{logical_id}.QueueUrl") or refs.get(logical_id) or logical_id

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        name = function.split(":")[6] if function.startswith("arn:") else function
        answer = requests.post(f"{self.url}/_local/invoke/{quote(name)}", json=event, timeout=900)
        if answer.status_code != 200:
            raise OpsError(f"{name}: {answer.status_code} {answer.text}")
        body = answer.json()
        if "FunctionError" in body:
            raise OpsError(f"{name} failed: {body['FunctionError']}: {body.get('errorMessage')}")
        return body["Payload"]


@dataclass
class AwsTarget:
    """A deployed stack: resources from CloudFormation, credentials from the default chain."""

    stack_name: str
    region: str | None = None
    _resources: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        # the daily run may take its whole 900 s timeout: wait for it
        config = Config(read_timeout=910, retries={"max_attempts": 0}) if service == "lambda" else None
        return boto3.client(service, region_name=self.region, config=config)  # type: ignore[call-overload]

    def physical_id(self, logical_id: str) -> str:
        if not self._resources:
            pages = self.client("cloudformation").get_paginator("list_stack_resources")
            for page in pages.paginate(StackName=self.stack_name):
                for summary in page["StackResourceSummaries"]:
                    self._resources[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
        if logical_id not in self._resources:
            raise OpsError(f"stack {self.stack_name} has no resource {logical_id}")
        return self._resources[logical_id]

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        response = self.client("lambda").invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise OpsError(f"{function} failed: {payload}")
        return payload


# ---------------------------------------------------------------------- redrive


@dataclass
class Redriven:
    message_id: str
    what: str
    outcome: str  # redriven | would redrive | failed: ... | expired: ... | unrecognised


def _messages(target: Target, queue_url: str, limit: int) -> Iterator[dict[str, Any]]:
    """Up to ``limit`` messages, each received once (kept invisible while we work on it)."""
    sqs = target.client("sqs")
    seen: set[str] = set()
    while len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_BATCH, limit - len(seen)),
            MessageAttributeNames=["All"],
            VisibilityTimeout=900,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        for again in (m for m in batch if m["MessageId"] in seen):  # released earlier: leave it be
            _release(target, queue_url, again)
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def _release(target: Target, queue_url: str, message: dict[str, Any]) -> None:
    """Back on the queue at once (a dry run, or a message we could not redrive)."""
    target.client("sqs").change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def stream_records(target: Target, batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a failed stream batch, read back from the table's stream, shaped as Lambda
    delivers them (with ``eventSourceARN``)."""
    streams = target.client("dynamodbstreams")
    first, last = int(batch["startSequenceNumber"]), int(batch["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch["streamArn"],
            ShardId=batch["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch["startSequenceNumber"],
        )["ShardIterator"]
    except streams.exceptions.TrimmedDataAccessException:
        return []
    except streams.exceptions.ResourceNotFoundException:
        return []
    found: list[dict[str, Any]] = []
    while iterator:
        response = streams.get_records(ShardIterator=iterator)
        records = response.get("Records", [])
        for record in records:
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if first <= sequence <= last:
                found.append({**record, "eventSourceARN": batch["streamArn"]})
        if not records or int(records[-1]["dynamodb"]["SequenceNumber"]) >= last:
            break
        iterator = response.get("NextShardIterator")
    delivered: list[dict[str, Any]] = json.loads(json.dumps(found, default=str))  # datetimes as JSON
    return delivered


def _describe(record: dict[str, Any]) -> str:
    """Ids only (member id, item kind, sequence) - never names or addresses."""
    image = record.get("dynamodb", {}).get("NewImage", {})
    member = str(image.get("pk", {}).get("S", "?")).removeprefix("MEMBER#")
    kind = image.get("kind", {}).get("S", "?")
    return f"{kind} of {member} (sequence {record['dynamodb']['SequenceNumber']})"


def redrive(target: Target, queue: str, *, dry_run: bool = False, limit: int = 100) -> list[Redriven]:
    queue_url = target.physical_id(QUEUES[queue])
    done: list[Redriven] = []
    for message in _messages(target, queue_url, limit):
        body = json.loads(message["Body"])
        plan = _badge_plan(target, body) if queue == "badge" else _async_plan(message, body)
        if isinstance(plan, str):  # nothing to invoke: say why, leave the message for a person
            _release(target, queue_url, message)
            done.append(Redriven(message["MessageId"], "-", plan))
            continue
        function, event, what = plan
        if dry_run:
            _release(target, queue_url, message)
            done.append(Redriven(message["MessageId"], what, "would redrive"))
            continue
        try:
            result = target.invoke(function, event)
        except OpsError as error:
            _release(target, queue_url, message)
            done.append(Redriven(message["MessageId"], what, f"failed: {error}"))
            continue
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if failures:
            _release(target, queue_url, message)
            done.append(
                Redriven(message["MessageId"], what, f"failed: {len(failures)} record(s) still failing")
            )
            continue
        target.client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        done.append(Redriven(message["MessageId"], what, "redriven"))
    return done


Plan = tuple[str, dict[str, Any], str] | str


def _badge_plan(target: Target, body: dict[str, Any]) -> Plan:
    batch = body.get("DDBStreamBatchInfo")
    function = body.get("requestContext", {}).get("functionArn")
    if not isinstance(batch, dict) or not function:
        return "unrecognised: not a stream on-failure record"
    records = stream_records(target, batch)
    if not records:
        return (
            "expired: the records are no longer in the stream (24 h); see docs/operations.md#badgedlq "
            f"(shard {batch.get('shardId')}, sequence {batch.get('startSequenceNumber')})"
        )
    return function, {"Records": records}, "; ".join(_describe(r) for r in records)


def _async_plan(message: dict[str, Any], body: dict[str, Any]) -> Plan:
    context = body.get("requestContext") if isinstance(body, dict) else None
    if isinstance(context, dict) and context.get("functionArn") and "requestPayload" in body:
        function = ":".join(str(context["functionArn"]).split(":")[:7])  # without a version qualifier
        return function, body["requestPayload"], f"{context.get('condition', 'failed')} {function}"
    scheduler_target = message.get("MessageAttributes", {}).get("TARGET_ARN", {}).get("StringValue")
    if scheduler_target:  # EventBridge Scheduler dead letter: the body is the schedule's input
        return scheduler_target, body if isinstance(body, dict) else {}, f"schedule -> {scheduler_target}"
    return "unrecognised: neither a Lambda on-failure record nor a scheduler dead letter"


# ---------------------------------------------------------------------- replay


def days(first: date, last: date) -> list[date]:
    if last < first:
        raise OpsError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def replay_daily(target: Target, first: date, last: date) -> list[dict[str, Any]]:
    """Run the schedule's function for each date in order; its summaries (what was newly recorded)."""
    scheduled = [function.logical_id for function, _ in tpl.functions_with_event("ScheduleV2")]
    results = []
    for day in days(first, last):
        for logical_id in scheduled:
            result = target.invoke(
                target.physical_id(logical_id), {"date": day.isoformat(), "source": "replay"}
            )
            results.append({"function": logical_id, **(result or {})})
    return results


# ---------------------------------------------------------------------- migration


def backfill_recorded_index(target: Target) -> int:
    """Give every member-partition item the ``rec_sk`` this version computes (the status read and the
    daily run find facts, certifications, badges and open applications only through RecordedIndex):
    items written before the index existed have none, and badges written before the badges and open
    applications moved behind the header items have the old key. One Scan of the member items
    (paginated) and one conditional UpdateItem per item whose key differs; idempotent, and safe while
    the system runs (writers already set the current key). Returns the items updated."""
    from shared.store import keys

    client = target.client("dynamodb")
    table = target.physical_id("StayCertTable")
    updated = 0
    pages = client.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(#pk, :member)",
        ProjectionExpression="#pk, #sk, #rec, #body.#recorded, #body.#data.#status",
        ExpressionAttributeNames={
            "#pk": keys.PK,
            "#sk": keys.SK,
            "#rec": keys.RECORDED_SK,
            "#body": "body",
            "#recorded": "recorded_on",
            "#data": "data",
            "#status": "status",
        },
        ExpressionAttributeValues={":member": {"S": keys.member_pk("")}},
    )
    for page in pages:
        for item in page["Items"]:
            body = item.get("body", {}).get("M", {})
            recorded = body.get("recorded_on", {}).get("S")
            status = body.get("data", {}).get("M", {}).get("status", {}).get("S")
            index_sk = keys.recorded_index_sk(item[keys.SK]["S"], recorded, status)
            if index_sk is None or item.get(keys.RECORDED_SK, {}).get("S") == index_sk:
                continue
            client.update_item(
                TableName=table,
                Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]},
                UpdateExpression="SET #rec = :rec",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#rec": keys.RECORDED_SK, "#pk": keys.PK},
                ExpressionAttributeValues={":rec": {"S": index_sk}},
            )
            updated += 1
    return updated


# ---------------------------------------------------------------------- inspect


def _api_get(target: Target, path_template: str, member_id: str) -> Any:
    route = next(r for r in tpl.routes() if r.method == "GET" and r.path == path_template)
    path = path_template.replace("{member_id}", quote(member_id, safe=""))
    event = http_api_event(route, path, {"member_id": member_id})
    answer = target.invoke(target.physical_id(route.function), event)
    if int(answer.get("statusCode", 500)) != 200:
        raise OpsError(f"GET {path}: {answer.get('statusCode')} {answer.get('body')}")
    return json.loads(answer["body"])


def inspect_member(target: Target, member_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The members function's status and timeline answers for one member."""
    return (
        _api_get(target, "/members/{member_id}/status", member_id),
        _api_get(target, "/members/{member_id}/timeline", member_id),
    )


def format_member(status: dict[str, Any], timeline: dict[str, Any]) -> list[str]:
    lines = [f"member {status['member_id']} as of {status['as_of']}"]
    for cert in status["certifications"]:
        reasons = ", ".join(cert["reasons"]) or "-"
        lapsed = f", lapsed {cert['lapsed_on']}" if cert.get("lapsed_on") else ""
        lines.append(
            f"  {cert['credential']}: {cert['status']} (certified {cert['certified_on']}{lapsed}; reasons: {reasons})"
        )
    for badge in status.get("badges", []):
        lines.append(f"  badge {badge.get('badge_id') or '-'} {badge['credential']}: {badge['state']}")
    lines.append("timeline:")
    for entry in timeline["entries"]:
        credential = f" [{entry['credential']}]" if entry.get("credential") else ""
        lines.append(f"  {entry['on']}  {entry['kind']}{credential}  {entry['summary']}")
    return lines


def print_lines(lines: list[str], out: Callable[[str], None] = print) -> None:
    for line in lines:
        out(line)
