"""Shared fixtures: AWS under in-process moto, with the table built from template.yaml; and, for the
whole suite, logs without PII (``_no_pii_in_logs``)."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore import handlers as botocore_handlers
from moto import mock_aws

from local import template as tpl
from local.botocore_loader import share_botocore_loader
from local.stack import reset_process_caches
from tests.tiers import FULL_SWEEPS

TABLE = "StayCertTest"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)
share_botocore_loader()  # parse botocore's service models once per process, not once per test


def reset_caches() -> None:
    reset_process_caches()


Emitted = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def emitted_metrics(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Turn Powertools metrics on; the returned function reads the EMF documents printed since the
    last call, as {(metric name, ((dimension, value), ...) besides service): total}."""
    from shared.observability import metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    capsys.readouterr()

    def read() -> Emitted:
        totals: Emitted = {}
        for line in capsys.readouterr().out.splitlines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == "StayCertified"
                dimensions = tuple(
                    sorted((d, str(document[d])) for d in directive["Dimensions"][0] if d != "service")
                )
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    key = (metric["Name"], dimensions)
                    totals[key] = totals.get(key, 0) + sum(value if isinstance(value, list) else [value])
        return totals

    return read


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """In-process moto with the template's table; handlers see it through TABLE_NAME."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    with mock_aws():
        reset_caches()
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **tpl.table_definition())
        yield {"dynamodb": client, "table": TABLE}
    reset_caches()


@pytest.fixture
def business_date(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the business clock: ``business_date("2026-05-31")``."""

    def set_date(day: str) -> None:
        monkeypatch.setenv("STAYCERT_BUSINESS_DATE", day)

    return set_date


# ---------------------------------------------------------------------- logs without PII
#
# Every test's log output (the Powertools logger, formatted by its own formatter so extra and appended
# keys are included, plus everything reaching the root logger) is checked for an e-mail address, a
# Stripe-style signature header, Basic/Bearer credentials, a secret's value, or a member's name or
# postal address. Known values come from three places: the fixture PII below, secrets as tests store
# them (a botocore hook on Secrets Manager writes) and member profiles as handlers write them (a hook
# on DynamoDB writes). Opt out only to test the detector itself: ``@pytest.mark.allow_pii_logs``.

# Names and addresses the fixtures and the demo use (grep tests/ and local/demo/ for first_name,
# last_name, line1); e-mail addresses need no list, the pattern catches them all.
FIXTURE_PII = frozenset(
    {
        "Ana Diaz",
        "Diaz",
        "Okafor",
        "Tester",
        "Stone",
        "Reyes",
        "Quinn",
        "Nguyen",
        "Moreno",
        "Berg",
        "12 Elm St",
        "8 Oak Ave",
        "3 Lake Rd",
        "1 Main St",
        "Grant",
        "Quintero",
        "Ferreira",
        "Kim",
        "4 Mill Rd",
    }
)
# Addresses of the system itself, not of people (the SES sender identity).
SYSTEM_EMAILS = frozenset({"notices@example.org"})
# Secret values that exist without a test storing them (the local stack's documented defaults).
_LOCAL_DEFAULT_SECRETS = frozenset({"local-credly-token"})

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
SIGNATURE_HEADER = re.compile(r"\bt=\d+\s*,\s*v\d+=[0-9A-Fa-f]{8,}")
CREDENTIAL = re.compile(r"\b(?:Basic|Bearer)\s+[A-Za-z0-9+/._~-]{6,}=*")
HEADER_VALUE = re.compile(
    r"(?i)[\"']?\b(?:authorization|stripe-signature|exam-signature|x-api-key|cookie)[\"']?\s*[:=]\s*[\"']?[^\s\"'}]{4,}"
)
SECRET_SHAPES = re.compile(r"\bwhsec_[A-Za-z0-9]{6,}|\b[sr]k_(?:live|test)_[A-Za-z0-9]{6,}")
_SECRET_KEYS = ("current", "previous", "token", "password", "secret", "key")
_PROFILE_FIELDS = ("last_name", "line1", "line2")  # first names alone are too common words

_registry: dict[str, set[str]] = {"secret": set(_LOCAL_DEFAULT_SECRETS), "pii": set(FIXTURE_PII)}


def register_sensitive(kind: str, value: Any) -> None:
    """Add a value the logs must never contain (``kind``: "secret" or "pii")."""
    if isinstance(value, str) and len(value.strip()) >= 4 and re.search(r"[A-Za-z]", value):
        _registry[kind].add(value.strip())


