"""The embedded local stack: a moto server plus a gateway that plays API Gateway, S3 notifications,
the DynamoDB stream and the scheduler for the real handlers - all on loopback, all from template.yaml.

Local only, and without authentication: the gateway does not enforce IAM (routes marked AWS_IAM in
the template are open to anyone who can reach loopback; only the handlers' own signature and Basic
checks run), it hands the staff console's routes (the template's Lambda authorizer) the context of a
signed-in staff member's session (``local.events.LOCAL_STAFF_SESSION``) without any sign-in, and secrets hold the
documented development defaults in ``LOCAL_SECRETS``.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote
from urllib.request import Request as Request_
from urllib.request import urlopen

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from local import template as tpl
from local.botocore_loader import share_botocore_loader
from local.events import http_api_event, s3_object_created_event
from shared.clock import BUSINESS_DATE_ENV

log = logging.getLogger("staycert.local")
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines for moto's own calls

REGION = "us-east-1"
ACCOUNT = "123456789012"

# How template references resolve locally (logical id -> local physical name or value).
LOCAL_REFS: dict[str, str] = {
    "StayCertTable": "StayCert",
    "FilesBucket": "staycert-files-local",
    "BusinessTimezone": "America/Chicago",
    "Stage": "local",
    "StripeWebhookSecret": "StripeWebhookSecret",
    # Payment links: the local stack starts a fake Stripe (local/fake_stripe.py) and points the SDK at it.
    "StripeApiSecret": "StripeApiSecret",
    "PortalUrl": "http://localhost:3000",
    "LmsClientsSecret": "staycert/lms-clients",
    "NoticeSender": "notices@example.org",
    "NoticesConfigurationSet": "staycert-notices",
    # Recertification and Credly: the local stack starts a fake Credly (local/fake_credly.py)
    # unless given a --credly-url; every credential gets a local badge template id.
    "CredlySecret": "staycert/credly",
    "ExamVendorSecret": "staycert/exam-vendor",
    "CredlyOrganizationId": "local-org",
    "CredlyBadgeExpiry": "never",
    "BadgeTemplateIds": json.dumps(
        {
            code: f"local-template-{code.lower()}"
            for code in ("RMA", "CMAS", "RDA", "CMLA", "RPT", "AHI", "MLS", "MLT", "CLC", "MDT")
        }
    ),
}

# Development defaults for every secret of the template (never used outside the local stack).
LOCAL_SECRETS: dict[str, dict[str, Any]] = {
    # Stripe webhook signing secret: `make demo` signs its Stripe events with "current".
    "StripeWebhookSecret": {"current": "whsec_staycert_local_development_only", "previous": ""},
    # Payment links: the fake Stripe's restricted key.
    "StripeApiSecret": {"current": "rk_test_staycert_local", "previous": ""},
    # LMS clients for POST /xapi/statements: Basic auth demo-lms / demo-lms-local-password.
    "LmsClientsSecret": {
        "clients": {
            "demo-lms": {
                "homePage": "https://lms.example.org",
                "passwords": {"current": "demo-lms-local-password", "previous": ""},
            }
        }
    },
}

# Recertification: the fake Credly's token and the exam vendor's signing secret.
LOCAL_SECRETS["CredlySecret"] = {"token": "local-credly-token"}
LOCAL_SECRETS["ExamVendorSecret"] = {"current": "exam_vendor_local_development_only", "previous": ""}

_INVOKE_LOCK = threading.RLock()  # one invocation at a time: handlers share this process's env


@dataclass
class Invocation:
    function: str
    event: dict[str, Any]
    result: Any


@dataclass
class _StreamCursor:
    iterators: dict[str, str] = field(default_factory=dict)


class SerialMotoServer(ThreadedMotoServer):
    """moto's server, answering one request at a time.

    moto's in-memory backends are not thread-safe: two concurrent conditional writes can both pass
    their condition, and a transaction deep-copying a table while another request writes it fails
    with a 500. DynamoDB guarantees neither can happen, so the local stack serialises requests
    (connections are still accepted concurrently) - concurrent clients then see DynamoDB's
    semantics, one atomic request after another."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serial(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, serial, threaded=True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``url`` is the gateway's base URL."""

    def __init__(
        self,
        port: int = 0,
        moto_port: int = 0,
        credly_url: str | None = None,
        env_overrides: dict[str, str] | None = None,
    ) -> None:
        self._requested_port = port
        self._env_overrides = env_overrides or {}
        self._moto = SerialMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self._gateway: BaseWSGIServer | None = None
        self._gateway_thread: threading.Thread | None = None
        self.credly_url = credly_url
        self.fake_credly: Any = None  # local.fake_credly.FakeCredly when no credly_url is given
        self.fake_stripe: Any = None  # local.fake_stripe.FakeStripe
        self.functions = tpl.functions()
        self.routes = [(route, route.pattern()) for route in tpl.routes()]
        self.invocations: list[Invocation] = []
        self.dead_letters: list[dict[str, Any]] = []
        self._stream = _StreamCursor()
        self.refs = dict(LOCAL_REFS)  # grows with physical ids (queue URLs, stream ARNs) as provisioned
        self._saved_env: dict[str, str | None] = {}
        self.endpoint_url = ""

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        share_botocore_loader()
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's backends live in this process; a second stack in it must not see the first one's data.
        urlopen(Request_(f"{self.endpoint_url}/moto-api/reset", method="POST"), timeout=10).close()  # noqa: S310
        if self.credly_url is None:
            from local.fake_credly import FakeCredly

            self.fake_credly = FakeCredly(organization_id=LOCAL_REFS["CredlyOrganizationId"]).start()
            self.credly_url = self.fake_credly.url
        from local.fake_stripe import FakeStripe

        self.fake_stripe = FakeStripe(
            api_key=LOCAL_SECRETS["StripeApiSecret"]["current"],
            webhook_secret=LOCAL_SECRETS["StripeWebhookSecret"]["current"],
        ).start()
        self.refs["StripeApiBase"] = self.fake_stripe.url
        self._set_env(self._base_env())
        reset_process_caches()
        self._provision()
        self._gateway = make_server("127.0.0.1", self._requested_port, self._wsgi, threaded=True)
        self._gateway_thread = threading.Thread(target=self._gateway.serve_forever, daemon=True)
        self._gateway_thread.start()
        self.fake_stripe.webhook_url = f"{self.url}/webhooks/stripe"
        log.info("local stack up: gateway %s, moto %s", self.url, self.endpoint_url)

    def stop(self) -> None:
        if self._gateway is not None:
            self._gateway.shutdown()
        self._moto.stop()
        if self.fake_credly is not None:
            self.fake_credly.stop()
        if self.fake_stripe is not None:
            self.fake_stripe.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_process_caches()

    @property
    def url(self) -> str:
        assert self._gateway is not None, "start() first"
        return f"http://127.0.0.1:{self._gateway.server_port}"

    def _base_env(self) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
        for function in self.functions.values():
            for name, value in function.environment.items():
                resolved = self.resolve(value)
                if resolved is not None:
                    env[name] = resolved
        if self.credly_url:
            env["CREDLY_BASE_URL"] = self.credly_url
        return {**env, **self._env_overrides}

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def resolve(self, value: Any) -> str | None:
        """A template value with !Ref / !GetAtt / !Sub resolved to local names (None if unknown)."""
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and "Ref" in value:
            return self.refs.get(value["Ref"])
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.refs.get(f"{logical_id}.{attribute}")
        return None

    # ------------------------------------------------------------------ resources

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION)  # type: ignore[call-overload]

    def _provision(self) -> None:
        dynamodb = self.client("dynamodb")
        for logical_id, resource in tpl.resources().items():
            kind = resource["Type"]
            name = self.refs.get(logical_id, logical_id)
            if kind == "AWS::DynamoDB::Table":
                dynamodb.create_table(TableName=name, **tpl.table_definition(logical_id))
            elif kind == "AWS::S3::Bucket":
                self.client("s3").create_bucket(Bucket=name)
            elif kind == "AWS::SQS::Queue":
                url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
                self.refs[f"{logical_id}.QueueUrl"] = url
            elif kind == "AWS::SecretsManager::Secret":
                value = LOCAL_SECRETS.get(logical_id, {})
                self.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))
            elif kind == "AWS::SES::ConfigurationSet":
                self.client("ses").create_configuration_set(ConfigurationSet={"Name": name})
            elif kind == "AWS::SES::EmailIdentity":
                identity = self.resolve(resource["Properties"]["EmailIdentity"])
                self.client("ses").verify_email_identity(EmailAddress=identity)
        self._open_streams()

    def _open_streams(self) -> None:
        streams = self.client("dynamodbstreams")
        for logical_id, resource in tpl.resources().items():
            if resource["Type"] != "AWS::DynamoDB::Table":
                continue
            table = self.client("dynamodb").describe_table(TableName=self.refs.get(logical_id, logical_id))
            arn = table["Table"].get("LatestStreamArn")
            if not arn:
                continue
            self.refs[f"{logical_id}.StreamArn"] = arn
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                iterator = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self._stream.iterators[f"{arn}|{shard['ShardId']}"] = iterator

    # ------------------------------------------------------------------ invocation

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a handler in-process, as Lambda would, then deliver what it wrote to the stream."""
        function = self.functions[logical_id]
        with _INVOKE_LOCK:
            handler: Callable[[dict[str, Any], Any], Any] = getattr(
                importlib.import_module(function.module), function.attribute
            )
            result = handler(event, _context(function))
            self.invocations.append(Invocation(logical_id, event, result))
            for _ in range(5):  # consumers' own writes (e.g. a completion) are stream records too
                if not self.deliver_stream():
                    break
        return result

    def deliver_stream(self) -> int:
        """Hand new stream records to every function subscribed to the table's stream."""
        consumers = tpl.functions_with_event("DynamoDB")
        if not consumers:
            return 0
        streams = self.client("dynamodbstreams")
        delivered = 0
        for cursor_key, iterator in list(self._stream.iterators.items()):
            arn, shard_id = cursor_key.split("|", 1)
            response = streams.get_records(ShardIterator=iterator)
            self._stream.iterators[cursor_key] = response["NextShardIterator"]
            records = [{**record, "eventSourceARN": arn} for record in response["Records"]]
            if not records:
                continue
            for function, props in consumers:
                self._deliver_batch(function.logical_id, records, props, shard_id)
            delivered += len(records)
        return delivered

    def _deliver_batch(
        self, logical_id: str, records: list[dict[str, Any]], props: dict[str, Any], shard_id: str
    ) -> None:
        """Deliver with partial-batch semantics: failed records are retried up to the template's
        MaximumRetryAttempts, then sent to the template's on-failure queue as Lambda does (the batch's
        shard and sequence numbers, not the record) and kept in ``dead_letters``."""
        attempts_left = int(props.get("MaximumRetryAttempts", 2)) + 1
        pending = _jsonable(records)
        function = self.functions[logical_id]
        attempts = 0
        while pending and attempts_left > 0:
            attempts_left -= 1
            attempts += 1
            handler = getattr(importlib.import_module(function.module), function.attribute)
            result = handler({"Records": pending}, _context(function)) or {}
            failed_ids = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
            pending = [r for r in pending if r["dynamodb"]["SequenceNumber"] in failed_ids]
        self.dead_letters.extend(pending)
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        queue_url = self.refs.get(f"{destination['Fn::GetAtt'][0]}.QueueUrl") if destination else None
        for record in pending if queue_url else []:  # bisected down to single records, as Lambda ends
            message = stream_failure_message(function, record, shard_id, attempts)
            self.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))

    def invoke_async(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke as Lambda does an asynchronous event: the first try plus the template's
        EventInvokeConfig MaximumRetryAttempts; if all fail, Lambda's on-failure record (with the
        original event as ``requestPayload``) goes to the OnFailure queue and None is returned."""
        function = self.functions[logical_id]
        config = tpl.resources()[logical_id]["Properties"].get("EventInvokeConfig", {})
        attempts = int(config.get("MaximumRetryAttempts", 2)) + 1
        for attempt in range(1, attempts + 1):
            try:
                return self.invoke(logical_id, event)
            except Exception as error:
                if attempt < attempts:
                    continue
                destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                if not destination:
                    raise
                message = {
                    "version": "1.0",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "requestContext": {
                        "requestId": str(uuid.uuid4()),
                        "functionArn": f"{_context(function).invoked_function_arn}:$LATEST",
                        "condition": "RetriesExhausted",
                        "approximateInvokeCount": attempts,
                    },
                    "requestPayload": event,
                    "responseContext": {
                        "statusCode": 200,
                        "executedVersion": "$LATEST",
                        "functionError": "Unhandled",
                    },
                    "responsePayload": {"errorType": type(error).__name__, "errorMessage": str(error)},
                }
                queue_url = self.refs[f"{destination['Fn::GetAtt'][0]}.QueueUrl"]
                self.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        return None

    def fire_daily(self, day: date) -> list[Any]:
        """Set the business clock to ``day`` and fire every scheduled function with ``{"date": day}``."""
        os.environ[BUSINESS_DATE_ENV] = day.isoformat()
        return [
            self.invoke(function.logical_id, {"date": day.isoformat(), "source": "local"})
            for function, _ in tpl.functions_with_event("ScheduleV2")
        ]

    def upload(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> list[Any]:
        """Store an object in the files bucket and deliver the S3 ObjectCreated event to subscribers."""
        bucket = self.refs["FilesBucket"]
        put = self.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        event = s3_object_created_event(bucket, key, len(body), put["ETag"].strip('"'))
        results = []
        for function, props in tpl.functions_with_event("S3"):
            if _matches_filter(key, props.get("Filter", {})):
                results.append(self.invoke(function.logical_id, event))
        return results

    # ------------------------------------------------------------------ the gateway

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except Exception:  # the gateway's own 500, like API Gateway's on an integration failure
            log.exception("local gateway: %s %s failed", request.method, request.path)
            response = Response(
                json.dumps({"message": "Internal Server Error"}), 500, mimetype="application/json"
            )
        return iter(response(environ, start_response))

    def _dispatch(self, request: Request) -> Response:
        # The path as sent (werkzeug decodes request.path): API Gateway matches routes on the raw path,
        # so a URL-encoded IRI with %2F stays one path segment (GET /catalog/activities/{activity_id}).
        raw_uri = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
        path = raw_uri.split("?", 1)[0] if raw_uri.startswith("/") else request.path
        if path == "/_local/daily" and request.method == "POST":
            try:  # any content type: `curl -d '{"date": ...}'` sends form-encoded headers
                payload = json.loads(request.get_data() or b"{}")
                day = date.fromisoformat(str(payload.get("date")))
            except (ValueError, AttributeError):
                return _json_response(400, {"error": 'body must be {"date": "YYYY-MM-DD"}'})
            results = self.fire_daily(day)
            return _json_response(200, {"date": day.isoformat(), "results": _jsonable(results)})
        if path == "/_local/info" and request.method == "GET":  # what `staycert ops --local` needs
            return _json_response(200, {"endpoint_url": self.endpoint_url, "refs": self.refs})
        if path.startswith("/_local/invoke/") and request.method == "POST":  # lambda:Invoke's stand-in
            logical_id = path.removeprefix("/_local/invoke/")
            if logical_id not in self.functions:
                return _json_response(404, {"message": f"no function {logical_id}"})
            try:
                result = self.invoke(logical_id, json.loads(request.get_data() or b"{}"))
            except Exception as error:  # Lambda's FunctionError: Unhandled, with the error's type
                log.exception("local invoke of %s failed", logical_id)
                return _json_response(
                    200, {"FunctionError": type(error).__name__, "errorMessage": str(error)}
                )
            return _json_response(200, {"Payload": _jsonable(result)})
        if path.startswith("/_local/uploads/") and request.method == "PUT":
            key = unquote(path.removeprefix("/_local/uploads/"))
            results = self.upload(key, request.get_data(), request.content_type or "application/octet-stream")
            return _json_response(200, {"key": key, "results": _jsonable(results)})
        # "/console/" (a trailing slash, as people type it) is "/console": API Gateway routes no empty segment.
        if path.endswith("/") and len(path) > 1 and not any(p.match(path) for _, p in self.routes):
            path = path.rstrip("/")
        for route, pattern in self.routes:
            match = pattern.match(path)
            if match and route.method == request.method:
                event = http_api_event(
                    route,
                    path,
                    {k: unquote(v) for k, v in match.groupdict().items()},
                    headers=dict(request.headers.items()),
                    body=request.get_data(),
                    query=request.query_string.decode("latin-1"),
                    source_ip=request.remote_addr or "127.0.0.1",
                )
                result = self.invoke(route.function, event)
                return _api_response(result)
        return _json_response(404, {"message": "Not Found"})


# ---------------------------------------------------------------------- event builders


def _context(function: tpl.FunctionDef) -> Any:
    return SimpleNamespace(
        function_name=function.logical_id,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function.logical_id}",
        memory_limit_in_mb=512,
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{function.logical_id}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 900_000,
    )


def stream_failure_message(
    function: tpl.FunctionDef, record: dict[str, Any], shard_id: str, attempts: int
) -> dict[str, Any]:
    """What Lambda sends a stream event source mapping's on-failure destination: where the failed
    batch sits in the stream (the records themselves stay there, for the stream's 24 h)."""
    sequence = record["dynamodb"]["SequenceNumber"]
    arrived = str(record["dynamodb"].get("ApproximateCreationDateTime", ""))
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": _context(function).invoked_function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": ""},
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "approximateArrivalOfFirstRecord": arrived,
            "approximateArrivalOfLastRecord": arrived,
            "batchSize": 1,
            "streamArn": record["eventSourceARN"],
        },
    }


