"""The bad-input corpus (docs/reliability.md): named hostile or broken inputs on every channel, each with
its documented outcome.

A case is a function over a :class:`World` (in-process moto with every secret, the files bucket, a
member with a catalog course and a fake Credly). It arranges what it needs, calls ``w.mark()`` to
snapshot the whole table (Scan) and the bucket listing, sends its input through the real handler
(routed by template.yaml), and asserts the exact outcome. Unless the case declares the writes its
documented outcome makes (``w.expect_writes``), the test asserts that nothing at all was written, and
every HTTP answer is checked for 5xx.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import quote_plus

from local import template as tpl
from local.events import http_api_event, route_for, s3_object_created_event
from shared.adapters.signatures import sign
from shared.clock import wall_clock_seconds
from tests.ce_ingest.conftest import COURSE, basic, cmi5_sequence, statement
from tests.helpers import HttpResult, call_api, invoke, lambda_context
from tests.recertification.fixtures import EXAM_SECRET, Env, recertify
from tests.renewal import stripe_payloads as sp

Channel = Literal["http", "s3", "stream"]
BUCKET = "staycert-files-test"
STRIPE_SECRET = "StripeWebhookSecretTest"
LMS_SECRET = "staycert/lms-clients-test"
LMS_PASSWORD = "s3cret-current"
STRIPE_CURRENT = "whsec_test_current"
STRIPE_PREVIOUS = "whsec_test_previous"
STRIPE_RETIRED = "whsec_test_retired"  # rotated out two rotations ago: in neither slot any more
SENDER = "notices@example.org"
TODAY = "2024-03-20"
PDF = b"%PDF-1.7\n" + b"0" * 100
CSV_HEADER = "member_id,activity_id,completed_on,points,category,certificate_id\n"
GOOD_ROW = "{m},https://acme.example.org/a,2023-05-01,2,professional_education,C-1\n"
GOOD_ROW_2 = "{m},https://acme.example.org/b,2023-06-01,1.5,formal_education,C-2\n"


# ---------------------------------------------------------------------- the world a case runs in


Item = dict[str, Any]


def _item_id(item: Item) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


@dataclass
class Snapshot:
    items: dict[tuple[str, str], Item]
    objects: dict[str, str]  # key -> ETag


@dataclass
class Writes:
    """What changed between ``w.mark()`` and the end of the case."""

    added: list[Item]
    changed: list[Item]
    removed: list[Item]
    s3_added: list[str]
    s3_removed: list[str]
    s3_changed: list[str]

    def nothing(self) -> bool:
        return not (
            self.added or self.changed or self.removed or self.s3_added or self.s3_removed or self.s3_changed
        )

    def describe(self) -> str:
        return (
            f"table +{[_item_id(i) for i in self.added]} ~{[_item_id(i) for i in self.changed]} "
            f"-{[_item_id(i) for i in self.removed]}; s3 +{self.s3_added} ~{self.s3_changed} "
            f"-{self.s3_removed}"
        )


@dataclass
class World:
    env: Env
    responses: list[HttpResult] = field(default_factory=list)
    set_date: Callable[[str], None] = lambda day: None
    before: Snapshot | None = None
    writes_checked: bool = False
    credly_before: int = 0
    _s3: Any = None
    baseline: Snapshot | None = None
    members: ClassVar[int] = 0

    @property
    def dynamodb(self) -> Any:
        return self.env.aws["dynamodb"]

    @property
    def table(self) -> str:
        return str(self.env.aws["table"])

    @property
    def s3(self) -> Any:
        if self._s3 is None:  # one client for the world: creating one costs more than a request
            import boto3

            self._s3 = boto3.client("s3", region_name="us-east-1")
        return self._s3

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> Snapshot:
        items: dict[tuple[str, str], Item] = {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                items[_item_id(item)] = item
        objects: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                objects[obj["Key"]] = obj["ETag"]
        return Snapshot(items, objects)

    def mark(self) -> None:
        """Everything arranged: from here on, every write must be one the case expects."""
        self.before = self.snapshot()
        self.credly_before = len(self.env.credly.requests)

    def credly_calls(self) -> list[Any]:
        """Requests Credly received since ``mark``."""
        return list(self.env.credly.requests[self.credly_before :])

    def fresh_member(self, certified_on: str = "2022-01-10") -> str:
        """A member of its own for a case that checks credit (cases share one world)."""
        World.members += 1
        member_id = f"mb-{World.members}"
        body = {
            "first_name": "Ana",
            "last_name": member_id,
            "email": f"{member_id}@example.org",
            "certifications": [{"credential": "RMA", "certified_on": certified_on}],
        }
        assert call_api("PUT", f"/members/{member_id}", body).status == 201
        return member_id

    def writes(self) -> Writes:
        assert self.before is not None, "the case never called w.mark()"
        after = self.snapshot()
        old, new = self.before.items, after.items
        return Writes(
            added=[new[k] for k in sorted(new.keys() - old.keys())],
            changed=[new[k] for k in sorted(new.keys() & old.keys()) if new[k] != old[k]],
            removed=[old[k] for k in sorted(old.keys() - new.keys())],
            s3_added=sorted(after.objects.keys() - self.before.objects.keys()),
            s3_removed=sorted(self.before.objects.keys() - after.objects.keys()),
            s3_changed=sorted(
                k
                for k in after.objects.keys() & self.before.objects.keys()
                if after.objects[k] != self.before.objects[k]
            ),
        )

    def restore(self, baseline: Snapshot) -> None:
        """Put the table back as it was at ``baseline`` (between cases: every Scan stays small)."""
        now = self.snapshot().items
        deletes = [
            {"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}}
            for k, i in now.items()
            if k not in baseline.items
        ]
        puts = [{"PutRequest": {"Item": i}} for k, i in baseline.items.items() if now.get(k) != i]
        requests = deletes + puts
        for start in range(0, len(requests), 25):
            self.dynamodb.batch_write_item(RequestItems={self.table: requests[start : start + 25]})

    def expect_writes(self, check: Callable[[Writes], None]) -> Writes:
        """The documented writes of an accepted/parked/quarantined input (``check`` asserts them)."""
        changes = self.writes()
        check(changes)
        self.writes_checked = True
        return changes

    def assert_nothing_written(self) -> None:
        changes = self.writes()
        assert changes.nothing(), f"input was rejected but something was written: {changes.describe()}"

    # ------------------------------------------------------------------ channels

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> HttpResult:
        response = call_api(method, path, body, headers=headers, raw_body=raw)
        self.responses.append(response)
        return response

    def http_event(self, method: str, path: str, mutate: Callable[[dict[str, Any]], None]) -> HttpResult:
        """An API Gateway event edited by ``mutate`` (e.g. a base64 flag) before the handler sees it."""
        route, params = route_for(method, path)
        event = http_api_event(route, path, params, headers={"content-type": "application/json"}, body=b"")
        mutate(event)
        return self.handle(route, event)

    def handle(self, route: Any, event: dict[str, Any]) -> HttpResult:
        """Hand an API Gateway event to ``route``'s handler; the answer is kept for the 5xx check."""
        function = tpl.functions()[route.function]
        handler = getattr(__import__(function.module, fromlist=[function.attribute]), function.attribute)
        answer = handler(event, lambda_context(route.function))
        text = answer.get("body") or ""
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        result = HttpResult(int(answer["statusCode"]), answer.get("headers") or {}, parsed, text)
        self.responses.append(result)
        return result

    def stripe(self, payload: dict[str, Any] | bytes, **sign_with: Any) -> HttpResult:
        body, headers = sp.signed(payload, **sign_with)
        return self.http("POST", "/webhooks/stripe", headers=headers, raw=body)

    def xapi(
        self,
        body: Any = None,
        *,
        raw: bytes | None = None,
        auth: str | None = "default",
        version: str | None = "1.0.3",
    ) -> HttpResult:
        headers: dict[str, str] = {}
        if auth is not None:
            headers["authorization"] = basic("lms-a", LMS_PASSWORD) if auth == "default" else auth
        if version is not None:
            headers["x-experience-api-version"] = version
        return self.http("POST", "/xapi/statements", body, headers=headers, raw=raw)

    def exam(self, body: Any, *, secret: str = EXAM_SECRET, header: str | None = "sign") -> HttpResult:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {} if header is None else {"exam-signature": header}
        if header == "sign":
            headers["exam-signature"] = sign(raw, secret, wall_clock_seconds())
        return self.http("POST", "/exam-results", headers=headers, raw=raw)

    def upload(
        self, key: str, body: bytes, content_type: str = "text/csv", *, event_key: str | None = None
    ) -> Any:
        """Put the object (not a write under test: done before ``mark``), then nothing; call ``s3_event``."""
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)
        return event_key if event_key is not None else quote_plus(key, safe="/")

    def s3_event(self, encoded_key: str, size: int = 0) -> dict[str, Any]:
        """The S3 ObjectCreated event Lambda receives, with the key exactly as encoded here."""
        event = s3_object_created_event(BUCKET, "", size, encoded_key=encoded_key)
        result: dict[str, Any] = invoke("CeUploadFunction", event)
        return result

    def stream(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = invoke("BadgeIssueFunction", {"Records": records})
        return result

    # ------------------------------------------------------------------ reads (never writes)

    def result_file(self, key: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        return loaded

    def earned(self, member_id: str = "m-1") -> float:
        status = call_api("GET", f"/members/{member_id}/status")
        assert status.status == 200, status.body
        return float(status.body["certifications"][0]["ccp"]["earned"])

    def quarantine_record(self, original_key: str) -> dict[str, Any]:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": f"QUARANTINE#{original_key}"}, "sk": {"S": "QUARANTINE"}}
        )["Item"]
        body: dict[str, Any] = json.loads(item["body"]["S"]) if "S" in item["body"] else item["body"]
        return body


# ---------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    id: str
    channel: Channel
    expected: str  # the documented outcome, in words (the report's table)
    run: Callable[[World], None]


CASES: list[Case] = []


def case(
    case_id: str, channel: Channel, expected: str
) -> Callable[[Callable[[World], None]], Callable[[World], None]]:
    def register(run: Callable[[World], None]) -> Callable[[World], None]:
        assert case_id not in {c.id for c in CASES}, f"duplicate case id {case_id}"
        CASES.append(Case(case_id, channel, expected, run))
        return run

    return register


def _empty(changes: Writes, *names: str) -> None:
    """The named kinds of change did not happen (the others are the case's to check)."""
    for name in names:
        assert getattr(changes, name) == [], f"{name}: {changes.describe()}"


def refused(response: HttpResult, status: int, error: str | None = None, field_: str | None = None) -> None:
    """An HTTP refusal: the exact status, and the error code / field path in the body."""
    assert response.status == status, (response.status, response.body)
    assert isinstance(response.body, dict), response.body
    if error is not None:
        assert response.body.get("error") == error, response.body
    if field_ is not None:
        fields = [p.get("field") for p in response.body.get("problems", [])] + [response.body.get("field")]
        assert field_ in fields, response.body


def pi_event(pi: str = "pi_bad", **overrides: Any) -> dict[str, Any]:
    obj = sp.payment_intent(pi)
    obj.update(overrides)
    return sp.event("payment_intent.succeeded", obj)


# ---------------------------------------------------------------- HTTP: Stripe webhook


def _stripe_refused(
    w: World, headers: dict[str, str], status: int, error: str, body: bytes | None = None
) -> HttpResult:
    raw = body if body is not None else json.dumps(pi_event()).encode()
    w.mark()
    response = w.http("POST", "/webhooks/stripe", headers=headers, raw=raw)
    refused(response, status, error)
    return response


@case("stripe-bad-signature", "http", "401 bad_signature")
def _stripe_bad_signature(w: World) -> None:
    body = json.dumps(pi_event()).encode()
    _stripe_refused(w, sp.signed(body, secret="whsec_someone_else")[1], 401, "bad_signature", body)


@case("stripe-stale-signature", "http", "401 bad_signature (timestamp 301 s old)")
def _stripe_stale(w: World) -> None:
    body = json.dumps(pi_event()).encode()
    headers = sp.signed(body, timestamp=int(time.time()) - 301)[1]
    response = _stripe_refused(w, headers, 401, "bad_signature", body)
    assert "tolerance" in response.body["message"] or "old" in response.body["message"], response.body


@case("stripe-future-signature", "http", "401 bad_signature (timestamp an hour ahead)")
def _stripe_future(w: World) -> None:
    body = json.dumps(pi_event()).encode()
    _stripe_refused(w, sp.signed(body, timestamp=int(time.time()) + 3600)[1], 401, "bad_signature", body)


@case("stripe-rotated-out-secret", "http", "401 bad_signature (secret in neither current nor previous)")
def _stripe_rotated_out(w: World) -> None:
    body = json.dumps(pi_event()).encode()
    _stripe_refused(w, sp.signed(body, secret=STRIPE_RETIRED)[1], 401, "bad_signature", body)


@case("stripe-missing-signature-header", "http", "400 bad_signature_header")
def _stripe_missing_header(w: World) -> None:
    _stripe_refused(w, {}, 400, "bad_signature_header")


@case("stripe-malformed-signature-header", "http", "400 bad_signature_header (t=abc)")
def _stripe_malformed_header(w: World) -> None:
    _stripe_refused(w, {"Stripe-Signature": "t=abc,v1=00"}, 400, "bad_signature_header")


@case("stripe-tampered-amount", "http", "401 bad_signature (body changed after signing)")
def _stripe_tampered(w: World) -> None:
    body, headers = sp.signed(pi_event())
    tampered = body.replace(b'"amount_received": 5000', b'"amount_received": 1')
    assert tampered != body
    _stripe_refused(w, headers, 401, "bad_signature", tampered)


@case("stripe-body-over-limit", "http", "413 payload_too_large (64 KiB + 1, before the HMAC)")
def _stripe_oversize(w: World) -> None:
    event = pi_event()
    event["data"]["object"]["description"] = "x" * (64 * 1024)
    body, headers = sp.signed(event)  # correctly signed: size is refused first anyway
    _stripe_refused(w, headers, 413, "payload_too_large", body)


@case("stripe-broken-base64", "http", "400 malformed_body (isBase64Encoded with broken base64)")
def _stripe_broken_base64(w: World) -> None:
    w.mark()

    def mutate(event: dict[str, Any]) -> None:
        event["headers"]["stripe-signature"] = sp.signed(b"{}")[1]["Stripe-Signature"]
        event.update(body="!!!not base64!!!", isBase64Encoded=True)

    refused(w.http_event("POST", "/webhooks/stripe", mutate), 400, "malformed_body")


@case("stripe-invalid-json", "http", "400 malformed_event 'invalid JSON' (signed)")
def _stripe_invalid_json(w: World) -> None:
    w.mark()
    response = w.stripe(b'{"id": "evt_1", "type": ')
    refused(response, 400, "malformed_event")
    assert response.body["message"] == "invalid JSON"


@case("stripe-wrong-shape", "http", "400 malformed_event (JSON array, signed)")
def _stripe_wrong_shape(w: World) -> None:
    w.mark()
    response = w.stripe(b'[{"id": "evt_1", "type": "invoice.paid"}]')
    refused(response, 400, "malformed_event")
    assert "JSON object" in response.body["message"]


@case("stripe-event-without-object", "http", "400 malformed_event (data.object missing)")
def _stripe_no_object(w: World) -> None:
    w.mark()
    response = w.stripe({"id": "evt_1", "type": "invoice.paid", "data": {}})
    refused(response, 400, "malformed_event")
    assert "data.object" in response.body["message"]


@case("stripe-unknown-event-type", "http", "200 ignored, nothing written")
def _stripe_unknown_type(w: World) -> None:
    w.mark()
    response = w.stripe(
        sp.event("customer.subscription.trial_will_end", {"id": "sub_1", "metadata": sp.metadata()})
    )
    assert (response.status, response.body) == (200, {"result": "ignored"})


@case("stripe-created-out-of-range", "http", "400 malformed_event (object.created in year 10000)")
def _stripe_created_out_of_range(w: World) -> None:
    w.mark()
    response = w.stripe(pi_event(created=253_402_300_800))
    refused(response, 400, "malformed_event")
    assert "created" in response.body["message"]


def _only_parked(key: str) -> Callable[[Writes], None]:
    def check(changes: Writes) -> None:
        _empty(changes, "changed", "removed", "s3_added")
        assert changes.added, "a parked payment is recorded for staff"
        assert all(key in json.dumps(i) for i in changes.added), changes.describe()
        assert all(not i["pk"]["S"].startswith("MEMBER#m-1") for i in changes.added), changes.describe()

    return check


@case("stripe-negative-amount", "http", "200 parked 'amount missing'; fee not credited")
def _stripe_negative_amount(w: World) -> None:
    w.mark()
    response = w.stripe(pi_event("pi_neg", amount=-5000, amount_received=-5000))
    assert (response.status, response.body) == (200, {"result": "parked"})
    w.expect_writes(_only_parked("pi_neg"))
    [parked] = [
        p for p in call_api("GET", "/admin/parked-payments").body["items"] if p["payment_key"] == "pi_neg"
    ]
    assert "amount" in parked["reason"]
    assert call_api("GET", "/members/m-1/status").body["certifications"][0]["fees"]["fees_paid"] == 0


@case(
    "stripe-huge-amount",
    "http",
    "200 parked 'amount over 99999999' (10^40 cents; was a 500: DynamoDB number overflow); nothing credited",
)
def _stripe_huge_amount(w: World) -> None:
    w.mark()
    response = w.stripe(pi_event("pi_huge", amount=10**40, amount_received=10**40))
    assert (response.status, response.body) == (200, {"result": "parked"})
    w.expect_writes(_only_parked("pi_huge"))
    listed = call_api("GET", "/admin/parked-payments").body["items"]
    assert [p["reason"] for p in listed if p["payment_key"] == "pi_huge"] == [
        "amount over 99999999 (not a real payment)"
    ]
    assert call_api("GET", "/members/m-1/status").body["certifications"][0]["fees"]["fees_paid"] == 0


@case("stripe-unknown-member", "http", "200 parked (listed at /admin/parked-payments); no member written")
def _stripe_unknown_member(w: World) -> None:
    w.mark()
    response = w.stripe(
        sp.event("payment_intent.succeeded", sp.payment_intent("pi_ghost", meta=sp.metadata("ghost")))
    )
    assert (response.status, response.body) == (200, {"result": "parked"})
    w.expect_writes(_only_parked("pi_ghost"))
    listed = call_api("GET", "/admin/parked-payments").body["items"]
    assert [p["member_id"] for p in listed if p["payment_key"] == "pi_ghost"] == ["ghost"]


@case("stripe-unknown-credential", "http", "200 parked (credential ZZZ not held); fee not credited")
def _stripe_unknown_credential(w: World) -> None:
    w.mark()
    meta = sp.metadata(credential="ZZZ")
    response = w.stripe(sp.event("payment_intent.succeeded", sp.payment_intent("pi_zzz", meta=meta)))
    assert (response.status, response.body) == (200, {"result": "parked"})
    w.expect_writes(_only_parked("pi_zzz"))
    assert call_api("GET", "/members/m-1/status").body["certifications"][0]["fees"]["fees_paid"] == 0


# ---------------------------------------------------------------- HTTP: LMS xAPI


@case("xapi-missing-basic-auth", "http", "401 unauthorized + WWW-Authenticate")
def _xapi_no_auth(w: World) -> None:
    w.mark()
    response = w.xapi(cmi5_sequence(), auth=None)
    refused(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@case("xapi-wrong-password", "http", "401 unauthorized")
def _xapi_wrong_password(w: World) -> None:
    w.mark()
    refused(w.xapi(cmi5_sequence(), auth=basic("lms-a", "guess")), 401, "unauthorized")


@case("xapi-missing-version-header", "http", "400 unsupported_version")
def _xapi_no_version(w: World) -> None:
    w.mark()
    refused(w.xapi(cmi5_sequence(), version=None), 400, "unsupported_version")


@case("xapi-invalid-json", "http", "400 validation_failed, field body")
def _xapi_invalid_json(w: World) -> None:
    w.mark()
    refused(w.xapi(raw=b'[{"id": '), 400, "validation_failed", "body")


@case("xapi-wrong-shape", "http", "400 validation_failed, statements[0] must be a JSON object")
def _xapi_wrong_shape(w: World) -> None:
    w.mark()
    response = w.xapi(["completed"])
    refused(response, 400, "validation_failed", "statements[0]")
    assert response.body["problems"] == [{"field": "statements[0]", "reason": "must be a JSON object"}]


@case("xapi-extra-field", "http", "400 validation_failed naming statements[0].score (not an xAPI property)")
def _xapi_extra_field(w: World) -> None:
    w.mark()
    bad = {**statement("completed"), "score": 100}
    response = w.xapi(bad)
    refused(response, 400, "validation_failed", "statements[0].score")


@case(
    "xapi-one-bad-statement-in-array",
    "http",
    "400 naming only statements[1].verb; the array is rejected whole (documented), nothing written",
)
def _xapi_one_bad(w: World) -> None:
    member_id = w.fresh_member()
    good = cmi5_sequence(member_id)
    bad = copy.deepcopy(good[3])
    bad["id"] = str(uuid.uuid4())
    del bad["verb"]
    w.mark()
    response = w.xapi([good[2], bad, good[4]])
    refused(response, 400, "validation_failed")
    assert [p["field"] for p in response.body["problems"]] == ["statements[1].verb"]
    assert w.earned(member_id) == 0
    # nothing of the good statements was lost for good: the LMS's corrected resend credits them
    w.assert_nothing_written()
    assert w.xapi([good[2], good[4]]).status == 200
    assert w.earned(member_id) == 3
    w.writes_checked = True


@case("xapi-body-over-limit", "http", "413 payload_too_large (1 MiB + 1)")
def _xapi_oversize(w: World) -> None:
    w.mark()
    refused(w.xapi(raw=b"[" + b" " * (1024 * 1024) + b"]"), 413, "payload_too_large")


@case("xapi-too-many-statements", "http", "400 validation_failed 'at most 100 statements per request'")
def _xapi_too_many(w: World) -> None:
    w.mark()
    response = w.xapi([statement("completed") for _ in range(101)])
    refused(response, 400, "validation_failed", "statements")
    assert "at most 100" in response.body["problems"][0]["reason"]


def _xapi_r3_rejected(w: World, timestamp: str, reason: str) -> None:
    """Accepted as a statement (200), recorded as an R3 rejection with its reason, no points."""
    member_id = w.fresh_member()
    w.mark()
    response = w.xapi(statement("completed", member_id, timestamp=timestamp))
    assert response.status == 200, response.body

    def check(changes: Writes) -> None:
        _empty(changes, "changed", "removed", "s3_added")
        kinds = sorted(i.get("kind", {}).get("S", i["pk"]["S"].split("#")[0]) for i in changes.added)
        assert kinds == ["XAPI", "xapi"], changes.describe()  # the statement (dedup) and its timeline event

    w.expect_writes(check)
    assert w.earned(member_id) == 0
    entries = call_api("GET", f"/members/{member_id}/timeline").body["entries"]
    [event] = [e for e in entries if e["kind"] == "xapi"]
    assert (event["data"]["outcome"], event["data"]["reason"]) == ("rejected", reason)


@case(
    "xapi-timestamp-year-1",
    "http",
    "200; R3 rejection 'earned before cycle start' on the timeline, no points (was a 500: date overflow)",
)
def _xapi_year_one(w: World) -> None:
    _xapi_r3_rejected(w, "0001-01-01T00:00:00Z", "earned before cycle start")


@case(
    "xapi-timestamp-year-9999",
    "http",
    "200; R3 rejection 'completed in the future' on the timeline, no points",
)
def _xapi_future(w: World) -> None:
    _xapi_r3_rejected(w, "9999-12-31T12:00:00Z", "completed in the future")


@case("xapi-unknown-member", "http", "200; kept as unmatched for staff, nothing credited to anyone")
def _xapi_unknown_member(w: World) -> None:
    before = len(call_api("GET", "/admin/unmatched-statements").body["items"])
    w.mark()
    response = w.xapi(statement("completed", "ghost"))
    assert response.status == 200, response.body

    def check(changes: Writes) -> None:
        _empty(changes, "changed", "removed", "s3_added")
        assert changes.added
        assert not any(i["pk"]["S"].startswith("MEMBER#") for i in changes.added)

    w.expect_writes(check)
    listed = call_api("GET", "/admin/unmatched-statements").body["items"]
    assert len(listed) == before + 1


# ---------------------------------------------------------------- HTTP: roster, catalog, recertification


ROSTER = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2022-01-10"}],
}


@case("roster-extra-field", "http", "400 validation_failed, field nickname (extra fields forbidden)")
def _roster_extra(w: World) -> None:
    w.mark()
    refused(w.http("PUT", "/members/m-1", {**ROSTER, "nickname": "A"}), 400, "validation_failed", "nickname")


@case("roster-invalid-json", "http", "400 validation_failed")
def _roster_invalid_json(w: World) -> None:
    w.mark()
    refused(w.http("PUT", "/members/m-9", raw=b'{"first_name": "Ana",'), 400, "validation_failed")


@case(
    "roster-wrong-shape",
    "http",
    "400 validation_failed, field body (a JSON array of members; was 201: the first one was upserted)",
)
def _roster_wrong_shape(w: World) -> None:
    w.mark()
    refused(w.http("PUT", "/members/m-9", [ROSTER, ROSTER]), 400, "validation_failed", "body")


@case("roster-unknown-credential", "http", "400 unknown_credential, field certifications[0].credential")
def _roster_unknown_credential(w: World) -> None:
    w.mark()
    body = {**ROSTER, "certifications": [{"credential": "XYZ", "certified_on": "2022-01-10"}]}
    refused(w.http("PUT", "/members/m-9", body), 400, "unknown_credential", "certifications[0].credential")


@case("roster-certified-in-the-future", "http", "400 invalid_roster, field certifications[0].certified_on")
def _roster_future(w: World) -> None:
    w.mark()
    body = {**ROSTER, "certifications": [{"credential": "RMA", "certified_on": "2024-03-21"}]}
    refused(w.http("PUT", "/members/m-9", body), 400, "invalid_roster", "certifications[0].certified_on")


@case("roster-certified-before-1950", "http", "400 validation_failed, field certifications[0].certified_on")
def _roster_ancient(w: World) -> None:
    w.mark()
    body = {**ROSTER, "certifications": [{"credential": "RMA", "certified_on": "1949-12-31"}]}
    refused(w.http("PUT", "/members/m-9", body), 400, "validation_failed", "certifications[0].certified_on")


@case("roster-path-trick-member-id", "http", "400 validation_failed, field member_id ('..' is no member id)")
def _roster_path_trick(w: World) -> None:
    w.mark()
    refused(w.http("PUT", "/members/..", ROSTER), 400, "validation_failed", "member_id")


@case("status-unknown-member", "http", "404 not_found")
def _status_unknown(w: World) -> None:
    w.mark()
    refused(w.http("GET", "/members/ghost/status"), 404, "not_found")


# ---------------------------------------------------------------- HTTP: self-reported activities
#
# Generated per field of the body: each variant replaces one value of a good activity (m-1 holds RMA
# since 2022-01-10; today is 2024-03-20) and must be refused with that field's path, nothing written.

ACTIVITY = {
    "category": "professional_education",
    "title": "State society annual conference",
    "provider": "State society",
    "completed_on": "2023-06-01",
    "units": {"contact_hours": 8},
    "attestation": {"criteria": ["improves_job_performance"], "true_and_correct": True},
}
_OK_ATTESTATION = ACTIVITY["attestation"]
_DELETE = object()  # the variant removes the field

# (field, value, error code, reported field path)
ACTIVITY_VARIANTS: list[tuple[str, Any, str, str]] = [
    ("category", "knitting", "validation_failed", "category"),
    ("category", 3, "validation_failed", "category"),
    ("units", _DELETE, "validation_failed", "units"),
    ("units", {}, "invalid_activity", "units.contact_hours"),
    ("units", {"semester_hours": 3}, "invalid_activity", "units.semester_hours"),
    ("units", {"contact_hours": 0}, "invalid_activity", "units.contact_hours"),
    ("units", {"contact_hours": -8}, "invalid_activity", "units.contact_hours"),
    # NaN and Infinity are not JSON: refused while the body is parsed, before any field is read.
    ("units", {"contact_hours": float("nan")}, "validation_failed", "body"),
    ("units", {"contact_hours": float("inf")}, "validation_failed", "body"),
    ("units", {"contact_hours": 10**42}, "invalid_activity", "units.contact_hours"),
    ("units", {"contact_hours": 201}, "invalid_activity", "units.contact_hours"),
    ("units", {"contact_hours": "eight"}, "invalid_activity", "units.contact_hours"),
    ("units", {"contact_hours": 1.001}, "invalid_activity", "units.contact_hours"),
    ("units", [8], "validation_failed", "units"),
    ("completed_on", "2024-03-21", "invalid_activity", "completed_on"),
    ("completed_on", "1949-12-31", "validation_failed", "completed_on"),
    ("completed_on", 20230601, "validation_failed", "completed_on"),
    ("completed_on", "2023-06-01\n", "validation_failed", "completed_on"),
    ("completed_on", "2023-02-30", "validation_failed", "completed_on"),
    ("completed_on", "01/06/2023", "validation_failed", "completed_on"),
    ("title", "x" * 201, "validation_failed", "title"),
    ("title", "bell\x07title", "validation_failed", "title"),
    ("title", "", "validation_failed", "title"),
    ("provider", "p" * 201, "validation_failed", "provider"),
    ("provider", "line\u2028separator", "validation_failed", "provider"),
    ("description", "nul\x00byte", "validation_failed", "description"),
    ("attestation", _DELETE, "validation_failed", "attestation"),
    (
        "attestation",
        {**_OK_ATTESTATION, "true_and_correct": False},
        "validation_failed",
        "attestation.true_and_correct",
    ),
    ("attestation", {"criteria": []}, "validation_failed", "attestation.criteria"),
    (
        "attestation",
        {**_OK_ATTESTATION, "criteria": ["it was fun"]},
        "validation_failed",
        "attestation.criteria[0]",
    ),
    ("credential", "RPT", "invalid_activity", "credential"),
    ("nickname", "extra", "validation_failed", "nickname"),
]
# employment: only after the cut-off, or starting after its own end
EMPLOYMENT_VARIANTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "after-cut-off",
        {"completed_on": "2023-06-01", "units": {"started_on": "2021-01-01"}},
        "units.started_on",
    ),
    (
        "starts-after-end",
        {"completed_on": "2020-06-01", "units": {"started_on": "2020-07-01"}},
        "units.started_on",
    ),
    (
        "start-is-a-number",
        {"completed_on": "2020-06-01", "units": {"started_on": 20200101}},
        "units.started_on",
    ),
]


