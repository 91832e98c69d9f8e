"""POST /xapi/statements as the statement-forwarding target of a real LRS (xAPI 1.0.3): statements
without id, the §2.3.1 comparison of two deliveries of one id, a course earned again after a void,
statements credited once the roster has their member, and an xAPI implementation (Ralph's statement
models) as the oracle of what is valid. Through the handlers, under in-process moto."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from ralph.models.xapi.base.statements import BaseXapiStatement

from shared.rules.models import CeCompletion, CeVoid, Fact
from shared.rules.policy import Category
from shared.store.members import MemberRepository
from tests.ce_ingest.conftest import (
    COURSE,
    HOME,
    catalog,
    ccp,
    cmi5_sequence,
    items,
    member,
    post,
    statement,
    timeline,
)
from tests.helpers import call_api
from tests.recertification.test_request_costs import Calls

OTHER = "https://courses.example.org/ccp/phlebotomy"


@pytest.fixture
def ana(ana: dict[str, Any]) -> dict[str, Any]:
    """The package's ``ana`` (tests/ce_ingest/conftest.py) with a second catalog course."""
    catalog(OTHER, points=2)
    return ana


def unmatched() -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = call_api("GET", "/admin/unmatched-statements").body["items"]
    return listed


def without_id(one: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in one.items() if k != "id"}


def void_of(statement_id: str) -> dict[str, Any]:
    return statement("voided", obj={"objectType": "StatementRef", "id": statement_id})


# ---------------------------------------------------------------------- statements without id


def test_a_statement_without_id_gets_an_id_from_its_content_and_a_resend_is_a_duplicate(
    ana: dict[str, Any],
) -> None:
    sent = without_id(statement("completed"))
    response = post(sent)
    assert response.status == 200
    [assigned] = response.body
    assert uuid.UUID(assigned).version == 5
    assert ccp()["earned"] == 3
    stored = items(ana)
    assert post(sent).body == [assigned]  # the same statement again: the same id, nothing written
    relabelled = {**sent, "verb": {**sent["verb"], "display": {"fr-FR": "terminé"}}}
    assert post(relabelled).body == [assigned]  # not content (§2.3.1): the same statement
    assert items(ana) == stored
    retaken = without_id(statement("completed", timestamp="2024-03-12T15:00:00Z"))
    [other] = post(retaken).body
    assert other != assigned  # another completion is another statement
    assert ccp()["earned"] == 3  # ... of a course credited already


def test_id_less_statements_in_one_request_get_their_ids_in_request_order(ana: dict[str, Any]) -> None:
    first, second = without_id(statement("completed")), without_id(statement("completed", course=OTHER))
    response = post([first, second])
    assert response.status == 200
    assert len(set(response.body)) == 2
    assert post([second, first]).body == list(reversed(response.body))
    assert ccp()["earned"] == 5


# ---------------------------------------------------------------------- §2.3.1 comparison


def _offset(one: dict[str, Any]) -> None:
    one["timestamp"] = "2024-03-10T10:00:00-05:00"  # 15:00Z


def _precision(one: dict[str, Any]) -> None:
    one["timestamp"] = "2024-03-10T15:00:00.000000+00:00"


def _display(one: dict[str, Any]) -> None:
    one["verb"]["display"] = {"en-GB": "completed", "de-DE": "abgeschlossen"}


def _definition(one: dict[str, Any]) -> None:
    one["object"]["definition"] = {"name": {"en-US": "Infection control, unit 1"}}
    one["context"]["contextActivities"]["grouping"][0]["definition"] = {"type": "http://example.org/t"}


def _key_order(one: dict[str, Any]) -> None:
    reordered = {k: one[k] for k in reversed(list(one))}
    one.clear()
    one.update(reordered)


def _lrs_properties(one: dict[str, Any]) -> None:
    one["stored"] = "2024-03-10T15:00:05.123Z"
    one["version"] = "1.0.0"
    one["authority"] = {"objectType": "Agent", "account": {"homePage": HOME, "name": "forwarder"}}


