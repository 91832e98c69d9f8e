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

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import pytest
from hypothesis import settings

T = TypeVar("T", bound=Callable[..., Any])
E = TypeVar("E")

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


def sample_each(items: Iterable[E], group: Callable[[E], Hashable], every: int) -> list[E]:
    """All of ``items`` in `make test-slow`; in `make test` every ``every``-th item of each group
    (its first one included), in order, so each group - a route's family of variants, say - is still
    exercised. The test that sweeps them carries the ``sampled`` marker (`make test-slow` selects it
    and passes ``--full-sweeps``), so the whole sweep runs there."""
    if every < 1:
        raise ValueError(f"every is a positive step, not {every}")
    items = list(items)
    if full_sweeps():
        return items
    seen: Counter[Hashable] = Counter()
    kept = []
    for item in items:
        key = group(item)
        if seen[key] % every == 0:
            kept.append(item)
        seen[key] += 1
    return kept