def _activity_refused(name: str, body: dict[str, Any], error: str, field_: str) -> None:
    @case(f"activity-{name}", "http", f"400 {error}, field {field_}; nothing written")
    def run(w: World) -> None:
        w.mark()
        refused(w.http("PUT", "/members/m-1/activities/a-1", body), 400, error, field_)

    _ = run


for _i, (_field, _value, _error, _path) in enumerate(ACTIVITY_VARIANTS):
    _body = {k: v for k, v in ACTIVITY.items() if k != _field}
    if _value is not _DELETE:
        _body[_field] = _value
    _activity_refused(f"{_field}-{_i}", _body, _error, _path)
for _name, _changes, _path in EMPLOYMENT_VARIANTS:
    _activity_refused(
        f"employment-{_name}", {**ACTIVITY, "category": "employment", **_changes}, "invalid_activity", _path
    )


@case("activity-malformed-id", "http", "400 validation_failed, field activity_id (each malformed id)")
def _activity_bad_ids(w: World) -> None:
    w.mark()
    for bad in ["bad!id", "x" * 65, "..%2F..", "a%0A"]:
        refused(
            w.http("PUT", f"/members/m-1/activities/{bad}", ACTIVITY), 400, "validation_failed", "activity_id"
        )
        refused(w.http("DELETE", f"/members/m-1/activities/{bad}"), 400, "validation_failed", "activity_id")