def _register_secret_document(value: Any, path: tuple[str, ...] = ()) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _register_secret_document(item, (*path, str(key).lower()))
    elif isinstance(value, list):
        for item in value:
            _register_secret_document(item, path)
    elif any(marker in part for part in path for marker in _SECRET_KEYS):
        register_sensitive("secret", value)


def _on_secret_write(params: dict[str, Any], **_: Any) -> None:
    text = params.get("SecretString")
    if not isinstance(text, str):
        return
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict | list):
        _register_secret_document(document)
    else:  # a plain (or scalar JSON) secret string is the secret itself
        register_sensitive("secret", text)


def _walk_attribute_values(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk_attribute_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_attribute_values(item)


def _on_table_write(params: dict[str, Any], **_: Any) -> None:
    for key, item in _walk_attribute_values(params):
        if key in _PROFILE_FIELDS and isinstance(item, dict) and isinstance(item.get("S"), str):
            register_sensitive("pii", item["S"])


# Registered once, before any botocore session exists, so every client of the run carries them.
botocore_handlers.BUILTIN_HANDLERS.extend(
    [
        *(
            (f"provide-client-params.secrets-manager.{op}", _on_secret_write)
            for op in ("CreateSecret", "PutSecretValue", "UpdateSecret")
        ),
        *(
            (f"provide-client-params.dynamodb.{op}", _on_table_write)
            for op in ("PutItem", "TransactWriteItems", "BatchWriteItem", "UpdateItem")
        ),
    ]
)


def pii_findings(text: str, sensitive: dict[str, set[str]] | None = None) -> list[str]:
    """What in ``text`` must not be logged: one line per finding, naming the rule."""
    known = _registry if sensitive is None else sensitive
    findings = [f"e-mail address {m!r}" for m in EMAIL.findall(text) if m.lower() not in SYSTEM_EMAILS]
    findings += [f"signature header value {m!r}" for m in SIGNATURE_HEADER.findall(text)]
    findings += [f"credential {m[:12]!r}..." for m in CREDENTIAL.findall(text)]
    findings += [f"header value {m[:40]!r}" for m in HEADER_VALUE.findall(text)]
    findings += [f"secret-shaped value {m[:10]!r}..." for m in SECRET_SHAPES.findall(text)]
    for value in sorted(known.get("secret", ())):
        if value in text:
            findings.append(f"secret value {value[:4]!r}... (registered)")
    for value in sorted(known.get("pii", ())):
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text):
            findings.append(f"name/address {value!r}")
    return findings


class _Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.lines.append(f"{record.msg!r} {record.args!r} {record.__dict__!r}")


class _EverythingFormatter(logging.Formatter):
    """Message, arguments, extra attributes and traceback of any record (root logger)."""

    _standard = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in self._standard}
        text = f"{record.name} {record.getMessage()} {extra!r}"
        if record.exc_info:
            text += " " + self.formatException(record.exc_info)
        return text


class CapturedLogs:
    def __init__(self, handlers: list[_Capture]) -> None:
        self._handlers = handlers

    def text(self) -> str:
        return "\n".join(line for handler in self._handlers for line in handler.lines)


@contextmanager
def captured_logs() -> Iterator[CapturedLogs]:
    """Everything logged inside the block: Powertools lines as Powertools formats them (extra keys,
    appended keys, exceptions) and every record reaching the root logger."""
    from shared.observability import logger as powertools_logger

    powertools = _Capture(powertools_logger.registered_formatter)  # type: ignore[arg-type]
    everything = _Capture(_EverythingFormatter())
    service_logger = logging.getLogger(powertools_logger.name)
    root = logging.getLogger()  # its level is left alone: DEBUG would log botocore's signed requests
    service_logger.addHandler(powertools)
    root.addHandler(everything)
    try:
        yield CapturedLogs([powertools, everything])
    finally:
        service_logger.removeHandler(powertools)
        root.removeHandler(everything)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full-sweeps",
        action="store_true",
        help="sampled tests run their full size (make test-slow; see tests/tiers.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_pii_logs: the test logs PII on purpose (detector self-tests)")
    FULL_SWEEPS["on"] = bool(config.getoption("full_sweeps"))


@contextmanager
def no_pii_in_logs() -> Iterator[CapturedLogs]:
    """Fail (``pytest.fail``) when anything logged inside the block contains PII or a secret."""
    with captured_logs() as logs:
        yield logs
    findings = pii_findings(logs.text())
    if findings:
        pytest.fail("logs contain PII or secrets:\n  " + "\n  ".join(dict.fromkeys(findings)), pytrace=False)


@pytest.fixture(autouse=True)
def _no_pii_in_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("allow_pii_logs"):
        yield
        return
    with no_pii_in_logs():
        yield
