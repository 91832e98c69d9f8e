"""Settings of the CE ingest (LMS callbacks, CSV batches, evidence), validated at cold start."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from shared.config.env import EnvSettings


class CeSettings(EnvSettings):
    # Secrets Manager secret (name or ARN) holding the LMS clients:
    # {"clients": {"<client id>": {"homePage": "<IRI>", "passwords": {"current": "...", "previous": "..."}}}}
    lms_clients_secret: str = "staycert/lms-clients"  # noqa: S105 - a name, not a secret
    xapi_max_statements: int = Field(default=100, ge=1, le=500)
    xapi_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=6 * 1024 * 1024)
    # A provider CSV above this is quarantined unread. 5 MiB is ~70,000 rows at ~75 bytes a row:
    # parsed in memory and, at the measured ~400 rows/s against moto (bench/results.json ce_csv), done
    # well inside CeUploadFunction's 600 s timeout; a larger file would time out on every retry and
    # land in AsyncFailureQueue. Providers split bigger batches into several files.
    ce_batch_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)


@lru_cache(maxsize=1)
def get_ce_settings() -> CeSettings:
    """The process-wide CE settings (cached; ``shared.config.settings.clear_settings_caches``)."""
    return CeSettings()
