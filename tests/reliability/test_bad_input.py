"""The bad-input corpus over HTTP routes, S3 files and stream records.

Each case (tests/reliability/bad_input_cases.py) runs through the real handler routed by template.yaml
under in-process moto and asserts its documented outcome; this test adds what holds for all of them:
no 5xx, and nothing written unless the case names the writes its outcome documents (the whole table
is Scanned and the bucket listed right before the input and after it).

One moto world serves the whole module (the table built from template.yaml like the ``aws`` fixture,
every secret, the files bucket, SES, a fake Credly and the table's stream): a fresh world per case
cost ~0.7 s of CPU, ninety times. Cases stay independent: each uses its own ids (members,
PaymentIntents, keys, providers), the table is put back to the baseline after each case, and the write
check is a before/after diff per case.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from functions.ce_ingest import xapi as xapi_function
from local import template as tpl
from local.fake_credly import FakeCredly
from shared.adapters import files
from shared.clock import BUSINESS_DATE_ENV
from shared.services.catalog import CACHE
from shared.store.members import MemberRepository
from tests.ce_ingest.conftest import HOME, catalog, member
from tests.conftest import TABLE, reset_caches
from tests.recertification.fixtures import EXAM_SECRET, TEMPLATES, Env
from tests.recertification.streams import StreamTap
from tests.reliability.bad_input_cases import (
    BUCKET,
    CASES,
    LMS_PASSWORD,
    LMS_SECRET,
    SENDER,
    STRIPE_CURRENT,
    STRIPE_PREVIOUS,
    STRIPE_SECRET,
    TODAY,
    VARIANT_ROUTES,
    VARIANTS,
    Case,
    World,
)
from tests.tiers import sample_each

ENVIRONMENT = {
    "TABLE_NAME": TABLE,
    "BUCKET_NAME": BUCKET,
    "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
    "LMS_CLIENTS_SECRET": LMS_SECRET,
    "NOTICE_SENDER": SENDER,
    "SES_CONFIGURATION_SET": "",
    "CREDLY_ORGANIZATION_ID": "test-org",
    "CREDLY_BACKOFF_SECONDS": "0",
    "CREDLY_TIMEOUT_SECONDS": "0.3",
    "BADGE_TEMPLATE_IDS": json.dumps(TEMPLATES),
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    BUSINESS_DATE_ENV: TODAY,
}


def _forget() -> None:
    reset_caches()
    files.reset_default_client()
    CACHE.forget()
    xapi_function._authenticators.clear()


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    """Every secret, the files bucket, SES, fake Credly, member m-1 (RMA since 2022-01-10), a course."""
    credly = FakeCredly(organization_id="test-org", token="test-token", hang_seconds=1.0).start()
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in {**ENVIRONMENT, "CREDLY_BASE_URL": credly.url}.items():
            patch.setenv(name, value)
        _forget()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=TABLE, **tpl.table_definition())
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        for name, secret in {
            STRIPE_SECRET: {"current": STRIPE_CURRENT, "previous": STRIPE_PREVIOUS},
            LMS_SECRET: {"clients": {"lms-a": {"homePage": HOME, "passwords": {"current": LMS_PASSWORD}}}},
            "staycert/credly": {"token": credly.token},
            "staycert/exam-vendor": {"current": EXAM_SECRET, "previous": ""},
        }.items():
            secrets.create_secret(Name=name, SecretString=json.dumps(secret))
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        member("m-1", "2022-01-10")
        catalog()
        aws = {"dynamodb": dynamodb, "table": TABLE}
        env = Env(aws, credly, StreamTap(dynamodb, TABLE), MemberRepository(TABLE))
        world = World(env, set_date=lambda day: os.environ.__setitem__(BUSINESS_DATE_ENV, day))
        world.baseline = world.snapshot()
        yield world
        _forget()
    credly.stop()


@pytest.fixture
def world(shared_world: World) -> Iterator[World]:
    """The shared world with the business clock at TODAY and the per-case bookkeeping empty; after the
    case the table is put back to the module's baseline (the files bucket keeps its objects)."""
    shared_world.set_date(TODAY)
    shared_world.responses = []
    shared_world.before = None
    shared_world.writes_checked = False
    yield shared_world
    assert shared_world.baseline is not None
    shared_world.restore(shared_world.baseline)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_has_its_documented_outcome(world: World, case: Case) -> None:
    case.run(world)
    assert world.before is not None, "every case snapshots the table and bucket before its input"
    server_errors = [(r.status, r.body) for r in world.responses if r.status >= 500]
    assert server_errors == []
    if not world.writes_checked:  # rejected: the table and the bucket are exactly as before
        world.assert_nothing_written()