@case("activity-bad-actor-header", "http", "400 validation_failed, field x-actor")
def _activity_bad_actor(w: World) -> None:
    w.mark()
    response = w.http("PUT", "/members/m-1/activities/a-1", ACTIVITY, headers={"X-Actor": "boss"})
    refused(response, 400, "validation_failed", "x-actor")


@case("activity-unknown-member", "http", "404 not_found for PUT, DELETE, the list and the transcript")
def _activity_unknown_member(w: World) -> None:
    w.mark()
    refused(w.http("PUT", "/members/ghost/activities/a-1", ACTIVITY), 404, "not_found")
    refused(w.http("DELETE", "/members/ghost/activities/a-1"), 404, "not_found")
    refused(w.http("GET", "/members/ghost/activities"), 404, "not_found")
    refused(w.http("GET", "/members/ghost/transcript"), 404, "not_found")


@case("activity-list-bad-query", "http", "400 validation_failed, field cycle / limit / next_token")
def _activity_bad_query(w: World) -> None:
    w.mark()
    for query, field_ in [("cycle=someday", "cycle"), ("limit=0", "limit"), ("next_token=-1", "next_token")]:
        refused(w.http("GET", f"/members/m-1/activities?{query}"), 400, "validation_failed", field_)
    refused(w.http("GET", "/members/m-1/transcript?cycle=someday"), 400, "validation_failed", "cycle")
    refused(w.http("GET", "/members/m-1/transcript?credential=RPT"), 400, "invalid_activity", "credential")