def _single_context_activity(one: dict[str, Any]) -> None:
    one["context"]["contextActivities"]["grouping"] = one["context"]["contextActivities"]["grouping"][0]


def _default_object_types(one: dict[str, Any]) -> None:
    del one["actor"]["objectType"]
    del one["object"]["objectType"]


SAME_STATEMENT = {
    "timestamp in another offset": _offset,
    "timestamp in another precision": _precision,
    "verb display": _display,
    "activity definitions": _definition,
    "key order": _key_order,
    "stored, authority and version": _lrs_properties,
    "a single context activity for an array": _single_context_activity,
    "default objectTypes left out": _default_object_types,
}


@pytest.mark.parametrize("change", SAME_STATEMENT.values(), ids=SAME_STATEMENT.keys())
def test_representation_differences_are_not_conflicts(ana: dict[str, Any], change: Any) -> None:
    """Forwarded by an LRS, a statement comes back in its serialisation: the same statement."""
    first = statement("completed")
    assert post(first).status == 200
    stored = items(ana)
    again = copy.deepcopy(first)
    change(again)
    assert post(again).status == 200
    assert items(ana) == stored
    fresh = statement("completed", course=OTHER)
    assert post([again, fresh]).status == 200  # and nothing else of the request is thrown away
    assert ccp()["earned"] == 5


@pytest.mark.parametrize(
    "change",
    [
        lambda one: one.update(timestamp="2024-03-10T15:00:00.001Z"),  # another instant
        lambda one: one.update(result={"completion": True}),
        lambda one: one["object"].update(id="https://lms.example.org/au/other"),
    ],
    ids=["other instant", "result", "object"],
)
def test_a_difference_in_content_is_a_conflict(ana: dict[str, Any], change: Any) -> None:
    first = statement("completed")
    post(first)
    stored = items(ana)
    changed = copy.deepcopy(first)
    change(changed)
    response = post(changed)
    assert (response.status, response.body["statement_ids"]) == (409, [first["id"]])
    assert items(ana) == stored


# ---------------------------------------------------------------------- earned again after a void


def attempt(one: dict[str, Any], registration: str) -> dict[str, Any]:
    """``one`` as a statement of another attempt (cmi5 registration) of its course."""
    return {**one, "context": {**one["context"], "registration": registration}}


def test_a_corrected_resend_in_the_same_attempt_after_a_void_credits_the_course(ana: dict[str, Any]) -> None:
    wrong = statement("completed", timestamp="2024-03-10T15:00:00Z")
    post(wrong)
    assert post(void_of(wrong["id"])).status == 200
    assert ccp()["earned"] == 0
    corrected = statement("completed", timestamp="2024-03-11T15:00:00Z")  # same registration
    assert post(corrected).status == 200
    assert ccp()["earned"] == 3
    stored = items(ana)
    assert post([wrong, corrected]).status == 200  # resends: nothing changes
    assert items(ana) == stored
    credits = [(e["on"], e["data"]["key"]) for e in timeline() if e["kind"] == "ce"]
    assert sorted(credits) == [
        ("2024-03-10", f"{COURSE} statement {wrong['id']}"),
        ("2024-03-11", f"{COURSE} statement {corrected['id']}"),
    ]


def test_a_passed_beside_a_voided_completed_keeps_the_course_credited(ana: dict[str, Any]) -> None:
    completed = statement("completed", timestamp="2024-03-10T15:00:00Z")
    passed = statement("passed", timestamp="2024-03-10T15:01:00Z")
    assert post([completed, passed]).status == 200
    assert ccp()["earned"] == 3  # two statements of one course: one credit
    assert post(void_of(completed["id"])).status == 200
    assert ccp()["earned"] == 3
    assert post(void_of(passed["id"])).status == 200
    assert ccp()["earned"] == 0
    retake = attempt(statement("completed", timestamp="2024-03-12T15:00:00Z"), str(uuid.uuid4()))
    assert post(retake).status == 200
    assert ccp()["earned"] == 3


