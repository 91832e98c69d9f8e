"""Fixtures of the members API tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import call_api

TWO_CERTS = {
    "first_name": "Ana",
    "last_name": "Diaz",
    "email": "ana@example.org",
    "certifications": [
        {"credential": "RMA", "certified_on": "2019-05-14"},
        {"credential": "RPT", "certified_on": "2021-01-10"},
    ],
}


@pytest.fixture
def member(aws: dict[str, Any], business_date: Any) -> str:
    business_date("2021-07-01")
    assert call_api("PUT", "/members/ana", TWO_CERTS).status == 201
    return "ana"
