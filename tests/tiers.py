"""The two tiers of a sampled test: a sample in `make test`, the whole of it in `make test-slow`.

A property whose full example count costs minutes of the fast suite runs a smaller count in `make
test` and its full count in `make test-slow`: such a test carries the ``sampled`` marker, and
`make test-slow` selects ``-m "slow or sampled"`` with ``--full-sweeps`` (tests/conftest.py), so the
slow tier holds the full version of every sampled test. Nothing else changes between the tiers: the
same test, the same strategies, every assertion.

Use ``sampled_settings`` instead of ``hypothesis.settings``: it applies both the marker and the
example count, so a test cannot be sampled in the fast tier without being in the slow one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import settings

T = TypeVar("T", bound=Callable[..., Any])

FULL_SWEEPS = {"on": False}  # set once per process by tests/conftest.py from --full-sweeps


def full_sweeps() -> bool:
    """True in `make test-slow` (``--full-sweeps``): sampled tests run their full size."""
    return FULL_SWEEPS["on"]


def sampled_settings(*, full: int, fast: int, **options: Any) -> Callable[[T], T]:
    """``hypothesis.settings(max_examples=...)`` with ``fast`` examples in `make test` and ``full`` in
    `make test-slow`, and the ``sampled`` marker that puts the test in the slow tier too."""
    if not 0 < fast <= full:
        raise ValueError(f"a sample is 1..{full} examples, not {fast}")

    def apply(test: T) -> T:
        configured = settings(max_examples=full if full_sweeps() else fast, **options)(test)
        marked: T = pytest.mark.sampled(configured)
        return marked

    return apply