@case("catalog-negative-points", "http", "400 validation_failed, field points")
def _catalog_negative(w: World) -> None:
    w.mark()
    body = {
        "activity_id": COURSE + "/x",
        "title": "X",
        "category": "professional_education",
        "points": -3,
        "provider_id": "acme",
    }
    refused(w.http("PUT", "/catalog/activities", body), 400, "validation_failed", "points")


@case("catalog-huge-points", "http", "400 validation_failed, field points (1e308 > 100)")
def _catalog_huge(w: World) -> None:
    w.mark()
    body = {
        "activity_id": COURSE + "/x",
        "title": "X",
        "category": "professional_education",
        "points": 1e308,
        "provider_id": "acme",
    }
    refused(w.http("PUT", "/catalog/activities", body), 400, "validation_failed", "points")


@case("recert-unknown-member", "http", "404 not_found; no application opened")
def _recert_unknown_member(w: World) -> None:
    w.mark()
    refused(
        w.http("POST", "/members/ghost/recertifications", {"credential": "RMA", "method": "ccp"}),
        404,
        "not_found",
    )


@case("recert-unknown-method", "http", "400 validation_failed, field method")
def _recert_bad_method(w: World) -> None:
    w.mark()
    body = {"credential": "RMA", "method": "bribe"}
    refused(w.http("POST", "/members/m-1/recertifications", body), 400, "validation_failed", "method")


@case("audit-decision-unknown-audit", "http", "404 not_found")
def _audit_unknown(w: World) -> None:
    w.mark()
    refused(
        w.http("POST", "/audits/A-0000-0/decision", {"decision": "failed", "reason": "x"}), 404, "not_found"
    )


EXAM = {
    "member_id": "m-1",
    "credential": "RMA",
    "passed": True,
    "exam_date": "2024-03-19",
    "result_id": "r-1",
}


@case("exam-wrong-vendor-signature", "http", "401 invalid_signature")
def _exam_wrong_signature(w: World) -> None:
    w.mark()
    refused(w.exam(EXAM, secret="not-the-vendor"), 401, "invalid_signature")


@case("exam-missing-signature", "http", "401 invalid_signature")
def _exam_missing_signature(w: World) -> None:
    w.mark()
    refused(w.exam(EXAM, header=None), 401, "invalid_signature")


@case("exam-extra-field", "http", "400 validation_failed, field score (extra fields forbidden)")
def _exam_extra(w: World) -> None:
    w.mark()
    refused(w.exam({**EXAM, "score": 99}), 400, "validation_failed", "score")


@case("exam-unknown-member", "http", "404 not_found (signed)")
def _exam_unknown_member(w: World) -> None:
    w.mark()
    refused(w.exam({**EXAM, "member_id": "ghost"}), 404, "not_found")


