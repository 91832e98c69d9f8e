"""template.yaml as a security policy (docs/reliability.md).

Static checks on the parsed template: no ``*`` in any IAM action or resource; every asynchronous and
stream event source has bounded retries and an on-failure destination; ``ReportBatchItemFailures``
wherever a handler returns partial batch responses; IAM auth on every route except the listed
signature/Basic-authenticated callers.

And least privilege, checked both ways against what the code really calls: the whole ``make demo``
lifecycle (plus a few extra requests for the paths it does not take) runs on the local stack while a
botocore ``provide-client-params`` hook records every AWS operation, attributed to the function being
invoked. Each recorded operation must be allowed by that function's policy for that resource (table
vs index, secret, bucket prefix), and each allowed (action, resource) must have been recorded - or be
listed in ``NOT_EXERCISED`` with the code path that needs it.
"""

from __future__ import annotations

import ast
import contextvars
import importlib
import inspect
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore import handlers as botocore_handlers

from local import template as tpl
from local.stack import LOCAL_REFS, LOCAL_SECRETS, LocalStack, reset_process_caches
from shared.adapters.signatures import sign

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"

# ---------------------------------------------------------------------- reading the template


def _resources() -> dict[str, Any]:
    return tpl.resources()


def _parameter_defaults() -> dict[str, str]:
    params = tpl.load_template().get("Parameters", {})
    values = {name: str(spec["Default"]) for name, spec in params.items() if "Default" in spec}
    values["CredlyOrganizationId"] = "org"
    values.update({"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION})
    values["AWS::URLSuffix"] = "amazonaws.com"
    values["AWS::StackName"] = "staycert"
    return values


def _ref(logical_id: str) -> str:
    """What ``!Ref`` gives for a parameter or resource, as deployed (names for tables, ARNs for secrets)."""
    params = _parameter_defaults()
    if logical_id in params:
        return params[logical_id]
    resource = _resources()[logical_id]
    kind = resource["Type"]
    if kind == "AWS::S3::Bucket":
        return resolve(resource["Properties"]["BucketName"])
    if kind == "AWS::SecretsManager::Secret":
        return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical_id}"
    return logical_id  # table name, configuration set name, queue URL stand-in


def _get_att(logical_id: str, attribute: str) -> str:
    kind = _resources()[logical_id]["Type"]
    if kind == "AWS::DynamoDB::Table":
        arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{logical_id}"
        return {"Arn": arn, "StreamArn": f"{arn}/stream/*"}[attribute]
    if kind == "AWS::S3::Bucket" and attribute == "Arn":
        return f"arn:{PARTITION}:s3:::{_ref(logical_id)}"
    if kind == "AWS::SQS::Queue" and attribute == "Arn":
        return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{logical_id}"
    if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
        return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*"
    raise AssertionError(f"teach the test !GetAtt {logical_id}.{attribute}")


def resolve(value: Any) -> str:
    """A template string value with Ref / GetAtt / Sub resolved to deployed names and ARNs."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return _ref(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return _get_att(logical_id, attribute)
    if isinstance(value, dict) and "Fn::Sub" in value:
        body = value["Fn::Sub"]
        variables: dict[str, Any] = {}
        if isinstance(body, list):
            body, variables = body

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return resolve(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _get_att(logical_id, attribute)
            return _ref(name)

        return re.sub(r"\$\{([^}!]+)\}", substitute, body)
    raise AssertionError(f"teach the test to resolve {value!r}")


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str  # resolved ARN pattern (IAM wildcards)

    def allows(self, action: str, arn: str) -> bool:
        return self.action.lower() == action.lower() and _glob(self.resource).fullmatch(arn) is not None


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(logical_id: str) -> list[dict[str, Any]]:
    props = _resources()[logical_id]["Properties"]
    statements: list[dict[str, Any]] = []
    for policy in _as_list(props.get("Policies", [])):
        message = f"{logical_id}: only inline Statement policies are checked here, not {policy!r}"
        assert isinstance(policy, dict), message
        assert "Statement" in policy, message
        statements.extend(policy["Statement"])
    return statements


def grants(logical_id: str) -> list[Grant]:
    found = []
    for statement in policy_statements(logical_id):
        assert statement.get("Effect") == "Allow", f"{logical_id}: unexpected statement {statement}"
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                found.append(Grant(action, resolve(resource)))
    return found


def all_iam_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of the template: function policies and standalone IAM policies/roles."""
    for logical_id, resource in _resources().items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            for statement in policy_statements(logical_id):
                yield logical_id, statement
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in props["PolicyDocument"]["Statement"]:
                yield logical_id, statement
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement


# ---------------------------------------------------------------------- static checks


def test_no_wildcard_actions_or_resources() -> None:
    statements = list(all_iam_statements())
    assert len(statements) >= 9  # one policy per function at least: the walk found them
    for logical_id, statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            assert isinstance(action, str), f"{logical_id}: action {action!r}"
            assert "*" not in action, f"{logical_id}: wildcard action {action}"
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), f"{logical_id}: odd action {action}"
        for resource in _as_list(statement["Resource"]):
            arn = resolve(resource)
            assert arn != "*", f"{logical_id}: wildcard resource"
            assert not arn.endswith(":*"), f"{logical_id}: wildcard resource {arn}"


