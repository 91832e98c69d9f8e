"""Secrets Manager through Powertools Parameters (cached), shaped for rotation without downtime.

A signing secret is stored as ``{"current": "...", "previous": "..."}`` in ONE secret (docs/architecture.md, known traps:
``VersionStage`` lookups share a cache entry, so the previous value lives beside the current one).
During a rotation both verify; a warm function that misses a freshly rotated value refreshes once.

Forced refreshes (``force=True``: a caller saw a credential it cannot verify) are throttled HERE, per
secret name and process-wide, to one per ``FORCED_REFRESH_INTERVAL_SECONDS``: a flood of bad
signatures or passwords cannot become a flood of Secrets Manager reads, whichever caller sees it
(Stripe webhook, exam-results callback, LMS Basic auth). A forced read refused by the throttle
answers from the cache. ``reset_cache`` forgets the throttle with the values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

DEFAULT_MAX_AGE_SECONDS = 300
FORCED_REFRESH_INTERVAL_SECONDS = 60.0


class RefreshThrottle:
    """At most one forced reload per secret name per ``interval`` seconds of ``clock`` (injectable:
    tests replace ``clock`` with a fake; production uses the monotonic clock)."""

    def __init__(
        self,
        interval: float = FORCED_REFRESH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}  # secret name -> clock time of its last forced reload
        self._lock = threading.Lock()

    def may_force(self, name: str) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get(name)
            if last is not None and now - last < self.interval:
                return False
            self._last[name] = now
        return True

    def reset(self) -> None:
        with self._lock:
            self._last.clear()


REFRESH_THROTTLE = RefreshThrottle()  # process-wide: shared by every caller of a secret


def get_json_secret(
    name: str,
    *,
    force: bool = False,
    max_age: int = DEFAULT_MAX_AGE_SECONDS,
    throttle: RefreshThrottle | None = None,
) -> dict[str, Any]:
    """The secret's JSON object, from the Powertools cache unless ``force`` - and a forced read only
    if the secret was not force-read within the throttle's interval (else the cached value)."""
    if force:
        force = (throttle or REFRESH_THROTTLE).may_force(name)
    value = parameters.get_secret(name, transform="json", force_fetch=force, max_age=max_age)
    if not isinstance(value, dict):
        raise ValueError(f"secret {name} must hold a JSON object")
    return value


class RotatingSecret:
    """The accepted values of a ``{"current", "previous"}`` secret, newest first."""

    def __init__(
        self,
        name: str,
        max_age: int = DEFAULT_MAX_AGE_SECONDS,
        throttle: RefreshThrottle | None = None,
    ) -> None:
        self.name = name
        self.max_age = max_age
        self.throttle = throttle

    def values(self, *, force: bool = False) -> list[str]:
        """``force``: re-read the secret (a credential did not verify) - throttled per secret name."""
        document = get_json_secret(self.name, force=force, max_age=self.max_age, throttle=self.throttle)
        found = [document.get("current"), document.get("previous")]
        return [value for value in found if isinstance(value, str) and value]


def reset_cache() -> None:
    """Forget cached values, providers and the forced-refresh throttle (tests and the local stack
    switch endpoints; a test must not inherit another's throttle window)."""
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    DEFAULT_PROVIDERS.clear()
    REFRESH_THROTTLE.reset()
