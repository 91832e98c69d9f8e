"""Fault injectors for tests/reliability/test_faults.py, and the ledger that counts every fault.

* ``DynamoThrottle``: a botocore ``before-send`` handler on the process-wide DynamoDB client
  (``shared.aws``) that answers the k-th request attempt (or every attempt from the k-th on) with
  HTTP 400 and a throttling error body, as DynamoDB does. botocore's retry handler (standard mode,
  ``shared/aws.py``) sees a real throttling error and retries it.
* ``Crash``: raises ``ProcessCrash`` (a ``BaseException``: no ``except Exception`` in the code under
  test can swallow it, just as none survives a killed Lambda) before, or just after, the n-th
  side-effecting request (DynamoDB writes, SES sends, S3 puts).
* ``SesThrottle``: answers SES ``SendEmail`` with HTTP 400 ``Throttling`` (SES's "Maximum sending
  rate exceeded") - one attempt of the k-th send (botocore retries it), or every attempt of that send
  (botocore gives up and the daily run sees the ``ClientError``).

In-process moto is itself a ``before-send`` handler (``moto.core.models.botocore_stubber``) and every
handler of the event runs: a fault answered by our handler would still be *executed* by moto behind
it. So for a faulted request the injector mutes moto's stubber and un-mutes it from a handler
registered last - the throttled request really does not happen. Against the moto *server* (the local
stack) the stubber is off anyway and the fault simply short-circuits the HTTP send.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff
from moto.core.models import botocore_stubber

from shared import aws

# kind of fault -> how many were injected in this session (test_faults.py asserts the totals)
FAULTS: Counter[str] = Counter()

THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


class ProcessCrash(BaseException):
    """The Lambda process died here (timeout, OOM, kill): nothing after this point ran."""


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def throttle_response(url: str, code: str) -> AWSResponse:
    """DynamoDB's answer to a throttled request (JSON 1.0 protocol, HTTP 400)."""
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected: rate exceeded"}
    ).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": "injected-fault",
        "Content-Length": str(len(body)),
    }
    return AWSResponse(url, 400, headers, _Body(body))  # type: ignore[arg-type]


def ses_throttle_response(url: str) -> AWSResponse:
    """SES's answer when the sending rate is exceeded (query protocol, HTTP 400, XML)."""
    body = (
        b'<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>'
        b"<Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error>"
        b"<RequestId>injected-fault</RequestId></ErrorResponse>"
    )
    headers = {
        "Content-Type": "text/xml",
        "x-amzn-RequestId": "injected-fault",
        "Content-Length": str(len(body)),
    }
    return AWSResponse(url, 400, headers, _Body(body))  # type: ignore[arg-type]


def _form(request: Any) -> dict[str, list[str]]:
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    return parse_qs(body)


