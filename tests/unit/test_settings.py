"""Settings are validated at cold start and every knob reaches the rules policy."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.config.settings import Settings
from shared.rules.policy import Category, PublicationType


def test_defaults_are_the_published_catalog() -> None:
    policy = Settings().policy()
    expected = {
        "RMA": (30, 5000),
        "CMAS": (30, 5000),
        "RDA": (30, 5000),
        "CMLA": (30, 5000),
        "RPT": (24, 5000),
        "AHI": (30, 3000),
        "MLS": (45, 9000),
        "MLT": (45, 9000),
        "CLC": (45, 9000),
        "MDT": (36, 9000),
    }
    assert {code: (s.ccp_points, s.annual_fee_cents) for code, s in policy.credentials.items()} == expected
    assert policy.canonical_code("mt") == "MLS"
    assert policy.canonical_code("ZZZ") is None
    assert policy.late_reporting_days == 90
    assert policy.ccp_mandatory_from == date(2006, 1, 1)


def test_every_knob_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CREDENTIALS",
        '{"RMA": {"ccp_points": 32}, "NEW": {"name": "New", "ccp_points": 10, '
        '"annual_fee_cents": 100, "recertification_fee_cents": 200}}',
    )
    monkeypatch.setenv("BADGE_TEMPLATE_IDS", '{"RMA": "tmpl-rma"}')
    monkeypatch.setenv("CCP_LATE_REPORTING_DAYS", "45")
    monkeypatch.setenv("LAPSE_AFTER_OVERDUE_YEARS", "2")
    monkeypatch.setenv("CCP_MANDATORY_FROM", "2008-07-01")
    monkeypatch.setenv("EMPLOYMENT_POINTS_UNTIL", "2019-12-31")
    monkeypatch.setenv("CCP_CATEGORY_CAPS", '{"employment": 10}')
    monkeypatch.setenv("CCP_RECERT_MAX_LAPSED_YEARS", "5")
    monkeypatch.setenv("AUDIT_RATE", "0.25")
    monkeypatch.setenv("AUDIT_DRAW_DATE", "02-01")
    policy = Settings().policy()
    assert policy.credentials["RMA"].ccp_points == 32
    assert policy.credentials["RMA"].annual_fee_cents == 5000  # merged, not replaced
    assert policy.credentials["RMA"].badge_template_id == "tmpl-rma"
    assert policy.credentials["NEW"].ccp_points == 10
    assert policy.late_reporting_days == 45
    assert policy.lapse_after_overdue_years == 2
    assert policy.ccp_mandatory_from == date(2008, 7, 1)
    assert policy.employment_points_until == date(2019, 12, 31)
    assert policy.category_caps == {Category.EMPLOYMENT: Decimal(10)}
    assert policy.ccp_recert_max_lapsed_years == 5
    assert policy.audit_rate == Decimal("0.25")
    assert policy.audit_month_day == (2, 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CCP_LATE_REPORTING_DAYS", "-1"),
        ("BUSINESS_TIMEZONE", "Mars/Olympus"),
        ("CREDENTIALS", "[1, 2]"),
        ("CCP_CATEGORY_CAPS", '{"knitting": 3}'),
        ("AUDIT_RATE", "1.5"),
        ("AUDIT_DRAW_DATE", "13-01"),
        ("AUDIT_DRAW_DATE", "02-30"),
        ("AUDIT_DRAW_DATE", "02-29"),
        ("AUDIT_DRAW_DATE", "04-31"),
        ("CCP_MANDATORY_FROM", "not a date"),
    ],
)
def test_bad_values_fail_at_cold_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises((ValidationError, ValueError)) as raised:
        Settings().policy()
    assert name.lower() in str(raised.value).lower() or "credential" in str(raised.value).lower()


def test_a_dated_fee_schedule_beside_the_single_fee(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CREDENTIALS",
        '{"RMA": {"fees": [{"from": "2027-01", "cents": 6000}, {"from": "2029-07", "cents": 55, "currency": "eur"}]}}',
    )
    rma = Settings().policy().credential("RMA")
    assert [
        (f.cents, f.currency)
        for f in (rma.annual_fee_on(date(y, m, 9)) for y, m in ((2026, 12), (2027, 1), (2029, 7)))
    ] == [
        (5000, "usd"),  # the single fee of the catalog, before the first change
        (6000, "usd"),
        (55, "eur"),
    ]


@pytest.mark.parametrize(
    "fees",
    [
        '[{"from": "2027-1", "cents": 6000}]',
        '[{"from": 202701, "cents": 6000}]',
        '[{"from": "2027-01", "cents": 0}]',
        '[{"from": "2027-01", "cents": 6000, "currency": "US"}]',
        '[{"from": "2027-01", "cents": 1}, {"from": "2027-01", "cents": 2}]',
        '[{"from": "2027-01", "cents": 1, "amount": 2}]',
    ],
)
def test_a_bad_fee_schedule_fails_at_cold_start(monkeypatch: pytest.MonkeyPatch, fees: str) -> None:
    monkeypatch.setenv("CREDENTIALS", f'{{"RMA": {{"fees": {fees}}}}}')
    with pytest.raises(ValidationError, match="fees"):
        Settings().policy()


def test_self_report_points_and_enter_once_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCP_SELF_REPORT_POINTS", '{"contact_hour": 2, "publication": {"book": 20}}')
    monkeypatch.setenv("CE_COUNT_FOR_EVERY_CERTIFICATION", "false")
    policy = Settings().policy()
    assert policy.self_report_points.contact_hour == 2
    assert policy.self_report_points.publication[PublicationType.BOOK] == 20
    assert policy.self_report_points.publication[PublicationType.ARTICLE] == 10  # the other defaults stay
    assert policy.ce_count_for_every_certification is False


@pytest.mark.parametrize(
    "value", ['{"knitting_hour": 1}', '{"contact_hour": 0}', '{"publication": {"book": -1}}', "[1]"]
)
def test_bad_self_report_points_fail_the_cold_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CCP_SELF_REPORT_POINTS", value)
    with pytest.raises(ValidationError, match="ccp_self_report_points"):
        Settings()
