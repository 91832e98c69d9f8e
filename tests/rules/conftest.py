"""Shared fixtures for the rules tests; the builders live in ``rules_helpers``."""

from __future__ import annotations

import pytest
from rules_helpers import make_policy

from shared.rules.policy import RulesPolicy


@pytest.fixture
def policy() -> RulesPolicy:
    """The default test policy (credential catalog defaults, every knob at its default)."""
    return make_policy()