@case("exam-date-out-of-range", "http", "400 validation_failed, field exam_date (month 13)")
def _exam_bad_date(w: World) -> None:
    w.mark()
    refused(w.exam({**EXAM, "exam_date": "2024-13-01"}), 400, "validation_failed", "exam_date")


@case("exam-body-over-limit", "http", "413 payload_too_large (16 KiB + 1)")
def _exam_oversize(w: World) -> None:
    w.mark()
    refused(w.exam({**EXAM, "pad": "x" * 16 * 1024}), 413, "payload_too_large")


@case("credly-webhook-invalid-json", "http", "200 ignored (Credly retries anything else)")
def _credly_invalid(w: World) -> None:
    w.mark()
    response = w.http("POST", "/webhooks/credly", raw=b"{not json")
    assert (response.status, response.body) == (200, {"outcome": "ignored"})
    assert w.credly_calls() == []


# ---------------------------------------------------------------- HTTP -> print batch: formula injection


FORMULAS = {
    "equals-cmd": "=cmd|' /C calc'!A0",
    "plus": "+1+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "carriage-return": "\r=1+1",
    "line-feed": "\n=1+1",
    "nul": "\x00=1+1",
    "leading-blanks": "  =cmd|' /C calc'!A0",  # imports that trim spaces would evaluate it
}


def _formula_case(name: str, payload: str) -> None:
    @case(
        f"print-batch-formula-{name}",
        "http",
        "roster stores it verbatim; the daily print batch cell is neutralised with a leading '",
    )
    def run(w: World) -> None:
        w.set_date("2025-03-02")
        address = {
            "line1": payload,
            "line2": payload,
            "city": payload,
            "region": payload,
            "postal_code": payload[:20],
            "country": "US",
        }
        body = {
            "first_name": payload,
            "last_name": payload,
            "email": f"eve-{name}@example.org",
            "postal_address": address,
            "certifications": [{"credential": "RMA", "certified_on": "2024-05-14"}],
        }
        w.mark()
        member_id = f"eve-{name}"
        response = w.http("PUT", f"/members/{member_id}", body)
        assert response.status == 201, response.body
        summary = invoke("DailyFunction", {"date": "2025-03-02"})
        assert summary["notices"] == 1, summary  # this member's notice (mailed counts the whole batch)
        raw = w.s3.get_object(Bucket=BUCKET, Key=summary["print_batch"])["Body"].read().decode()
        rows = list(csv.reader(io.StringIO(raw, newline="")))
        header, cells = rows[0], rows[1:]
        [row] = [r for r in cells if r[0] == member_id]
        record = dict(zip(header, row, strict=True))
        stored_name = f"{payload.strip()} {payload.strip()}"  # names are trimmed by the roster
        assert record["name"] == "'" + stored_name, record
        for column in ("address_line1", "address_line2", "city", "region"):
            assert record[column] == "'" + payload, (column, record)
        assert record["postal_code"] == "'" + payload[:20]
        for every in cells:  # no cell of the batch can start a formula
            assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in every), every

        def check(changes: Writes) -> None:
            assert [summary["print_batch"]] in (changes.s3_added, changes.s3_changed), changes.describe()
            _empty(changes, "removed", "s3_removed")

        w.expect_writes(check)
        # the roster kept the value as sent (neutralising is the print batch's job, not the store's)
        stored = call_api("GET", f"/members/{member_id}/timeline")
        assert stored.status == 200

    _ = run


for _name, _payload in FORMULAS.items():
    _formula_case(_name, _payload)


# ---------------------------------------------------------------- S3: provider CSV batches


def _csv(w: World, key: str, body: bytes) -> dict[str, Any]:
    encoded = w.upload(key, body)
    w.mark()
    result = w.s3_event(encoded, len(body))
    assert result["results"][0]["key"] == key
    return result


def _only_result_file(result_key: str) -> Callable[[Writes], None]:
    def check(changes: Writes) -> None:
        assert changes.s3_added == [result_key], changes.describe()
        _empty(changes, "added", "changed", "removed")
        _empty(changes, "s3_removed", "s3_changed")

    return check


def _file_error(name: str, body: bytes, needle: str) -> Callable[[World], None]:
    def run(w: World) -> None:
        _csv(w, f"ce-batches/acme/{name}.csv", body)
        result = w.result_file(f"ce-batches-results/acme/{name}.json")
        assert (result["accepted"], result["rows"]) == (0, 0), result
        assert needle in result["error"], result
        w.expect_writes(_only_result_file(f"ce-batches-results/acme/{name}.json"))

    return run


case("csv-utf16", "s3", "result file error 'not UTF-8'; nothing credited")(
    _file_error("utf16", (CSV_HEADER + GOOD_ROW.format(m="m-1")).encode("utf-16"), "not UTF-8")
)
case("csv-latin1", "s3", "result file error 'not UTF-8 (byte n)'; nothing credited")(
    _file_error(
        "latin1",
        (
            CSV_HEADER + "m-1,https://acme.example.org/caf\u00e9,2023-05-01,2,professional_education,C-1\n"
        ).encode("latin-1"),
        "not UTF-8",
    )
)
case("csv-missing-header", "s3", "result file error 'header must name the columns'")(
    _file_error("nohead", GOOD_ROW.format(m="m-1").encode(), "header must name the columns")
)
case("csv-unknown-column", "s3", "result file error 'unknown columns'")(
    _file_error(
        "extra",
        (CSV_HEADER.strip() + ",discount\n" + GOOD_ROW.format(m="m-1").strip() + ",1\n").encode(),
        "unknown columns",
    )
)
case("csv-empty-file", "s3", "result file error 'empty file'")(_file_error("empty", b"", "empty file"))


def _rows_case(name: str, bad_rows: list[tuple[str, str]]) -> Callable[[World], None]:
    """A file of two good rows around bad ones: the good rows are credited, each bad one is reported."""

    def run(w: World) -> None:
        m = w.fresh_member()
        body = (CSV_HEADER + GOOD_ROW + "".join(row for row, _ in bad_rows) + GOOD_ROW_2).replace("{m}", m)
        _csv(w, f"ce-batches/{name}/{name}.csv", body.encode())  # own provider: own certificate ids
        result = w.result_file(f"ce-batches-results/{name}/{name}.json")
        expected = [{"line": 3 + i, "reason": reason} for i, (_, reason) in enumerate(bad_rows)]
        assert (result["rows"], result["accepted"], result["rejected"]) == (len(bad_rows) + 2, 2, expected), (
            result
        )
        assert "error" not in result

        def check(changes: Writes) -> None:
            assert changes.s3_added == [f"ce-batches-results/{name}/{name}.json"], changes.describe()
            _empty(changes, "changed", "removed", "s3_removed")
            assert [i["pk"]["S"] for i in changes.added] == [f"MEMBER#{m}"] * 2, changes.describe()

        w.expect_writes(check)
        assert w.earned(m) == 3.5  # both good rows kept beside the bad ones

    return run


case("csv-truncated-rows", "s3", "good rows credited; each short row reported by line")(
    _rows_case(
        "truncated",
        [
            ("{m},https://acme.example.org/c,2023-05-01\n", "expected 6 fields, found 3"),
            ("{m}\n", "expected 6 fields, found 1"),
        ],
    )
)
case("csv-negative-and-huge-points", "s3", "good rows credited; -1, 0, 101 and 1e400 points reported")(
    _rows_case(
        "points",
        [
            ("{m},https://acme.example.org/c,2023-05-01,-1,professional_education,C-3\n", "negative points"),
            (
                "{m},https://acme.example.org/c,2023-05-01,0,professional_education,C-4\n",
                "points must be more than 0 and at most 100",
            ),
            (
                "{m},https://acme.example.org/c,2023-05-01,101,professional_education,C-5\n",
                "points must be more than 0 and at most 100",
            ),
            (
                "{m},https://acme.example.org/c,2023-05-01,1e400,professional_education,C-6\n",
                "points must be more than 0 and at most 100",
            ),
        ],
    )
)
case("csv-unknown-member", "s3", "good rows credited; 'unknown member ghost' reported")(
    _rows_case(
        "ghost",
        [
            (
                "ghost,https://acme.example.org/c,2023-05-01,2,professional_education,C-3\n",
                "unknown member ghost",
            )
        ],
    )
)
case("csv-dates-out-of-range", "s3", "good rows credited; month 13, year 0 and a future date reported")(
    _rows_case(
        "dates",
        [
            (
                "{m},https://acme.example.org/c,2023-13-01,2,professional_education,C-3\n",
                "bad date '2023-13-01' (expected YYYY-MM-DD)",
            ),
            (
                "{m},https://acme.example.org/c,0000-01-01,2,professional_education,C-4\n",
                "bad date '0000-01-01' (expected YYYY-MM-DD)",
            ),
            (
                "{m},https://acme.example.org/c,9999-12-31,2,professional_education,C-5\n",
                "completed in the future",
            ),
        ],
    )
)