def test_template_managed_policies_are_not_used() -> None:
    """AWS managed policies would bypass the least-privilege checks below (SAM adds the execution
    basics itself: logs, X-Ray, stream reading, the on-failure destinations)."""
    for logical_id, resource in _resources().items():
        if resource["Type"] == "AWS::Serverless::Function":
            for policy in _as_list(resource["Properties"].get("Policies", [])):
                assert isinstance(policy, dict), f"{logical_id}: managed/template policy {policy}"


def _on_failure_destination(config: dict[str, Any]) -> Any:
    return ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")


def test_stream_sources_have_bounded_retries_and_on_failure_destination() -> None:
    streams = tpl.functions_with_event("DynamoDB") + tpl.functions_with_event("Kinesis")
    assert streams, "the badge consumer reads the table stream"
    for function, props in streams:
        name = function.logical_id
        assert 0 <= int(props["MaximumRetryAttempts"]) <= 10, name
        assert 60 <= int(props["MaximumRecordAgeInSeconds"]) <= 86_400, name
        assert props["BisectBatchOnFunctionError"] is True, name
        destination = _on_failure_destination(props)
        assert destination is not None, f"{name}: stream without an on-failure destination"
        assert _resources()[resolve(destination).rsplit(":", 1)[-1]]["Type"] == "AWS::SQS::Queue"


def test_async_sources_have_bounded_retries_and_on_failure_destination() -> None:
    async_functions = {
        function.logical_id
        for kind in ("S3", "ScheduleV2", "Schedule", "SNS", "EventBridgeRule", "CloudWatchEvent")
        for function, _ in tpl.functions_with_event(kind)
    }
    assert async_functions == {"DailyFunction", "CeUploadFunction"}
    for name in sorted(async_functions):
        config = _resources()[name]["Properties"].get("EventInvokeConfig") or {}
        assert 0 <= int(config.get("MaximumRetryAttempts", -1)) <= 2, f"{name}: retries not bounded"
        assert 60 <= int(config.get("MaximumEventAgeInSeconds", 0)) <= 21_600, name
        destination = _on_failure_destination(config)
        assert destination is not None, f"{name}: async function without an on-failure destination"
        assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    for function, props in tpl.functions_with_event("ScheduleV2"):
        # The scheduler's own retry policy and DLQ cover failed *delivery* (docs/architecture.md); bound them too.
        retry = props.get("RetryPolicy")
        if retry is not None:
            assert 0 <= int(retry["MaximumRetryAttempts"]) <= 5, function.logical_id
            assert int(retry["MaximumEventAgeInSeconds"]) <= 86_400, function.logical_id
        assert (props.get("DeadLetterConfig") or {}).get("Arn") is not None, function.logical_id


