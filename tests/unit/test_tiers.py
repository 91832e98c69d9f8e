"""The sampled tier's decorator: the fast count in `make test`, the full count with --full-sweeps, and
always the marker that puts the test in `make test-slow`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tiers import FULL_SWEEPS, sample_each, sampled_settings


def _property(n: int) -> None:
    assert n >= 0


@pytest.mark.parametrize(("full_run", "expected"), [(False, 7), (True, 70)])
def test_sampled_settings_count_and_marker(
    monkeypatch: pytest.MonkeyPatch, full_run: bool, expected: int
) -> None:
    monkeypatch.setitem(FULL_SWEEPS, "on", full_run)
    test = sampled_settings(full=70, fast=7, deadline=None)(given(st.integers(min_value=0))(_property))
    assert test._hypothesis_internal_use_settings.max_examples == expected  # type: ignore[attr-defined]
    assert [mark.name for mark in test.pytestmark] == ["sampled"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("fast", [0, 71])
def test_a_sample_is_between_one_and_the_full_count(fast: int) -> None:
    with pytest.raises(ValueError, match="a sample is"):
        sampled_settings(full=70, fast=fast)


@pytest.mark.parametrize(
    ("full_run", "expected"), [(False, ["a0", "a3", "b0"]), (True, ["a0", "a1", "a2", "a3", "b0", "b1"])]
)
def test_sample_each_keeps_every_nth_of_each_group_and_all_with_full_sweeps(
    monkeypatch: pytest.MonkeyPatch, full_run: bool, expected: list[str]
) -> None:
    monkeypatch.setitem(FULL_SWEEPS, "on", full_run)
    items = ["a0", "b0", "a1", "a2", "b1", "a3"]
    assert sorted(sample_each(items, lambda item: item[0], every=3)) == expected


def test_sample_each_refuses_a_step_below_one() -> None:
    with pytest.raises(ValueError, match="positive step"):
        sample_each(["a"], str, every=0)