case(
    "csv-ids-and-dates-not-in-their-format",
    "s3",
    "good rows credited; NUL in member, activity (was credited) and certificate ids, dates written "
    "20230501 (was credited) and as a datetime reported",
)(
    _rows_case(
        "formats",
        [
            (
                "{m}\x00,https://acme.example.org/c,2023-05-01,2,professional_education,C-3\n",
                "member_id missing or malformed",
            ),
            (
                "{m},https://acme.example.org/\x00c,2023-05-01,2,professional_education,C-4\n",
                "activity_id missing or malformed",
            ),
            (
                "{m},https://acme.example.org/c,2023-05-01,2,professional_education,C\x00-5\n",
                "certificate_id malformed",
            ),
            (
                "{m},https://acme.example.org/c,20230501,2,professional_education,C-6\n",
                "bad date '20230501' (expected YYYY-MM-DD)",
            ),
            (
                "{m},https://acme.example.org/c,2023-05-01T00:00:00,2,professional_education,C-7\n",
                "bad date '2023-05-01T00:00:00' (expected YYYY-MM-DD)",
            ),
        ],
    )
)


def _ignored_batch_key(name: str, key: str, event_key: str | None = None) -> None:
    @case(
        name,
        "s3",
        "not ce-batches/{provider}/{file}.csv: logged and skipped; no result file, nothing credited",
    )
    def run(w: World) -> None:
        m = w.fresh_member()
        encoded = w.upload(key, (CSV_HEADER + GOOD_ROW.format(m=m)).encode(), event_key=event_key)
        w.mark()
        result = w.s3_event(encoded)
        assert result["results"][0]["accepted"] is None, result
        assert w.earned(m) == 0

    _ = run


_ignored_batch_key("csv-key-dotdot", "ce-batches/acme/../../evidence/m-1/audit/x.csv")
_ignored_batch_key("csv-key-url-encoded-dotdot", "ce-batches/acme/%2e%2e%2fx.csv")
_ignored_batch_key("csv-key-double-encoded-dotdot", "ce-batches/acme/%252e%252e%252fx.csv")


@case("upload-outside-known-prefixes", "s3", "logged and ignored; nothing written")
def _outside_prefixes(w: World) -> None:
    encoded = w.upload("print-batches/2024-03-20.csv", b"member_id\n=cmd\n")
    w.mark()
    result = w.s3_event(encoded)
    assert result["results"] == [{"key": "print-batches/2024-03-20.csv", "ignored": True}]


# ---------------------------------------------------------------- S3: evidence uploads


def _quarantined(
    name: str, key: str, body: bytes, content_type: str, reason: str, event_key: str | None = None
) -> None:
    @case(name, "s3", f"quarantined: {reason}")
    def run(w: World) -> None:
        encoded = w.upload(key, body, content_type, event_key=event_key)
        w.mark()
        result = w.s3_event(encoded, len(body))
        [outcome] = result["results"]
        assert outcome["recorded"] is False, outcome
        assert reason in outcome["reason"], outcome
        target = f"quarantine/{key}"

        def check(changes: Writes) -> None:
            assert (changes.s3_added, changes.s3_removed) == ([target], [key]), changes.describe()
            assert [_item_id(i) for i in changes.added] == [(f"QUARANTINE#{key}", "QUARANTINE")], (
                changes.describe()
            )
            assert not changes.changed, changes.describe()

        w.expect_writes(check)
        head = w.s3.head_object(Bucket=BUCKET, Key=target)
        assert reason in head["Metadata"]["quarantine-reason"]
        listed = call_api("GET", "/admin/quarantined-uploads").body["items"]
        assert [reason in q["reason"] for q in listed if q["original_key"] == key] == [True]
        assert not [
            e for e in call_api("GET", "/members/m-1/timeline").body["entries"] if e["kind"] == "evidence"
        ]

    _ = run


_UNSAFE = "unsafe key"
_quarantined("evidence-key-dotdot", "evidence/m-1/../audit/x.pdf", PDF, "application/pdf", _UNSAFE)
_quarantined(
    "evidence-key-url-encoded-dotdot", "evidence/m-1/audit/%2e%2e%2fx.pdf", PDF, "application/pdf", _UNSAFE
)
_quarantined(
    "evidence-key-double-encoded-dotdot",
    "evidence/m-1/audit/%252e%252e%252fx.pdf",
    PDF,
    "application/pdf",
    _UNSAFE,
)
_quarantined("evidence-key-backslash", "evidence/m-1/audit/..\\..\\x.pdf", PDF, "application/pdf", _UNSAFE)
_quarantined(
    "evidence-oversize",
    "evidence/m-1/audit/big.pdf",
    b"%PDF-" + b"0" * (10 * 1024 * 1024),
    "application/pdf",
    "too large",
)
_quarantined(
    "evidence-wrong-magic",
    "evidence/m-1/audit/fake.pdf",
    b"MZ" + b"0" * 20,
    "application/pdf",
    "content is not application/pdf",
)
_quarantined(
    "evidence-unknown-member", "evidence/ghost/audit/x.pdf", PDF, "application/pdf", "unknown member ghost"
)
_quarantined(
    "evidence-no-open-audit",
    "evidence/m-1/audit/x.pdf",
    PDF,
    "application/pdf",
    "no open audit for this member",
)


# ---------------------------------------------------------------- stream: badge_issue consumer


def _record(
    seq: str, event_name: str = "INSERT", new_image: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1_710_936_000,
        "Keys": {"pk": {"S": "MEMBER#m-1"}, "sk": {"S": f"FACT#x#{seq}"}},
        "SequenceNumber": seq,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_image is not None:
        dynamodb["NewImage"] = new_image
    return {
        "eventID": f"e-{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/StayCertTest/stream/2024-01-01T00:00:00.000",
        **extra,
    }


def _image(
    kind: str, body: dict[str, Any] | None, pk: str = "MEMBER#m-1", sk: str = "FACT#x"
) -> dict[str, Any]:
    image: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "kind": {"S": kind}}
    if body is not None:
        image["body"] = {"M": body}
    return image


def _stream_case(
    name: str, expected: str, records: Callable[[], list[dict[str, Any]]], failures: list[str]
) -> None:
    @case(name, "stream", expected)
    def run(w: World) -> None:
        w.mark()
        result = w.stream(records())
        assert result == {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}, result
        assert w.credly_calls() == []

    _ = run


_stream_case(
    "stream-remove-record",
    "skipped (not an INSERT); no failure, nothing written",
    lambda: [_record("101", "REMOVE")],
    [],
)
_stream_case(
    "stream-modify-record",
    "skipped (not an INSERT)",
    lambda: [_record("102", "MODIFY", _image("recertified", {"credential": {"S": "RMA"}}))],
    [],
)
_stream_case(
    "stream-insert-without-image",
    "skipped (no NewImage)",
    lambda: [_record("103", "INSERT")],
    [],
)
_stream_case(
    "stream-unknown-kind",
    "skipped (kind not handled)",
    lambda: [_record("104", new_image=_image("mystery", {"x": {"S": "y"}}))],
    [],
)
_stream_case(
    "stream-not-a-member-partition",
    "skipped (pk not MEMBER#)",
    lambda: [_record("105", new_image=_image("recertified", {"credential": {"S": "RMA"}}, pk="CATALOG#x"))],
    [],
)
_stream_case(
    "stream-body-not-a-map",
    "skipped (body is not a map)",
    lambda: [_record("106", new_image={**_image("recertified", None), "body": {"S": "garbage"}})],
    [],
)
_stream_case(
    "stream-recertified-malformed-body",
    "batch item failure of that record only (bisect/retry, then BadgeDlq)",
    lambda: [_record("107", new_image=_image("recertified", {"credential": {"N": "12"}}))],
    ["107"],
)
_stream_case(
    "stream-payment-malformed-body",
    "batch item failure (payment fact body fails validation)",
    lambda: [
        _record(
            "108",
            new_image=_image("payment", {"purpose": {"S": "recertification"}, "amount_cents": {"S": "lots"}}),
        )
    ],
    ["108"],
)
_stream_case(
    "stream-audit-drawn-malformed-body",
    "batch item failure (audit_drawn body fails validation)",
    lambda: [_record("109", new_image=_image("audit_drawn", {"audit_id": {"NULL": True}}))],
    ["109"],
)
_stream_case(
    "stream-invalid-attribute-type",
    "batch item failure (DynamoDB JSON with an unknown type tag)",
    lambda: [
        _record("110", new_image={**_image("recertified", None), "body": {"M": {"credential": {"Q": "?"}}}})
    ],
    ["110"],
)


@case(
    "stream-poison-beside-good-records",
    "stream",
    "only the poison record is reported; the good records' badges are issued (nothing lost beside it)",
)
def _stream_poison_beside_good(w: World) -> None:
    recertify(w.env, w.set_date, "ana", settle=False)
    recertify(w.env, w.set_date, "ben", settle=False)
    records = [
        r
        for r in w.env.tap.drain()
        if r["dynamodb"].get("NewImage", {}).get("kind", {}).get("S") == "recertified"
    ]
    assert len(records) == 2
    poison = copy.deepcopy(records[0])
    poison["dynamodb"]["SequenceNumber"] = "999999"
    poison["dynamodb"]["NewImage"]["body"]["M"]["completed_on"] = {"S": "not a date"}
    w.mark()
    result = w.stream([records[0], poison, records[1]])
    assert result == {"batchItemFailures": [{"itemIdentifier": "999999"}]}, result
    issued = [b["issuer_earner_id"] for b in w.env.credly.issued()]
    assert sorted(issued) == ["ana", "ben"]

    def check(changes: Writes) -> None:
        partitions = {i["pk"]["S"] for i in changes.added + changes.changed}
        assert partitions == {"MEMBER#ana", "MEMBER#ben"}, changes.describe()
        _empty(changes, "removed", "s3_added", "s3_removed")

    w.expect_writes(check)


