from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.stack import LocalStack


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    """A whole local stack (moto server + gateway) on loopback ports chosen by the OS."""
    with LocalStack(env_overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"}) as running:
        yield running
