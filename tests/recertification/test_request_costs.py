"""DynamoDB requests per recertification call (data-model.md access patterns 13-17), measured."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.store import dynamo
from tests.helpers import call_api
from tests.recertification.fixtures import Env


class Calls:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        dynamo.default_client().meta.events.register("before-send.dynamodb", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        self.seen[request.headers["X-Amz-Target"].decode().split(".")[-1]] += 1

    def take(self) -> dict[str, int]:
        found = dict(self.seen)
        self.seen.clear()
        return found


def test_requests_per_call(env: Env, business_date: Any) -> None:
    business_date("2026-05-01")
    env.member("ana", "RMA", "2015-03-10")
    calls = Calls()
    body = {"credential": "RMA", "method": "exam", "eligibility": {"work": [{"start": "2020-01-01"}]}}
    assert call_api("POST", "/members/ana/recertifications", body).status == 201
    assert calls.take() == {"Query": 1, "PutItem": 1}
    env.pay("ana", "ana.RMA.1", 12500, "2026-05-01")
    calls.take()
    result = {
        "member_id": "ana",
        "credential": "RMA",
        "passed": True,
        "exam_date": "2026-05-01",
        "result_id": "r",
    }
    assert env.exam_result(result).body["completed"] is True
    assert calls.take() == {"Query": 2, "PutItem": 1, "TransactWriteItems": 1}  # completing result
    assert env.exam_result(result).body["recorded"] == "duplicate"
    assert calls.take() == {"Query": 1, "PutItem": 1}  # redelivery: load + failed conditional put
    env.tap.settle()
    # stream: the payment record (load: application already completed; load: its badge reconciled,
    # issued here) and the Recertified record (load: badge already recorded); every other record of
    # the batch is skipped without a request
    assert calls.take() == {"Query": 3, "PutItem": 1}