def _handler_sources() -> dict[str, str]:
    sources = {}
    for function in tpl.functions().values():
        path = ROOT / (function.module.replace(".", "/") + ".py")
        sources[function.logical_id] = path.read_text(encoding="utf-8")
    return sources


PARTIAL_BATCH_MARKERS = ("process_partial_response", "batchItemFailures", "async_process_partial_response")


def test_report_batch_item_failures_wherever_partial_responses_are_returned() -> None:
    partial = {
        name for name, source in _handler_sources().items() if any(m in source for m in PARTIAL_BATCH_MARKERS)
    }
    assert partial == {"BadgeIssueFunction"}  # found by reading the handlers, not assumed
    batch_sources = ("DynamoDB", "Kinesis", "SQS")
    for name, function in tpl.functions().items():
        for event in function.events.values():
            if event["Type"] not in batch_sources:
                continue
            types = event["Properties"].get("FunctionResponseTypes") or []
            if name in partial:
                assert "ReportBatchItemFailures" in types, f"{name}: partial responses without the flag"
            else:  # the flag without partial responses would silently mark every record successful
                assert "ReportBatchItemFailures" not in types, name
    for name in partial:
        kinds = {event["Type"] for event in tpl.functions()[name].events.values()}
        assert kinds & set(batch_sources), f"{name} returns batch item failures but has no batch source"


# Routes open to the internet (no IAM): each authenticates its caller itself, in the handler named here,
# before reading or writing anything.
UNAUTHENTICATED_ROUTES = {
    "POST /webhooks/stripe": ("functions/renewal/webhook.py", "stripe_webhook", "verify_with_refresh"),
    "POST /xapi/statements": ("functions/ce_ingest/xapi.py", "post_statements", "authenticate"),
    "POST /exam-results": ("functions/recertification/callbacks.py", "exam_result", "verify_with_refresh"),
    # Credly signs nothing: the envelope is only a hint, the event is fetched back from Credly (with our
    # token) and its organization checked before anything is stored (BadgeService.apply_webhook).
    "POST /webhooks/credly": ("functions/recertification/callbacks.py", "credly_webhook", "apply_webhook"),
}

CONSOLE_SIGN_IN_ROUTES = {"GET /console/sign-in", "GET /console/callback", "GET /console/sign-out"}