def _api_response(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=int(result.get("statusCode", 200)))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = value
    return response


def _json_response(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _matches_filter(key: str, s3_filter: dict[str, Any]) -> bool:
    for rule in s3_filter.get("S3Key", {}).get("Rules", []):
        name, value = rule["Name"].lower(), rule["Value"]
        if (name == "prefix" and not key.startswith(value)) or (name == "suffix" and not key.endswith(value)):
            return False
    return True


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON (stream records carry datetimes and Decimals from boto3)."""
    return json.loads(json.dumps(value, default=str))


def reset_process_caches() -> None:
    """Forget what handlers cache per process - AWS clients, secrets and their forced-refresh
    throttle, settings, the catalog cache - when the endpoint or the environment changes (a new local
    stack, a new moto mock in a test), so no test inherits another's state."""
    from shared import aws
    from shared.adapters import secrets
    from shared.config.settings import clear_settings_caches
    from shared.services.catalog import CACHE

    aws.reset_clients()
    secrets.reset_cache()  # cached values, providers and the forced-refresh throttle
    clear_settings_caches()
    CACHE.forget()


@contextmanager
def running(port: int = 0, credly_url: str | None = None, **env: str) -> Iterator[LocalStack]:
    stack = LocalStack(port=port, credly_url=credly_url, env_overrides=env)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
