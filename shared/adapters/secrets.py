"""Secrets Manager through Powertools Parameters (cached), shaped for rotation without downtime.

A signing secret is stored as ``{"current": "...", "previous": "..."}`` in ONE secret (DESIGN.md:
``VersionStage`` lookups share a cache entry, so the previous value lives beside the current one).
During a rotation both verify; a warm function that misses a freshly rotated value refreshes once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

DEFAULT_MAX_AGE_SECONDS = 300


def get_json_secret(
    name: str, *, force: bool = False, max_age: int = DEFAULT_MAX_AGE_SECONDS
) -> dict[str, Any]:
    """The secret's JSON object, from the Powertools cache unless ``force``."""
    value = parameters.get_secret(name, transform="json", force_fetch=force, max_age=max_age)
    if not isinstance(value, dict):
        raise ValueError(f"secret {name} must hold a JSON object")
    return value


class RotatingSecret:
    """The accepted values of a ``{"current", "previous"}`` secret, newest first."""

    def __init__(self, name: str, max_age: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        self.name = name
        self.max_age = max_age

    def values(self, *, force: bool = False) -> list[str]:
        document = get_json_secret(self.name, force=force, max_age=self.max_age)
        found = [document.get("current"), document.get("previous")]
        return [value for value in found if isinstance(value, str) and value]


def reset_cache() -> None:
    """Forget cached values and providers (tests and the local stack switch endpoints)."""
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    DEFAULT_PROVIDERS.clear()