def test_the_corpus_spans_every_channel() -> None:
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids) >= 25
    by_channel = Counter(c.channel for c in CASES)
    assert set(by_channel) == {"http", "s3", "stream"}
    assert min(by_channel.values()) >= 5, by_channel
    assert all(c.expected for c in CASES)


# ---------------------------------------------------------------------- generated variants

_WRITES = re.compile(r"(Put|Update|Delete|BatchWrite|TransactWrite|Copy|CreateMultipart|Send|Restore)")


def _depth(value: Any) -> int:
    """Nesting levels of a DynamoDB attribute value (``{"M": {...}}`` / ``{"L": [...]}``)."""
    if isinstance(value, dict) and "M" in value:
        return 1 + max((_depth(v) for v in value["M"].values()), default=0)
    if isinstance(value, dict) and "L" in value:
        return 1 + max((_depth(v) for v in value["L"]), default=0)
    return 0


def _items(params: dict[str, Any]) -> list[dict[str, Any]]:
    found = [params["Item"]] if "Item" in params else []
    for entry in params.get("TransactItems", []):
        found += [entry["Put"]["Item"]] if "Put" in entry else []
    for requests in params.get("RequestItems", {}).values():
        found += [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
    if "ExpressionAttributeValues" in params:
        found.append(params["ExpressionAttributeValues"])
    return found


@pytest.fixture
def aws_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS write call made from here on (``Service.Operation``), whatever client made it. A
    DynamoDB write is also checked against limits moto does not enforce (32 nesting levels, 400 KB
    items): one over them is recorded as ``refused by DynamoDB``."""
    calls: list[str] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if _WRITES.match(operation):
            calls.append(f"{client.meta.service_model.service_name}.{operation}")
            for item in _items(params) if client.meta.service_model.service_name == "dynamodb" else []:
                if max((_depth(v) for v in item.values()), default=0) > 32 or len(json.dumps(item)) > 400_000:
                    calls.append(f"refused by DynamoDB: {operation} over its nesting or size limit")
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


@pytest.mark.sampled  # make test: every 4th variant of each family per route; make test-slow: all
@pytest.mark.parametrize("route", VARIANT_ROUTES, ids=lambda r: re.sub(r"[^A-Za-z_]+", "-", r).strip("-"))
def test_generated_hostile_variants_never_5xx_and_refusals_write_nothing(
    world: World, aws_writes: list[str], route: str
) -> None:
    problems: list[str] = []
    for variant in sample_each([v for v in VARIANTS if v.route == route], lambda v: v.family, every=4):
        aws_writes.clear()
        try:
            response = variant.send(world)
        except Exception as error:  # a handler that raises is a 500 behind API Gateway
            problems.append(f"{variant.id}: raised {type(error).__name__}: {str(error)[:200]}")
            world.restore(world.baseline)  # type: ignore[arg-type]
            continue
        if any(call.startswith("refused by DynamoDB") for call in aws_writes):
            problems.append(f"{variant.id}: {[c for c in aws_writes if c.startswith('refused')]}")
        if response.status >= 500:
            problems.append(f"{variant.id}: {response.status} {response.raw[:200]}")
        elif response.status >= 400 and aws_writes:
            problems.append(f"{variant.id}: refused {response.status} but wrote {aws_writes}")
        elif variant.date_leaf is not None and response.status < 400:
            problems.append(f"{variant.id}: a date field took a non-date ({response.status})")
        if aws_writes:
            world.restore(world.baseline)  # type: ignore[arg-type]
    assert problems == [], "\n".join(problems)


def test_every_route_of_the_template_has_generated_variants() -> None:
    """A route added to template.yaml without a shape in ROUTE_SHAPES fails here."""
    assert set(VARIANT_ROUTES) == {f"{r.method} {r.path}" for r in tpl.routes()}
    assert Counter(v.family for v in VARIANTS).keys() >= {
        "depth",
        "size",
        "number",
        "type",
        "text",
        "encoding",
    }
