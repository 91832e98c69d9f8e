"""Bulk writes: BatchWriteItem UnprocessedItems are re-sent with bounded exponential backoff (a fake
client stands in for DynamoDB throttling; the sleep is recorded, not slept)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.rules.models import CeCompletion
from shared.rules.policy import Category
from shared.store import members as members_module
from shared.store.members import MemberRepository


class ThrottlingClient:
    def __init__(self, unprocessed_rounds: int) -> None:
        self.unprocessed_rounds = unprocessed_rounds
        self.calls: list[int] = []
        self.written: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        self.calls.append(len(requests))
        if self.unprocessed_rounds > 0:
            self.unprocessed_rounds -= 1
            keep, back = requests[:-3], requests[-3:]
            self.written.extend(keep)
            return {"UnprocessedItems": {table: back}}
        self.written.extend(requests)
        return {"UnprocessedItems": {}}


def facts(n: int) -> list[tuple[str, CeCompletion]]:
    return [
        (
            f"m-{i}",
            CeCompletion(
                key=f"acme/C-{i}",
                recorded_on=date(2024, 3, 20),
                activity_id="https://acme.example.org/a",
                completed_on=date(2024, 1, 5),
                points=Decimal(1),
                category=Category.AUTHORSHIP,
            ),
        )
        for i in range(n)
    ]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(members_module.time, "sleep", recorded.append)
    return recorded


def test_unprocessed_items_are_resent_with_backoff(sleeps: list[float]) -> None:
    client = ThrottlingClient(unprocessed_rounds=2)
    requests = MemberRepository("T", client=client).put_facts(facts(30))
    assert client.calls == [25, 3, 3, 5]
    assert requests == 4
    assert len(client.written) == 30
    assert len(sleeps) == 2
    assert all(0 <= s <= 5.0 for s in sleeps)


def test_items_that_stay_unprocessed_fail_the_batch_after_bounded_retries(sleeps: list[float]) -> None:
    client = ThrottlingClient(unprocessed_rounds=100)
    with pytest.raises(RuntimeError, match="unprocessed"):
        MemberRepository("T", client=client).put_facts(facts(25))
    assert len(client.calls) == 9  # the first send and 8 re-sends
