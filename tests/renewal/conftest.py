"""Fixtures for the renewal tests: the Stripe secret, SES identity and files bucket under moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.fake_stripe import FakeStripe
from tests.conftest import reset_caches

SECRET_NAME = "StripeWebhookSecretTest"
SIGNING_SECRET = "whsec_test_current"
API_SECRET = "StripeApiSecretTest"  # the Secrets Manager name of the Stripe API key (payment links)
API_KEY = "rk_test_links"
PREVIOUS_SECRET = "whsec_test_previous"
BUCKET = "staycert-files-test"
SENDER = "notices@example.org"


@pytest.fixture
def renewal_aws(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """``aws`` plus the webhook secret, a verified SES sender and the files bucket."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET_NAME)
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("NOTICE_SENDER", SENDER)
    monkeypatch.setenv("SES_CONFIGURATION_SET", "")
    reset_caches()  # also resets the secrets' forced-refresh throttle
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"current": SIGNING_SECRET, "previous": PREVIOUS_SECRET})
    )
    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield {**aws, "secrets": secrets, "bucket": BUCKET}
    reset_caches()  # also resets the secrets' forced-refresh throttle


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    """The fake Stripe on loopback that payment links are created on (``local/fake_stripe.py``)."""
    stripe = FakeStripe(api_key=API_KEY, webhook_secret=SIGNING_SECRET).start()
    yield stripe
    stripe.stop()


@pytest.fixture
def links(renewal_aws: dict[str, Any], fake: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    """Payment links made on the (emptied) fake Stripe: its URL, the API key's secret, the portal."""
    fake.sessions.clear()
    fake.requests.clear()
    fake._replays.clear()
    monkeypatch.setenv("STRIPE_API_SECRET", API_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", fake.url)
    monkeypatch.setenv("PORTAL_URL", "https://portal.example.org")
    renewal_aws["secrets"].create_secret(
        Name=API_SECRET, SecretString=json.dumps({"current": API_KEY, "previous": "rk_test_old"})
    )
    return fake