def test_every_route_but_the_signed_callers_requires_iam() -> None:
    api = next(r for r in _resources().values() if r["Type"] == "AWS::Serverless::HttpApi")
    assert api["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    assert api["Properties"]["Auth"]["EnableIamAuthorizer"] is True
    routes = tpl.routes()
    # the staff console's routes take the staff session instead, but for its sign-in, which reads and
    # writes no data (tests/ops/test_console_template.py)
    console = tpl.lambda_authorizers()
    open_routes = {r.route_key for r in routes if r.authorizer != "AWS_IAM" and r.authorizer not in console}
    assert open_routes == set(UNAUTHENTICATED_ROUTES) | CONSOLE_SIGN_IN_ROUTES
    for route in routes:
        staff = route.path.startswith("/admin") or (
            route.method != "GET"
            and route.path.startswith(("/catalog", "/members", "/recertifications", "/audits"))
        )
        if staff:
            assert route.authorizer == "AWS_IAM", f"{route.route_key} is a staff route without IAM"
    assert {r.route_key for r in routes if r.path.startswith("/admin")} <= {
        r.route_key for r in routes if r.authorizer == "AWS_IAM"
    }


@pytest.mark.parametrize("route_key", sorted(UNAUTHENTICATED_ROUTES))
def test_unauthenticated_routes_verify_their_caller_first(route_key: str) -> None:
    """The route's handler calls its verifier before any other statement that could read or write."""
    path, function_name, verifier = UNAUTHENTICATED_ROUTES[route_key]
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    function = next(
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function_name
    )
    method, route_path = route_key.split(" ", 1)
    decorators = [ast.unparse(d) for d in function.decorator_list]
    assert any(f"app.{method.lower()}(" in d and f"'{route_path}'" in d for d in decorators), decorators
    nodes = sorted(
        (node for statement in function.body for node in ast.walk(statement) if isinstance(node, ast.Call)),
        key=lambda node: (node.lineno, node.col_offset),
    )  # in source order, decorators left out
    calls = [
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in nodes
    ]
    assert verifier in calls, f"{route_key}: {function_name} never calls {verifier}"
    touching = {"service", "handle", "record_exam_result", "ingest", "upsert"}
    first_write = min((i for i, name in enumerate(calls) if name in touching), default=len(calls))
    assert calls.index(verifier) < first_write, f"{route_key}: verified after reading/writing"


# ---------------------------------------------------------------------- recording what the code calls

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("staycert_function", default=None)


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: str  # JSON of the API parameters (hashable)

    @property
    def args(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.params)
        return loaded


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        function = _CURRENT.get()
        if function is None:  # the local stack's own plumbing (provisioning, stream polling, uploads)
            return
        service = model.service_model.service_name
        self.calls.append(
            Call(function, service, model.name, json.dumps(params, default=str, sort_keys=True))
        )


def _attributed(logical_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        # Every function runs in its own Lambda process; here all share one. Dropping the process
        # caches (secrets, catalog, clients) makes each invocation cold, so a cached read made by one
        # function is still recorded for every other function that needs it.
        reset_process_caches()
        token = _CURRENT.set(logical_id)
        try:
            return handler(event, context)
        finally:
            _CURRENT.reset(token)

    return invoke


# Local physical names (local/stack.py) -> logical ids, to compare calls with the deployed policies.
def _local_to_logical() -> dict[str, str]:
    return {
        value: logical_id
        for logical_id, value in LOCAL_REFS.items()
        if logical_id in _resources() or logical_id == "NoticeSender"
    }


def _table_arn(local_name: str, index: str | None = None) -> str:
    logical_id = _local_to_logical()[local_name]
    arn = _get_att(logical_id, "Arn")
    return f"{arn}/index/{index}" if index else arn


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{_ref(_local_to_logical()[bucket])}/{key}"


_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def required_permissions(call: Call) -> list[tuple[str, str]]:
    """The IAM (action, resource ARN) pairs one API call needs (Service Authorization Reference)."""
    args, op = call.args, call.operation
    if call.service == "dynamodb":
        if op in ("TransactWriteItems", "TransactGetItems"):  # no IAM action of its own: per item
            return [
                (f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", _table_arn(body["TableName"]))
                for item in args["TransactItems"]
                for kind, body in item.items()
            ]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{op}", _table_arn(table)) for table in args["RequestItems"]]
        return [(f"dynamodb:{op}", _table_arn(args["TableName"], args.get("IndexName")))]
    if call.service == "s3":
        versioned = "VersionId" in args
        if op in ("GetObject", "HeadObject"):
            return [
                (
                    "s3:GetObjectVersion" if versioned else "s3:GetObject",
                    _object_arn(args["Bucket"], args["Key"]),
                )
            ]
        if op == "PutObject":
            return [("s3:PutObject", _object_arn(args["Bucket"], args["Key"]))]
        if op == "DeleteObject":
            return [
                (
                    "s3:DeleteObjectVersion" if versioned else "s3:DeleteObject",
                    _object_arn(args["Bucket"], args["Key"]),
                )
            ]
        if op == "CopyObject":
            source = args["CopySource"]
            assert isinstance(source, dict), f"CopySource as a string: teach the test {source!r}"
            read = "s3:GetObjectVersion" if "VersionId" in source else "s3:GetObject"
            return [
                (read, _object_arn(source["Bucket"], source["Key"])),
                ("s3:PutObject", _object_arn(args["Bucket"], args["Key"])),
            ]
    if call.service == "secretsmanager" and op == "GetSecretValue":
        logical_id = _local_to_logical()[args["SecretId"]]
        return [("secretsmanager:GetSecretValue", _ref(logical_id))]
    if call.service in ("ses", "sesv2") and op in ("SendEmail", "SendRawEmail"):
        source = args.get("Source") or args.get("FromEmailAddress")
        needed = [(f"ses:{op}", f"arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:identity/{source}")]
        if args.get("ConfigurationSetName"):
            config_set = _ref(_local_to_logical()[args["ConfigurationSetName"]])
            needed.append(
                (f"ses:{op}", f"arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:configuration-set/{config_set}")
            )
        return needed
    raise AssertionError(f"teach required_permissions {call.service}:{op} (called by {call.function})")


# Allowed (function, action, resource suffix) that the recorded scenarios do not reach, with the code
# path that needs each. Keep this short: prefer adding a scenario to adding a line here.
NOT_EXERCISED: dict[tuple[str, str, str], str] = {
    ("RecertificationApiFunction", "dynamodb:UpdateItem", "table/StayCertTable"): (
        "POST /recertifications/{id}/decision approving a CCP application whose fee is already paid: "
        "RecertificationService.decide -> try_complete -> RecertStore.complete (transaction: Put the "
        "recertified fact + Update the certification's due date)"
    ),
    ("BadgeIssueFunction", "dynamodb:UpdateItem", "table/StayCertTable"): (
        "a recertification fee landing after the decision/exam result: the stream's payment record -> "
        "RecertificationService.on_payment -> try_complete -> RecertStore.complete (Update as above)"
    ),
    ("ConsoleFunction", "dynamodb:DeleteItem", "table/StayCertTable"): (
        "a payment exception credited from the console while a refund or dispute of that payment is "
        "held for it: PaymentService.resolve -> _credit -> PaymentLedger.credit deletes the pending "
        "reversal it applies (as WebhookFunction does when the payment itself arrives)"
    ),
}


def _demo_and_extras(stack: LocalStack) -> None:
    from local.demo import CHAPTERS, Demo

    demo = Demo(stack.url, stripe_url=stack.fake_stripe.url)
    for chapter in CHAPTERS:
        importlib.import_module(chapter).play(demo)
    base = stack.url
    # staff listings and lookups the demo does not open
    for path in ("/admin/unmapped-activities", "/admin/unmatched-statements", "/admin/quarantined-uploads"):
        assert requests.get(f"{base}{path}", timeout=30).status_code == 200, path
    assert requests.get(f"{base}/recertifications/nobody.RMA.1", timeout=30).status_code == 404
    # the open routes refuse callers without credentials, before touching anything
    refused = {
        "/webhooks/stripe": ({}, (400,)),
        "/xapi/statements": ({"x-experience-api-version": "1.0.3"}, (401,)),
        "/exam-results": ({}, (401,)),
    }
    for path, (headers, statuses) in refused.items():
        response = requests.post(f"{base}{path}", data=b'{"id": "x"}', headers=headers, timeout=30)
        assert response.status_code in statuses, (path, response.status_code, response.text)
    # a Credly badge.state.changed webhook for a badge the demo issued (confirmed with the fake Credly)
    assert stack.fake_credly is not None
    issued = stack.fake_credly.issued()
    assert issued, "the demo issues a badge"
    badge = next((b for b in issued if b.get("state") == "pending"), issued[0])
    event_id = stack.fake_credly.change_state(badge["id"], "accepted")
    envelope = {
        "id": event_id,
        "organization_id": LOCAL_REFS["CredlyOrganizationId"],
        "event_type": "badge.state.changed",
    }
    assert requests.post(f"{base}/webhooks/credly", json=envelope, timeout=30).status_code == 200
    _payment_paths(stack)
    _versioned_uploads(stack)
    _console_paths(stack)
    # a CE batch over the size limit is quarantined unread (moved: copy, then delete)
    oversized = b"x" * (5 * 1024 * 1024 + 1)
    stack.upload("ce-batches/provider-policy/too-big.csv", oversized, "text/csv")
    # an xAPI statement whose actor is an e-mail address (mbox): matched through the EmailIndex
    statement = {
        "id": "6a1f0d52-6f35-4a53-9a4e-2f7d3b1e0c11",
        "actor": {"mbox": "mailto:" + ZOE["email"]},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://courses.example.org/ccp/not-in-the-catalog"},
        "timestamp": "2028-05-02T12:00:00Z",
    }
    lms = LOCAL_SECRETS["LmsClientsSecret"]["clients"]["demo-lms"]
    response = requests.post(
        f"{base}/xapi/statements",
        json=[statement],
        auth=("demo-lms", lms["passwords"]["current"]),
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    # ... an unmapped activity: the staff listing checks it against the catalog (BatchGetItem), and
    # so does the next daily run evaluating zoe (CatalogService.lookup)
    assert requests.get(f"{base}/admin/unmapped-activities", timeout=30).json()["activities"]
    assert requests.post(f"{base}/_local/daily", json={"date": "2029-03-01"}, timeout=60).status_code == 200
    # an exam result for an unknown member: signed, so it reaches the member lookup (404)
    raw = json.dumps(
        {
            "result_id": "R-none",
            "member_id": "nobody",
            "credential": "RMA",
            "exam_date": "2028-01-01",
            "passed": True,
        }
    ).encode()
    signature = sign(raw, LOCAL_SECRETS["ExamVendorSecret"]["current"], int(time.time()))
    response = requests.post(
        f"{base}/exam-results",
        data=raw,
        headers={"content-type": "application/json", "exam-signature": signature},
        timeout=30,
    )
    assert response.status_code in (400, 404), response.text


ZOE = {
    "first_name": "Zoe",
    "last_name": "Quinn",
    "email": "zoe.quinn@example.org",
    "certifications": [{"credential": "RMA", "certified_on": "2024-03-01"}],
}


def _stripe(base: str, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    event = {
        "id": f"evt_{event_type}_{obj['id']}",
        "object": "event",
        "type": event_type,
        "created": obj["created"],
        "data": {"object": obj},
    }
    body = json.dumps(event).encode()
    secret = LOCAL_SECRETS["StripeWebhookSecret"]["current"]
    headers = {"Stripe-Signature": sign(body, secret, int(time.time())), "content-type": "application/json"}
    response = requests.post(f"{base}/webhooks/stripe", data=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _payment_paths(stack: LocalStack) -> None:
    """Parked and pending items being resolved: the roster brings zoe, whose payment the demo parked
    (MembersApi credits it: Delete parked + Update nudge + ConditionCheck); a refund that arrives
    before its payment is held, then the payment moves it (Webhook: Delete pending)."""
    base = stack.url
    response = requests.put(f"{base}/members/zoe", json=ZOE, timeout=30)
    assert response.status_code == 201, response.text
    created = 1_748_883_900
    refund = {
        "id": "ch_policy_1",
        "object": "charge",
        "refunded": True,
        "payment_intent": "pi_policy_1",
        "created": created,
    }
    assert _stripe(base, "charge.refunded", refund)["result"] in ("parked", "reversed", "ignored")
    checkout = {
        "id": "cs_policy_1",
        "object": "checkout.session",
        "payment_status": "paid",
        "payment_intent": "pi_policy_1",
        "amount_total": 5000,
        "currency": "usd",
        "created": created,
        "metadata": {"member_id": "zoe", "credential": "RMA", "purpose": "annual_fee"},
    }
    assert _stripe(base, "checkout.session.completed", checkout)["result"] == "credited"


def _versioned_uploads(stack: LocalStack) -> None:
    """The deployed bucket is versioned, so every S3 event names a version: read by version id. The
    roster file brings in pia, whose payment is parked first: the import credits it (CeUpload: the
    two listings on ListIndex, then Delete parked + Update nudge + ConditionCheck)."""
    parked = {
        "id": "pi_policy_pia",
        "object": "payment_intent",
        "amount": 5000,
        "amount_received": 5000,
        "currency": "usd",
        "created": 1_748_883_900,
        "status": "succeeded",
        "metadata": {"member_id": "pia", "credential": "RMA", "purpose": "annual_fee"},
    }
    assert _stripe(stack.url, "payment_intent.succeeded", parked)["result"] == "parked"
    pia = b"pia,Pia,Lund,pia@example.org,,,,,,,RMA,2016-05-14,2021-10-01,2022-05-13,2019-05-14,,active,,,\n"
    s3 = stack.client("s3")
    bucket = stack.refs["FilesBucket"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    files = {
        "ce-batches/provider-policy/2028-05.csv": b"member_id,activity_id,completed_on,points\nzoe,https://courses.example.org/ccp/hipaa,2028-05-01,2\n",
        "evidence/zoe/audit/log.pdf": b"%PDF-1.4 policy test\n",
        "roster-imports/policy.csv": (
            Path(__file__).parents[2] / "docs/examples/roster-import.csv"
        ).read_bytes()
        + pia,
    }
    for key, body in files.items():
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": REGION,
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {
                    "key": key,
                    "size": len(body),
                    "eTag": put["ETag"].strip('"'),
                    "versionId": put["VersionId"],
                },
            },
        }
        stack.invoke("CeUploadFunction", {"Records": [record]})


def _console_paths(stack: LocalStack) -> None:
    """The staff console after the demo: search by e-mail (EmailIndex), a member page, every queue,
    and an action confirmed then performed (a catalog mapping)."""
    base = stack.url
    found = requests.get(f"{base}/console/members", params={"q": ZOE["email"]}, timeout=30)
    assert found.status_code == 200, found.text
    assert "Zoe" in found.text
    for queue in (
        "audits",
        "recertifications",
        "parked-payments",
        "payment-exceptions",
        "quarantined-uploads",
        "unmapped-activities",
        "unmatched-statements",
    ):
        assert requests.get(f"{base}/console/queues/{queue}", timeout=30).status_code == 200, queue
    mapping = {
        "activity_id": "https://courses.example.org/ccp/policy-console",
        "title": "Policy console",
        "category": "professional_education",
        "points": "1",
        "provider_id": "acme",
        "confirmed": "yes",
    }
    same_origin = {"Origin": base}  # as the browser sends it with the console's own forms
    done = requests.post(
        f"{base}/console/actions/catalog-mapping", data=mapping, headers=same_origin, timeout=30
    )
    assert done.status_code == 200, done.text
    short = {
        "id": "pi_policy_console",
        "object": "payment_intent",
        "amount": 100,
        "amount_received": 100,
        "currency": "usd",
        "created": 1_748_883_900,
        "status": "succeeded",
        "metadata": {
            "member_id": "zoe",
            "credential": "RMA",
            "purpose": "annual_fee",
            "invoices": "zoe-RMA-2026",
        },
    }
    assert _stripe(base, "payment_intent.succeeded", short)["result"] == "exception"
    credit = {"payment_key": "pi_policy_console", "action": "credit", "note": "policy", "confirmed": "yes"}
    done = requests.post(
        f"{base}/console/actions/payment-resolution", data=credit, headers=same_origin, timeout=30
    )
    assert done.status_code == 200, done.text


@pytest.fixture(scope="module")
def recorded() -> Iterator[list[Call]]:
    recorder = Recorder()
    patch = pytest.MonkeyPatch()
    try:
        # Every botocore session created from here on (boto3's default one, Powertools' own for
        # Secrets Manager) carries the hook; the stack's start() drops every cached client.
        patch.setattr(
            botocore_handlers,
            "BUILTIN_HANDLERS",
            [*botocore_handlers.BUILTIN_HANDLERS, ("provide-client-params", recorder.hook)],
        )
        patch.setattr(boto3, "DEFAULT_SESSION", None)
        for function in tpl.functions().values():
            module = importlib.import_module(function.module)
            original = getattr(module, function.attribute)
            patch.setattr(module, function.attribute, _attributed(function.logical_id, original))
        with LocalStack(env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"}) as stack:
            _demo_and_extras(stack)
        yield recorder.calls
    finally:
        patch.undo()
        boto3.DEFAULT_SESSION = None


def _operations(calls: list[Call]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for call in calls:
        found.setdefault(call.function, set()).add(f"{call.service}:{call.operation}")
    return found


def test_every_function_was_exercised(recorded: list[Call]) -> None:
    ops = _operations(recorded)
    print(json.dumps({name: sorted(values) for name, values in sorted(ops.items())}, indent=2))
    # The console's authorizer calls no AWS API (only the user pool's public JWKS URL), and the local
    # stack plays it (no sign-in locally): tests/console/test_console_sign_in.py runs it.
    expected = set(tpl.functions()) - {"ConsoleAuthorizerFunction"}
    assert set(ops) == expected, f"functions never invoked: {expected - set(ops)}"
    assert "Policies" not in tpl.resources()["ConsoleAuthorizerFunction"]["Properties"]


def test_every_call_is_allowed_for_its_resource(recorded: list[Call]) -> None:
    denied = set()
    for call in recorded:
        allowed = grants(call.function)
        for action, arn in required_permissions(call):
            if not any(grant.allows(action, arn) for grant in allowed):
                denied.add((call.function, f"{call.service}:{call.operation}", action, arn))
    assert not denied, "calls the template does not allow:\n" + "\n".join(map(str, sorted(denied)))


def test_every_grant_is_used_or_explained(recorded: list[Call]) -> None:
    used: dict[str, set[tuple[str, str]]] = {}
    for call in recorded:
        used.setdefault(call.function, set()).update(required_permissions(call))
    unused = []
    for name in tpl.functions():
        for grant in grants(name):
            if any(grant.allows(action, arn) for action, arn in used.get(name, set())):
                continue
            explained = [
                reason
                for (function, action, suffix), reason in NOT_EXERCISED.items()
                if function == name and action == grant.action and grant.resource.endswith(suffix)
            ]
            if not explained:
                unused.append(f"{name}: {grant.action} on {grant.resource}")
    assert not unused, "granted but never called (remove, or list in NOT_EXERCISED):\n" + "\n".join(unused)


def test_not_exercised_entries_are_still_needed(recorded: list[Call]) -> None:
    """An explanation must not outlive its grant, nor excuse what the scenarios now exercise."""
    for (function, action, suffix), reason in NOT_EXERCISED.items():
        matching = [g for g in grants(function) if g.action == action and g.resource.endswith(suffix)]
        assert matching, (
            f"NOT_EXERCISED names a grant the template no longer has: {function} {action} {suffix}"
        )
        assert reason.strip()
        used = {p for call in recorded if call.function == function for p in required_permissions(call)}
        assert not any(g.allows(a, arn) for g in matching for a, arn in used), (
            f"{function} {action} {suffix} is exercised now: drop it from NOT_EXERCISED"
        )


def test_recorder_sees_calls_attributed_to_the_invoked_function() -> None:
    """The hook itself: a call inside an attributed handler is recorded for it, outside is not."""
    from moto import mock_aws

    recorder = Recorder()
    patch = pytest.MonkeyPatch()
    patch.setattr(
        botocore_handlers,
        "BUILTIN_HANDLERS",
        [*botocore_handlers.BUILTIN_HANDLERS, ("provide-client-params", recorder.hook)],
    )
    try:
        with mock_aws():
            session = boto3.session.Session(region_name=REGION)
            client = session.client("dynamodb")

            def handler(event: Any, context: Any) -> Any:
                return client.list_tables()

            client.list_tables()
            _attributed("SomeFunction", handler)({}, None)
    finally:
        patch.undo()
    assert [(c.function, c.service, c.operation) for c in recorder.calls] == [
        ("SomeFunction", "dynamodb", "ListTables")
    ]
    assert inspect.isfunction(required_permissions)
