"""Self-tests of the suite-wide PII-free-logs fixture (tests/conftest.py): the detector flags what it
must, spares what it must, and the capture sees Powertools' extra and appended keys."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from shared.adapters.signatures import sign
from shared.observability import logger
from tests.conftest import captured_logs, no_pii_in_logs, pii_findings, register_sensitive

pytestmark = pytest.mark.allow_pii_logs  # these tests log PII on purpose, to see it caught


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('{"message": "member created", "email": "ana@example.org"}', "e-mail"),
        ("actor mailto:ana.diaz+ce@mail.example.co.uk unmatched", "e-mail"),
        (f"header {sign(b'{}', 'whsec_test_secret', 1_700_000_000)}", "signature header"),
        ("headers {'Authorization': 'Basic ZGVtby1sbXM6cGFzcw=='}", "credential"),
        ("calling Credly with Bearer abcdef0123456789", "credential"),
        ('"stripe-signature": "t=1,v1=ab"', "header value"),
        ("secret loaded whsec_0123456789abcdef", "secret-shaped"),
        ("mailing label: 12 Elm St, Springfield", "name/address"),
        ("profile of Ana Diaz", "name/address"),
    ],
)
def test_detector_flags(text: str, rule: str) -> None:
    findings = pii_findings(text)
    assert any(finding.startswith(rule) for finding in findings), findings


@pytest.mark.parametrize(
    "text",
    [
        '{"message": "payment credited", "member_id": "ana", "credential": "RMA", "payment_key": "pi_1"}',
        "sent from notices@example.org",  # the system's own sender address
        "valid LMS client credentials (HTTP Basic) required",
        '{"reason": "missing signature header", "status": 400}',
        "Diazepam is not a name",  # word boundaries
        "evidence/omar/audit/ccp-log.pdf",
    ],
)
def test_detector_spares_ids_and_plain_messages(text: str) -> None:
    assert pii_findings(text) == []


def test_registered_secret_values_are_flagged() -> None:
    register_sensitive("secret", "zq-rotated-password-7781")
    assert pii_findings("basic auth user demo-lms password zq-rotated-password-7781")
    register_sensitive("secret", "abc")  # too short to register: would match everywhere
    assert pii_findings("abc") == []


def test_the_capture_sees_powertools_extra_and_appended_keys() -> None:
    with captured_logs() as logs:
        logger.info("member created", extra={"contact": "ana@example.org"})
    assert "ana@example.org" in logs.text()
    assert pii_findings(logs.text())

    with captured_logs() as logs:
        logger.append_keys(holder="Ana Diaz")
        try:
            logger.info("status read")
        finally:
            logger.remove_keys(["holder"])
    assert any(f.startswith("name/address") for f in pii_findings(logs.text()))


def test_the_capture_sees_other_loggers_and_tracebacks() -> None:
    other = logging.getLogger("staycert.local.selftest")
    with captured_logs() as logs:
        other.warning("gateway saw %s", "Bearer abcdef0123456789")
        try:
            raise ValueError("bad address 8 Oak Ave")
        except ValueError:
            other.exception("failed")
    findings = pii_findings(logs.text())
    assert any(f.startswith("credential") for f in findings)
    assert any("8 Oak Ave" in f for f in findings)


def test_the_fixture_fails_a_test_that_logs_pii() -> None:
    """The autouse fixture's body: a block logging an e-mail through Powertools fails; a clean one passes."""
    with (
        pytest.raises(pytest.fail.Exception, match=re.escape("e-mail address 'ana@example.org'")),
        no_pii_in_logs(),
    ):
        logger.info("member created", extra={"email": "ana@example.org"})
    with no_pii_in_logs():
        logger.info("member created", extra={"member_id": "ana"})


def test_secrets_stored_in_moto_are_registered(aws: dict[str, object]) -> None:
    """Secret values are learned from the Secrets Manager writes the tests make."""
    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(
        Name="selftest", SecretString='{"current": "qq-selftest-value-1234", "homePage": "https://x"}'
    )
    assert any(f.startswith("secret value") for f in pii_findings("token qq-selftest-value-1234"))
    assert pii_findings("https://x") == []  # not under a secret-looking key


class _RejectingNotifier:
    """SES refusing the recipient: its error message names the address, as SES's does."""

    def send_email(self, email: Any) -> str:
        from botocore.exceptions import ClientError

        message = f"Email address is not verified. The following identities failed the check: {email.to}"
        raise ClientError({"Error": {"Code": "MessageRejected", "Message": message}}, "SendEmail")

    def write_print_batch(self, day: Any, rows: Any) -> str:
        list(rows)
        return f"print-batches/{day}.csv"


@pytest.mark.usefixtures("aws")
def test_a_rejected_notice_email_is_logged_without_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daily run's e-mail failure path: the log names the member id and SES's error code only."""
    from datetime import date

    from shared.config.settings import get_policy
    from shared.services.daily import DailyRun
    from shared.store.members import MemberRepository
    from tests.conftest import TABLE
    from tests.helpers import call_api

    monkeypatch.setenv("STAYCERT_BUSINESS_DATE", "2025-02-01")
    body = {
        "first_name": "Ana",
        "last_name": "Diaz",
        "email": "ana@example.org",
        "certifications": [{"credential": "RMA", "certified_on": "2024-05-14"}],
    }
    assert call_api("PUT", "/members/ana", body).status == 201
    run = DailyRun(MemberRepository(TABLE), get_policy(), _RejectingNotifier())
    run.run(date(2025, 2, 1))
    with no_pii_in_logs() as logs:
        summary = run.run(date(2025, 3, 2))  # 60 days before the fee is due: a renewal notice
    assert summary.email_failed == 1
    assert "MessageRejected" in logs.text()
    assert "notice e-mail refused for good" in logs.text()