def operation_of(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else str(target)
    return target.rsplit(".", 1)[-1]


@contextmanager
def _muted_moto_for(decide: Callable[[Any], AWSResponse | None], client: Any, event: str) -> Iterator[None]:
    """Register ``decide`` first on ``event``; when it answers, moto's stubber skips that request."""
    muted: list[bool] = []

    def first(request: Any, **_: Any) -> AWSResponse | None:
        response = decide(request)
        if response is not None and botocore_stubber.enabled:
            botocore_stubber.enabled = False
            muted.append(True)
        return response

    def last(**_: Any) -> None:
        if muted:
            muted.clear()
            botocore_stubber.enabled = True

    # botocore calls the handlers of the most specific event name first: moto's stubber is on the
    # generic "before-send", so the un-muting handler goes last on that same generic name.
    client.meta.events.register_first(event, first)
    client.meta.events.register_last("before-send", last)
    try:
        yield
    finally:
        client.meta.events.unregister(event, first)
        client.meta.events.unregister("before-send", last)
        if muted:
            botocore_stubber.enabled = True


@dataclass
class DynamoThrottle:
    """Throttle the k-th DynamoDB request attempt (1-based; retries are attempts too) - only that one
    (``persistent=False``) or every one from it on (``persistent=True``). ``k=0`` counts only."""

    k: int = 0
    code: str = THROTTLE_CODES[0]
    persistent: bool = False
    calls: list[str] = field(default_factory=list)  # operation of every attempt, in order
    injected: int = 0

    def _decide(self, request: Any) -> AWSResponse | None:
        self.calls.append(operation_of(request))
        n = len(self.calls)
        if self.k and (n == self.k or (self.persistent and n > self.k)):
            self.injected += 1
            FAULTS[f"dynamodb:{self.code}"] += 1
            return throttle_response(request.url, self.code)
        return None

    @contextmanager
    def installed(self) -> Iterator[DynamoThrottle]:
        with _muted_moto_for(self._decide, aws.client("dynamodb"), "before-send.dynamodb"):
            yield self


@dataclass
class SesThrottle:
    """Throttle the k-th SES ``SendEmail`` (1-based, counted per call: botocore's retries of one send
    share its ``amz-sdk-invocation-id``) - its first attempt only (``persistent=False``: botocore's
    retry gets through) or every attempt of it (``persistent=True``: the send fails). ``k=0`` counts
    only."""

    k: int = 0
    persistent: bool = False
    sends: list[str] = field(default_factory=list)  # invocation id of every send, in order
    attempts: int = 0
    injected: int = 0

    def _decide(self, request: Any) -> AWSResponse | None:
        if _form(request).get("Action") != ["SendEmail"]:
            return None
        self.attempts += 1
        invocation = request.headers.get("amz-sdk-invocation-id", str(self.attempts))
        invocation = invocation.decode() if isinstance(invocation, bytes) else str(invocation)
        first_attempt = invocation not in self.sends
        if first_attempt:
            self.sends.append(invocation)
        send = self.sends.index(invocation) + 1
        if self.k and send == self.k and (first_attempt or self.persistent):
            self.injected += 1
            FAULTS["ses:Throttling"] += 1
            return ses_throttle_response(request.url)
        return None

    @contextmanager
    def installed(self) -> Iterator[SesThrottle]:
        with _muted_moto_for(self._decide, aws.client("ses"), "before-send.ses"):
            yield self


@dataclass
class Crash:
    """Crash the process at the n-th side-effecting request (1-based) of DynamoDB, SES and S3 -
    ``after=False``: before it is sent (it never happens); ``after=True``: once it was executed, before
    its answer is seen (the lost acknowledgement). ``n=0`` only records the writes."""

    n: int = 0
    after: bool = False
    writes: list[str] = field(default_factory=list)  # "service:Operation" of every write, in order
    recipients: list[str] = field(default_factory=list)  # the To address of every SES send, in order
    fired: bool = False

    def _is_write(self, service: str, request: Any) -> str | None:
        if service == "dynamodb":
            operation = operation_of(request)
            if operation not in WRITE_OPERATIONS:
                return None
            body = json.loads(request.body or b"{}")
            item = body.get("Item") or body.get("Key") or {}
            sort_key = (item.get("sk") or {}).get("S", "")
            return f"{operation}:{sort_key.split('#', 1)[0]}" if sort_key else operation
        if service == "ses":
            form = _form(request)
            if form.get("Action") not in (["SendEmail"], ["SendRawEmail"]):
                return None
            self.recipients.extend(form.get("Destination.ToAddresses.member.1", ["?"]))
            return "SendEmail"
        if service == "s3" and request.method == "PUT":
            return "PutObject"
        return None

    def _before(self, service: str) -> Callable[[Any], AWSResponse | None]:
        def decide(request: Any) -> AWSResponse | None:
            operation = self._is_write(service, request)
            if operation is None:
                return None
            self.writes.append(f"{service}:{operation}")
            if self.n and len(self.writes) == self.n and not self.after:
                self.fired = True
                FAULTS["crash:before-write"] += 1
                raise ProcessCrash(f"crashed before write {self.n} ({service}:{operation})")
            return None

        return decide

    def _after(self, http_response: Any = None, **_: Any) -> None:
        if self.n and self.after and not self.fired and len(self.writes) == self.n:
            self.fired = True
            FAULTS["crash:after-write"] += 1
            raise ProcessCrash(f"crashed after write {self.n} ({self.writes[-1]})")

    @contextmanager
    def installed(self) -> Iterator[Crash]:
        clients = {service: aws.client(service) for service in ("dynamodb", "ses", "s3")}
        with (
            _muted_moto_for(self._before("dynamodb"), clients["dynamodb"], "before-send.dynamodb"),
            _muted_moto_for(self._before("ses"), clients["ses"], "before-send.ses"),
            _muted_moto_for(self._before("s3"), clients["s3"], "before-send.s3"),
        ):
            hooks = [(client, f"response-received.{name}") for name, client in clients.items()]
            for client, event in hooks:
                client.meta.events.register(event, self._after)
            try:
                yield self
            finally:
                for client, event in hooks:
                    client.meta.events.unregister(event, self._after)


@contextmanager
def no_backoff() -> Iterator[list[float]]:
    """botocore's retry delays are recorded, not slept (the attempts themselves still happen)."""
    delays: list[float] = []
    original = ExponentialBackoff.delay_amount

    def recorded(self: ExponentialBackoff, context: Any) -> float:
        delays.append(original(self, context))
        return 0.0

    ExponentialBackoff.delay_amount = recorded  # type: ignore[method-assign]
    try:
        yield delays
    finally:
        ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]


# ---------------------------------------------------------------------- table snapshots


def snapshot(client: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the table, by key (a raw client: no injector sees these reads)."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            items[(item["pk"]["S"], item["sk"]["S"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def restore(
    client: Any,
    table: str,
    items: dict[tuple[str, str], dict[str, Any]],
    current: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> None:
    """Make the table hold exactly ``items`` again (only what differs is written). ``current``: the
    table's items if the caller just read them."""
    current = snapshot(client, table) if current is None else current
    for pk, sk in current.keys() - items.keys():
        client.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    for key, item in items.items():
        if current.get(key) != item:
            client.put_item(TableName=table, Item=item)