def _ce_facts(aws: dict[str, Any]) -> list[Fact]:
    record = MemberRepository(aws["table"]).load("m-1")
    assert record is not None
    return sorted(
        (f for f in record.facts if isinstance(f, CeCompletion | CeVoid)), key=lambda f: (f.kind, f.key)
    )


WRONG, CORRECTED, VOID = (str(uuid.UUID(int=n)) for n in (1, 2, 3))


def _credit(statement_id: str, completed_on: str) -> CeCompletion:
    return CeCompletion(
        key=f"{COURSE} statement {statement_id}",
        recorded_on=date(2024, 3, 20),
        activity_id=COURSE,
        completed_on=date.fromisoformat(completed_on),
        points=Decimal(3),
        category=Category.PROFESSIONAL_EDUCATION,
        source="xapi:lms-a",
        title="Infection control",
        provider="acme",
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
def test_the_same_statements_in_every_order_give_the_same_ce_facts(
    ana: dict[str, Any], order: tuple[int, ...]
) -> None:
    """A completion, its corrected resend in the same attempt and the void of the first: whatever the
    order, exactly the same facts (each statement is its own fact; a void invalidates its target)."""
    sent = [
        statement("completed", timestamp="2024-03-10T15:00:00Z", statement_id=WRONG),
        statement("completed", timestamp="2024-03-11T15:00:00Z", statement_id=CORRECTED),
        {**void_of(WRONG), "id": VOID},
    ]
    for index in order:
        assert post(sent[index]).status == 200
    assert _ce_facts(ana) == [
        _credit(WRONG, "2024-03-10"),
        _credit(CORRECTED, "2024-03-11"),
        CeVoid(key=VOID, recorded_on=date(2024, 3, 20), completion_key=f"{COURSE} statement {WRONG}"),
    ]
    assert ccp()["earned"] == 3


def test_a_void_costs_two_requests_and_a_statement_two(ana: dict[str, Any]) -> None:
    assert post(statement("passed")).status == 200  # the catalog entries now cached (warm Lambda)
    calls = Calls()
    first = statement("completed")
    assert post(first).status == 200
    assert calls.take() == {"Query": 1, "TransactWriteItems": 1}
    assert post(void_of(first["id"])).status == 200
    assert calls.take() == {"BatchGetItem": 1, "TransactWriteItems": 1}


# ---------------------------------------------------------------------- matched later by the roster


def test_statements_for_an_unknown_account_are_credited_when_the_roster_adds_the_member(
    ana: dict[str, Any],
) -> None:
    assert post(cmi5_sequence("m-9")).status == 200
    assert len(unmatched()) == 3  # completed, passed, satisfied
    member("m-9", "2022-01-10")
    assert ccp("m-9")["earned"] == 3
    assert unmatched() == []
    outcomes = sorted(e["data"]["outcome"] for e in timeline("m-9") if e["kind"] == "xapi")
    assert outcomes == ["credited", "credited", "credited"]  # one course: one credit counts
    stored = items(ana)
    member("m-9", "2022-01-10")  # the same roster row again
    assert post(cmi5_sequence("m-9")[2]).status == 200  # a new completion statement: same course
    assert ccp("m-9")["earned"] == 3
    assert [i for i in stored if i not in items(ana)] == []


def test_a_statement_for_an_unknown_e_mail_is_credited_when_a_member_gets_that_e_mail(
    ana: dict[str, Any],
) -> None:
    mbox = {"objectType": "Agent", "mbox": "mailto:New.Address@example.org"}
    assert post(statement("completed", actor=mbox)).status == 200
    member("m-7", "2022-01-10", email="old@example.org")
    assert ccp("m-7")["earned"] == 0
    assert len(unmatched()) == 1
    member("m-7", "2022-01-10", email="new.address@example.org")  # the roster corrects the e-mail
    assert ccp("m-7")["earned"] == 3
    assert unmatched() == []


def test_a_statement_of_another_lms_account_is_not_credited_by_the_roster(ana: dict[str, Any]) -> None:
    foreign = {"objectType": "Agent", "account": {"homePage": "https://other-lms.example.org", "name": "m-6"}}
    assert post(statement("completed", actor=foreign)).status == 200
    member("m-6", "2022-01-10")
    assert ccp("m-6")["earned"] == 0
    assert len(unmatched()) == 1


def test_a_roster_upsert_costs_two_queries_more_only_when_the_profile_changes(ana: dict[str, Any]) -> None:
    calls = Calls()
    # new: load, write, parked payments look-up, and the two look-ups of waiting statements
    member("m-5", "2022-01-10")
    assert calls.take() == {"Query": 4, "TransactWriteItems": 1}
    member("m-5", "2022-01-10")  # unchanged: load only
    assert calls.take() == {"Query": 1}


# ---------------------------------------------------------------------- Ralph as the oracle


def _anonymous_group(one: dict[str, Any]) -> None:
    one["actor"] = {
        "objectType": "Group",
        "member": [{"objectType": "Agent", "account": {"homePage": HOME, "name": "m-1"}}],
    }


def _sha1_actor(one: dict[str, Any]) -> None:
    one["actor"] = {"objectType": "Agent", "mbox_sha1sum": "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"}


def _rich(one: dict[str, Any]) -> None:
    one["result"] = {
        "score": {"scaled": 0.9, "raw": 90, "min": 0, "max": 100},
        "success": True,
        "duration": "PT1H",
    }
    one["context"].update(
        platform="LMS",
        language="en-US",
        extensions={"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "s"},
    )


def _fixtures() -> dict[str, dict[str, Any]]:
    """Every statement shape these tests send, as sent."""
    found: dict[str, dict[str, Any]] = {}
    for index, one in enumerate(cmi5_sequence()):
        found[f"cmi5 {index} {one['verb']['id'].rsplit('/', 1)[-1]}"] = one
    found["without id"] = without_id(statement("completed"))
    found["voided"] = void_of(str(uuid.uuid4()))
    found["mbox actor"] = statement(
        "completed", actor={"objectType": "Agent", "mbox": "mailto:m-1@example.org"}
    )
    for name, change in {
        **SAME_STATEMENT,
        "anonymous group actor": _anonymous_group,
        "mbox_sha1sum actor": _sha1_actor,
        "result and context extensions": _rich,
    }.items():
        one = statement("completed")
        change(one)
        found[name] = one
    return found


FIXTURES = _fixtures()


@pytest.mark.parametrize("fixture", FIXTURES.values(), ids=FIXTURES.keys())
def test_a_statement_ralph_accepts_as_xapi_is_accepted(ana: dict[str, Any], fixture: dict[str, Any]) -> None:
    BaseXapiStatement.model_validate(copy.deepcopy(fixture))  # valid xAPI for an LRS implementation
    response = post(fixture)
    assert response.status == 200, response.body


def test_a_member_created_between_the_read_and_the_write_of_its_statement_is_credited(
    ana: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roster upsert lands after the statement's read of the member and looks for waiting
    statements before the statement is written: the statement reads the member again."""
    from shared.store.members import MemberRepository

    member("m-4", "2022-01-10")
    real_load = MemberRepository.load
    calls: list[str] = []

    def not_yet_once(self: MemberRepository, member_id: str) -> Any:
        calls.append(member_id)
        return None if len(calls) == 1 else real_load(self, member_id)

    monkeypatch.setattr(MemberRepository, "load", not_yet_once)
    assert post(statement("completed", "m-4")).status == 200
    monkeypatch.setattr(MemberRepository, "load", real_load)
    assert ccp("m-4")["earned"] == 3
    assert unmatched() == []