# ---------------------------------------------------------------------- mechanical variants
#
# The named cases above are the ones someone thought of. These are generated: for every route of
# template.yaml a valid request (ROUTE_SHAPES), and from it, mechanically, a hostile variant per
# family - nesting depth, size, number range, type confusion, text (control characters, trailing
# newlines against anchored patterns), encoding - of the whole body, of every leaf of the body, of
# every path parameter and of every query parameter. What must hold for each: no 5xx, and a refusal
# writes nothing (every AWS write call is counted, not only the table's final state). A date leaf
# given a number or a datetime must be refused naming its field: the documented format is the
# contract.

Family = Literal["depth", "size", "number", "type", "text", "encoding"]
_HOLE = "\u0000hostile-variant\u0000"  # stands for the raw JSON spliced in at a leaf
_DATE = r"\d{4}-\d{2}-\d{2}"


@dataclass(frozen=True)
class Shape:
    """A valid request to one route; ``signer`` names how the route authenticates its caller, so a
    variant body is signed (or authenticated) like a real caller's and reaches the parser."""

    route: str  # "METHOD /template/path/{param}"
    params: dict[str, str]
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    signer: Literal["iam", "stripe", "exam", "xapi", "credly", "form"] = "iam"


def _xapi_statement(member_id: str) -> dict[str, Any]:
    made = statement("completed", member_id, statement_id=str(uuid.uuid5(uuid.NAMESPACE_URL, member_id)))
    made["result"] = {"completion": True, "score": {"scaled": 0.9, "raw": 90, "min": 0, "max": 100}}
    return made


ROUTE_SHAPES: list[Shape] = [
    Shape("PUT /members/{member_id}", {"member_id": "m-1"}, dict(ROSTER)),
    Shape("GET /members/{member_id}/status", {"member_id": "m-1"}),
    Shape("GET /members/{member_id}/timeline", {"member_id": "m-1"}),
    Shape("GET /members/{member_id}/standing", {"member_id": "m-1"}),
    Shape("POST /webhooks/stripe", {}, None, signer="stripe"),  # body: pi_event() at run time
    Shape("GET /admin/parked-payments", {}),
    Shape(
        "POST /members/{member_id}/recertifications",
        {"member_id": "m-1"},
        {
            "credential": "RMA",
            "method": "exam",
            "eligibility": {
                "program": {"accredited": True, "graduated_on": "2020-05-01"},
                "military": {"completed_on": "2024-01-15", "program": "68W"},
                "work": [{"start": "2020-01-01", "end": "2023-01-01", "full_time": True}],
            },
        },
    ),
    Shape("GET /recertifications/{application_id}", {"application_id": "m-1.RMA.1"}),
    Shape(
        "POST /recertifications/{application_id}/decision",
        {"application_id": "m-1.RMA.1"},
        {"decision": "approved", "reason": "ok"},
    ),
    Shape(
        "POST /eligibility/{credential}",
        {"credential": "RMA"},
        {
            "program": {"accredited": True, "graduated_on": "2020-05-01"},
            "work": [{"start": "2020-01-01", "end": "2023-01-01", "full_time": True}],
        },
    ),
    Shape("POST /exam-results", {}, dict(EXAM), signer="exam"),
    Shape(
        "POST /audits/{audit_id}/decision",
        {"audit_id": "2024-RMA-m-1"},
        {"decision": "passed", "reason": "ok"},
    ),
    Shape("GET /audits/{audit_id}", {"audit_id": "2024-RMA-m-1"}),
    Shape(
        "POST /webhooks/credly",
        {},
        {"id": "ev-1", "organization_id": "test-org", "event_type": "badge.issued"},
        signer="credly",
    ),
    Shape("POST /xapi/statements", {}, None, signer="xapi"),  # body: a statement at run time
    Shape("POST /xapi/statements", {}, "unmatched", signer="xapi"),  # the same for no member: stored whole
    Shape(
        "PUT /catalog/activities",
        {},
        {
            "activity_id": "https://acme.example.org/variants",
            "title": "Variants",
            "category": "professional_education",
            "points": 2,
            "provider_id": "acme",
        },
    ),
    Shape("GET /catalog/activities/{activity_id}", {"activity_id": quote_plus(COURSE, safe="")}),
    Shape("GET /admin/unmapped-activities", {}),
    Shape("GET /admin/unmatched-statements", {}, query={"limit": "5", "next_token": ""}),
    Shape("GET /admin/quarantined-uploads", {}, query={"limit": "5", "next_token": ""}),
    # Self-reported CE: the activity body is the corpus's own ACTIVITY.
    Shape(
        "PUT /members/{member_id}/activities/{activity_id}",
        {"member_id": "m-1", "activity_id": "conf-1"},
        ACTIVITY,
    ),
    Shape(
        "DELETE /members/{member_id}/activities/{activity_id}", {"member_id": "m-1", "activity_id": "conf-1"}
    ),
    Shape("GET /members/{member_id}/activities", {"member_id": "m-1"}, query={"cycle": "all", "limit": "5"}),
    Shape("GET /members/{member_id}/transcript", {"member_id": "m-1"}, query={"cycle": "current"}),
    # Invoices and payments. The link names an invoice of another year (422 before any Stripe call):
    # a variant must not reach Stripe, which this world does not run.
    Shape("GET /members/{member_id}/invoices", {"member_id": "m-1"}),
    Shape("POST /members/{member_id}/payments", {"member_id": "m-1"}, {"invoices": ["m-1-RMA-2099"]}),
    # a recertification invoice number of no application: also 422 before any Stripe call
    Shape("POST /members/{member_id}/payments", {"member_id": "m-1"}, {"invoices": ["m-1-RMA-R99"]}),
    Shape("GET /admin/payment-exceptions", {}),
    Shape(
        "POST /admin/payment-exceptions/{payment_key}/resolution",
        {"payment_key": "pi_variant"},
        {"action": "credit", "note": "checked with the member"},
    ),
    # The staff console: HTML pages and form POSTs (application/x-www-form-urlencoded), confirmed.
    Shape("GET /console", {}),
    Shape("GET /console/sign-in", {}),
    Shape("GET /console/callback", {}, query={"code": "c-1", "state": "s-1"}),
    Shape("GET /console/sign-out", {}),
    Shape("GET /console/members", {}, query={"q": "m-1"}),
    Shape(
        "GET /console/members/{member_id}", {"member_id": "m-1"}, query={"kind": "transition", "page": "2"}
    ),
    Shape("GET /console/queues/{queue}", {"queue": "quarantined-uploads"}, query={"next_token": "x"}),
    Shape(
        "POST /console/actions/{action}",
        {"action": "catalog-mapping"},
        {
            "activity_id": "https://acme.example.org/console-variants",
            "title": "Variants",
            "category": "professional_education",
            "points": "2",
            "provider_id": "acme",
            "confirmed": "yes",
        },
        signer="form",
    ),
    Shape(
        "POST /console/actions/{action}",
        {"action": "audit-decision"},
        {
            "audit_id": "2024-RMA-m-1",
            "decision": "passed",
            "disallowed_activities": "a-1",
            "confirmed": "yes",
        },
        signer="form",
    ),
]

# Form fields (the console's POSTs) given hostile text, percent-encoded as a browser would send it, or
# raw bytes that are not UTF-8.
FORM_VALUES: dict[str, str] = {
    "empty": "",
    "nul": "a%00b",
    "newline": "a%0A",
    "lone-surrogate": "%ED%A0%80",
    "not-utf-8": "%FF%FE",
    "float-1e400": "1e400",
    "int-42-digits": "1" + "0" * 41,
    "nan": "NaN",
    "date": "2022-01-10",
    "string-100k": "x" * 100_000,
}


