"""Settings validated at cold start: one pydantic model built from environment variables.

A bad value fails the cold start with a message naming the variable, instead of surfacing later as
a wrong lapse date. Every business knob ends up in ``RulesPolicy`` (see docs/rules.md).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from shared.config.env import EnvSettings
from shared.rules.policy import Category, CredentialSpec, RulesPolicy, SelfReportPoints


def _default_catalog() -> dict[str, dict[str, Any]]:
    raw = json.loads(resources.files("shared.config").joinpath("credentials.json").read_text("utf-8"))
    return {entry["code"]: entry for entry in raw["credentials"]}


class Settings(EnvSettings):
    """Environment variables (names are the upper-case field names)."""

    table_name: str = "StayCert"
    bucket_name: str = "staycert-files"
    business_timezone: str = "America/Chicago"
    # JSON objects merged over the published catalog, e.g. {"RMA": {"ccp_points": 32}}
    credentials: dict[str, dict[str, Any]] = Field(default_factory=dict)
    badge_template_ids: dict[str, str] = Field(default_factory=dict)
    ccp_late_reporting_days: int = Field(default=90, ge=0, le=3650)
    lapse_after_overdue_years: int = Field(default=3, ge=1, le=50)
    ccp_mandatory_from: date = date(2006, 1, 1)
    employment_points_until: date = date(2020, 12, 31)
    ccp_category_caps: dict[Category, Decimal] = Field(default_factory=dict)
    ccp_recert_max_lapsed_years: int = Field(default=10, ge=0, le=100)
    # Self-reported CE: points per unit, merged over the defaults, e.g. {"contact_hour": 1}
    ccp_self_report_points: dict[str, Any] = Field(default_factory=dict)
    ce_count_for_every_certification: bool = True
    renewal_notice_days_before: int = Field(default=60, ge=0, le=365)
    renewal_notice_days_after: int = Field(default=30, ge=0, le=365)
    audit_rate: Decimal = Field(default=Decimal("0.10"), ge=0, le=1)
    audit_draw_date: str = Field(default="01-15", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    audit_deadline_days: int = Field(default=60, ge=1, le=365)
    # Renewal: Stripe signing secret {"current","previous"}, SES sender, print batches.
    stripe_webhook_secret: str = "StripeWebhookSecret"  # noqa: S105 - the Secrets Manager name/ARN, not a value
    # Payment links: the restricted API key {"current": "rk_...", "previous": ...} (only the current one
    # is used to call Stripe), where the SDK sends its requests, and the portal pages Checkout returns to.
    stripe_api_secret: str = "StripeApiSecret"  # noqa: S105 - the Secrets Manager name/ARN, not a value
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = Field(default=8.0, gt=0, le=25)
    portal_url: str = "https://portal.example.org"
    notice_sender: str = "notices@example.org"  # a verified SES identity
    ses_configuration_set: str = ""
    print_batch_prefix: str = "print-batches/"
    # Staff console sign-in (docs/console.md): the user pool's hosted sign-in domain, the pool's token
    # issuer, the console's app client and the console's public URL (its callback is `{url}/callback`).
    # All empty on the local stack, which has no sign-in. (pydantic matches with Rust regex: `$` is the
    # end of the text, a trailing newline is refused.)
    staff_sign_in_domain: str = Field(default="", pattern=r"^(https?://[^\s/?#]+)?$")
    staff_token_issuer: str = Field(default="", pattern=r"^(https?://[^\s?#]+)?$")
    staff_client_id: str = Field(default="", pattern=r"^[A-Za-z0-9]{0,128}$")
    console_url: str = Field(default="", pattern=r"^(https?://[^\s?#]+[^\s?#/])?$")

    @field_validator(
        "credentials", "badge_template_ids", "ccp_category_caps", "ccp_self_report_points", mode="before"
    )
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return {}
            parsed = json.loads(value)
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
            return parsed
        return value

    @field_validator("ccp_self_report_points")
    @classmethod
    def _known_rates(cls, value: dict[str, Any]) -> dict[str, Any]:
        SelfReportPoints.model_validate(value)  # unknown keys and non-positive rates fail the cold start
        return value

    @field_validator("stripe_api_base", "portal_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("must be an https URL (plain http only on loopback)")
        return value.rstrip("/")

    @field_validator("audit_draw_date")
    @classmethod
    def _real_month_day(cls, value: str) -> str:
        month, day = (int(part) for part in value.split("-"))
        try:
            date(2001, month, day)  # a real day in every year: no 02-29, 02-30, 04-31
        except ValueError as error:
            raise ValueError(f"audit_draw_date {value!r} is not a day of every year") from error
        return value

    @field_validator("business_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    def policy(self) -> RulesPolicy:
        catalog = _default_catalog()
        for code, override in self.credentials.items():
            catalog[code.upper()] = {**catalog.get(code.upper(), {"code": code.upper()}), **override}
        specs: dict[str, CredentialSpec] = {}
        for code, entry in catalog.items():
            template = self.badge_template_ids.get(code, entry.get("badge_template_id"))
            specs[code] = CredentialSpec(**{**entry, "badge_template_id": template})
        month, day = (int(part) for part in self.audit_draw_date.split("-"))
        return RulesPolicy(
            credentials=specs,
            late_reporting_days=self.ccp_late_reporting_days,
            lapse_after_overdue_years=self.lapse_after_overdue_years,
            ccp_mandatory_from=self.ccp_mandatory_from,
            employment_points_until=self.employment_points_until,
            category_caps=self.ccp_category_caps,
            ccp_recert_max_lapsed_years=self.ccp_recert_max_lapsed_years,
            self_report_points=SelfReportPoints.model_validate(self.ccp_self_report_points),
            ce_count_for_every_certification=self.ce_count_for_every_certification,
            renewal_notice_days_before=self.renewal_notice_days_before,
            renewal_notice_days_after=self.renewal_notice_days_after,
            audit_rate=self.audit_rate,
            audit_month_day=(month, day),
            audit_deadline_days=self.audit_deadline_days,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()


@lru_cache(maxsize=1)
def get_policy() -> RulesPolicy:
    return get_settings().policy()


def clear_settings_caches() -> None:
    """Forget every cached settings object (the local stack and tests change the environment)."""
    from shared.config.ce import get_ce_settings
    from shared.config.integrations import get_integration_settings

    for cached in (get_settings, get_policy, get_ce_settings, get_integration_settings):
        cached.cache_clear()
