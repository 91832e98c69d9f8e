"""Settings of the recertification integrations (Credly, exam vendor), validated on first use and
cached per process (``shared.config.settings.clear_settings_caches`` forgets them)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import Field, field_validator

from shared.config.env import EnvSettings
from shared.rules.eligibility import EligibilityRoute


class IntegrationSettings(EnvSettings):
    credly_base_url: str = "https://api.credly.com/v1"
    # Required, no default: an empty id would skip the webhook's organization check and build
    # /organizations//... paths. The template parameter has no default either; the local stack and
    # the tests supply one.
    credly_organization_id: str = Field(min_length=1, max_length=128, pattern=r"^[^\s/]+$")
    credly_secret_name: str = "staycert/credly"  # noqa: S105 - a name; holds {"token": "..."}
    # "never": badges do not expire (we revoke on lapse instead); "template": Credly's template default;
    # a number: that many years after issue.
    credly_badge_expiry: str = Field(default="never", pattern=r"^(never|template|[1-9][0-9]?)$")
    credly_max_attempts: int = Field(default=4, ge=1, le=10)
    credly_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    credly_backoff_seconds: float = Field(default=0.5, ge=0, le=10)  # urllib3 Retry backoff factor and jitter
    exam_vendor_secret_name: str = "staycert/exam-vendor"  # noqa: S105 - a name; {"current","previous"}
    signature_tolerance_seconds: int = Field(default=300, ge=30, le=3600)

    @field_validator("credly_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("must be an https URL (plain http only on loopback)")
        return value.rstrip("/")


@lru_cache(maxsize=1)
def get_integration_settings() -> IntegrationSettings:
    return IntegrationSettings()  # type: ignore[call-arg]  # the organization id comes from the environment


@lru_cache(maxsize=1)
def eligibility_criteria() -> dict[str, list[EligibilityRoute]]:
    """Credential code -> its CURRENT exam eligibility routes (``eligibility.json``)."""
    raw: dict[str, Any] = json.loads(
        resources.files("shared.config").joinpath("eligibility.json").read_text("utf-8")
    )
    sets: dict[str, Any] = raw["route_sets"]
    criteria: dict[str, list[EligibilityRoute]] = {}
    for code, entry in raw["credentials"].items():
        routes = sets[entry] if isinstance(entry, str) else entry
        criteria[code.upper()] = [EligibilityRoute.model_validate(route) for route in routes]
    return criteria