def _base_body(shape: Shape) -> Any:
    if shape.signer == "stripe":
        return pi_event("pi_variant")
    if shape.signer == "xapi":
        return [_xapi_statement("m-ghost" if shape.body == "unmatched" else "m-1")]
    return copy.deepcopy(shape.body)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) in a JSON document, containers included (a container is a leaf to replace too)."""
    found: list[tuple[tuple[Any, ...], Any]] = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _leaves(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _leaves(inner, (*path, index))
    return found


def _spliced(body: Any, path: tuple[Any, ...], raw: str) -> bytes:
    """``body`` as JSON text with the value at ``path`` replaced by the raw JSON text ``raw``."""
    document = copy.deepcopy(body)
    holder = document
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = _HOLE
    return json.dumps(document).replace(json.dumps(_HOLE), raw).encode("utf-8")


def _deep(depth: int, kind: str = "[") -> str:
    return ("[" * depth + "]" * depth) if kind == "[" else ('{"a":' * depth + "1" + "}" * depth)


# Raw JSON spliced in at a leaf, by family: numbers DynamoDB refuses (more than 38 digits, inf from
# 1e400, NaN), numbers and datetimes where dates are expected, the reverse, control characters. Every
# leaf gets SCALAR_VALUES; a container (object, array) gets CONTAINER_VALUES; the top-level fields get
# SIZE_VALUES too.
SCALAR_VALUES: dict[Family, dict[str, str]] = {
    "number": {
        "int-42-digits": "-1" + "0" * 41,
        "float-1e400": "1e400",
        "float-tiny": "1e-400",
        "nan": "NaN",
    },
    "type": {
        "zero": "0",
        "true": "true",
        "null": "null",
        "empty-object": "{}",
        "datetime": '"2022-01-10T00:00:00"',
        "date": '"2022-01-10"',
    },
    "text": {"nul": '"a\\u0000b"', "lone-surrogate": '"\\ud800"'},
}
CONTAINER_VALUES: dict[Family, dict[str, str]] = {
    "depth": {"nested-5000": _deep(5000), "nested-900-objects": _deep(900, "{")},
    "type": {"zero": "0", "string": '"x"'},
}
SIZE_VALUES: dict[Family, dict[str, str]] = {
    "size": {
        "string-100k": json.dumps("x" * 100_000),
        "string-450k": json.dumps("x" * 450_000),
        "array-10k": "[" + ",".join(["1"] * 10_000) + "]",
    },
}


@dataclass(frozen=True)
class Variant:
    id: str
    route: str
    family: Family
    shape: Shape
    splice: tuple[tuple[Any, ...], str] | None  # (leaf path, raw JSON put there), built when sent
    raw: bytes | None  # the whole body to send (neither: the shape's base body)
    params: dict[str, str]
    query: dict[str, str]
    date_leaf: str | None = None  # a date field given something that is not a date: must be a 4xx naming it

    def send(self, w: World) -> HttpResult:
        body = self.raw if self.raw is not None else _encode(_base_body(self.shape))
        if self.splice is not None:
            body = _spliced(_base_body(self.shape), *self.splice)
        return send_raw(w, self.shape, body, self.params, self.query)


def _encode(body: Any) -> bytes:
    return b"" if body is None else json.dumps(body).encode("utf-8")


def send_raw(
    w: World, shape: Shape, body: bytes, params: dict[str, str], query: dict[str, str]
) -> HttpResult:
    """One request to ``shape``'s route with exactly these bytes, path parameters and query, signed or
    authenticated the way the route's caller does it."""
    method, template_path = shape.route.split(" ", 1)
    route = next(r for r in tpl.routes() if (r.method, r.path) == (method, template_path))
    path = template_path
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    headers = {"content-type": "application/json"}
    if shape.signer == "form":  # the browser's form POST from the console itself (same Origin)
        headers.update(
            {
                "content-type": "application/x-www-form-urlencoded",
                "host": "console.test",
                "origin": "https://console.test",
            }
        )
    if shape.signer == "stripe":
        headers["stripe-signature"] = sign(body, STRIPE_CURRENT, wall_clock_seconds())
    elif shape.signer == "exam":
        headers["exam-signature"] = sign(body, EXAM_SECRET, wall_clock_seconds())
    elif shape.signer == "xapi":
        headers["authorization"] = basic("lms-a", LMS_PASSWORD)
        headers["x-experience-api-version"] = "1.0.3"
    event = http_api_event(route, path, params, headers=headers, body=body)
    if query:
        event["rawQueryString"] = "&".join(f"{k}={quote_plus(v)}" for k, v in query.items())
        event["queryStringParameters"] = dict(query)
    return w.handle(route, event)


def _label(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "body"


def _token(payload: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(payload).decode()


def _path_values(value: str) -> dict[str, str]:
    return {
        "trailing-newline": value + "\n",
        "nul": value + "\x00",
        "dotdot": "..",
        "long-2000": "a" * 2000,
        "non-ascii": value + "\u00e9\U0001f600",
        "empty": "",
    }


def _query_values(name: str) -> dict[str, str]:
    if name == "limit":
        return {"42-digits": "1" + "0" * 41, "negative": "-1", "float": "1.5", "text": "x", "newline": "5\n"}
    forged = {k: {"S": "x" * 1500} for k in ("pk", "sk", "list_pk", "list_sk")}
    return {
        "not-base64": "%%%",
        "base64-not-json": _token(b"\xff\xfe\x00"),
        "base64-deep-json": _token(_deep(1400).encode()),
        "base64-array": _token(b"[1,2]"),
        "base64-huge-number": _token(b'{"pk": 1' + b"0" * 60 + b"}"),
        "forged-key": _token(json.dumps(forged).encode()),
        "newline": "\n",
    }


def variants() -> list[Variant]:
    """Every generated variant of every route (see the section comment)."""
    found: list[Variant] = []

    def add(shape: Shape, family: Family, name: str, raw: bytes | None = None, **kw: Any) -> None:
        found.append(
            Variant(
                id=f"{shape.route}{' (' + shape.body + ')' if isinstance(shape.body, str) else ''} {family} {name}",
                route=shape.route,
                family=family,
                shape=shape,
                splice=kw.get("splice"),
                raw=raw,
                params=kw.get("params", dict(shape.params)),
                query=kw.get("query", dict(shape.query)),
                date_leaf=kw.get("date_leaf"),
            )
        )

    for shape in ROUTE_SHAPES:
        for name, value in shape.params.items():
            for tag, hostile in _path_values(value).items():
                add(shape, "text", f"path {name} {tag}", params={**shape.params, name: hostile})
        for name in shape.query:
            for tag, hostile in _query_values(name).items():
                add(shape, "text", f"query {name} {tag}", query={**shape.query, name: hostile})
        add(shape, "text", "query unknown-parameter", query={**shape.query, "x\n": "\x00" + "y" * 2000})
        body = _base_body(shape)
        if shape.signer == "form":
            _form_variants(shape, add)
            continue
        if body is None:  # a body where none is read
            add(shape, "depth", "unread body nested-5000", _deep(5000).encode())
            continue
        text = json.dumps(body)
        add(shape, "depth", "root nested-5000", _deep(5000).encode())
        add(shape, "depth", "root nested-20000-objects", _deep(20_000, "{").encode())
        add(shape, "encoding", "utf-16", text.encode("utf-16"))
        add(shape, "encoding", "utf-8-bom", b"\xef\xbb\xbf" + text.encode())
        add(shape, "encoding", "latin-1", text.replace("Ana", "An\u00e9").encode("latin-1", "replace"))
        add(shape, "encoding", "invalid-utf-8", text.encode()[:-1] + b"\xff}")
        add(shape, "type", "root number", b"1" + b"0" * 41)
        add(shape, "type", "root null", b"null")
        add(shape, "type", "root string", b'"x"')
        for path, leaf in _leaves(body):
            # our own models document their dates; the outside systems' payloads are theirs
            is_date = (
                shape.signer in ("iam", "exam")
                and isinstance(leaf, str)
                and re.fullmatch(_DATE, leaf) is not None
            )
            values = dict(CONTAINER_VALUES if isinstance(leaf, dict | list) else SCALAR_VALUES)
            if len(path) <= 2:
                values.update(SIZE_VALUES)
            for family, by_tag in values.items():
                for tag, raw in by_tag.items():
                    not_a_date = is_date and family in ("number", "type") and tag not in ("date", "null")
                    add(
                        shape,
                        family,
                        f"{_label(path)} {tag}",
                        splice=(path, raw),
                        date_leaf=_label(path) if not_a_date else None,
                    )
            if isinstance(leaf, str):
                add(shape, "text", f"{_label(path)} trailing-newline", splice=(path, json.dumps(leaf + "\n")))
    return found


def _form_variants(shape: Shape, add: Callable[..., None]) -> None:
    """A form POST: every field given every FORM_VALUES entry, a field twice, fields missing or
    unknown, too many fields, and whole bodies that are not a form in UTF-8."""
    fields: dict[str, str] = shape.body

    def encoded(values: dict[str, str]) -> bytes:
        return "&".join(f"{quote_plus(k)}={v}" for k, v in values.items()).encode("latin-1")

    plain = {k: quote_plus(v) for k, v in fields.items()}
    for name in fields:
        for tag, value in FORM_VALUES.items():
            add(shape, "text", f"field {name} {tag}", encoded({**plain, name: value}))
        add(shape, "text", f"field {name} twice", encoded(plain) + f"&{name}=other".encode())
        add(shape, "text", f"field {name} missing", encoded({k: v for k, v in plain.items() if k != name}))
    add(shape, "text", "unknown field", encoded({**plain, "x%0A": "y" * 2000}))
    add(shape, "size", "fields-10k", encoded(plain) + b"&a=1" * 10_000)
    add(shape, "size", "body-450k", encoded(plain) + b"&title=" + b"x" * 450_000)
    add(shape, "encoding", "utf-16", "&".join(f"{k}={v}" for k, v in fields.items()).encode("utf-16"))
    add(shape, "encoding", "invalid-utf-8", encoded(plain) + b"&title=\xff\xfe")
    add(shape, "type", "json-body", json.dumps(fields).encode())
    add(shape, "depth", "root nested-5000", _deep(5000).encode())


VARIANTS = variants()
VARIANT_ROUTES = sorted({v.route for v in VARIANTS})
