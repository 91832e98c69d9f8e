"""Property: any order and duplication of the same PUT/DELETE requests for self-reported activities
gives the same status and the same activities list (services over a fake member repository)."""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config.settings import Settings
from shared.rules.models import Fact
from shared.services.activities import ActivityRequest, ActivityService, ActivityWithdrawn, CycleFilter
from shared.services.members import MemberService
from shared.store.members import WriteOutcome
from shared.store.records import CertificationRecord, MemberProfile, MemberRecord

POLICY = Settings().policy()
TODAY = date(2021, 7, 1)
PROFILE = MemberProfile(member_id="ana", first_name="Ana", last_name="Diaz", email="ana@example.org")
CERTS = {
    "RMA": CertificationRecord(credential="RMA", certified_on=date(2019, 5, 14)),
    "RPT": CertificationRecord(credential="RPT", certified_on=date(2021, 1, 10)),
}


def _body(category: str, completed_on: str, units: dict[str, Any], **extra: Any) -> ActivityRequest:
    return ActivityRequest.model_validate(
        {
            "category": category,
            "title": f"{category} {completed_on}",
            "provider": "State society",
            "completed_on": completed_on,
            "units": units,
            "attestation": {"criteria": ["advances_health_care_knowledge"], "true_and_correct": True},
            **extra,
        }
    )


BODIES = {
    "conf": _body("professional_education", "2021-06-01", {"contact_hours": 8}),
    "course": _body("formal_education", "2020-09-01", {"semester_hours": 1}),
    "job": _body("employment", "2021-03-31", {"started_on": "2020-07-01"}),
    "talk": _body("instructional_presentation", "2021-02-01", {"presentation_hours": 2}, credential="RPT"),
}


class FakeMembers:
    """The two calls the service makes of the member repository, over a list of facts."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []

    def load(self, member_id: str) -> MemberRecord | None:
        if member_id != "ana":
            return None
        return MemberRecord(profile=PROFILE, certifications=CERTS, facts=tuple(self.facts))

    def record_fact(self, member_id: str, fact: Fact) -> WriteOutcome:
        if any((f.kind, f.key) == (fact.kind, fact.key) for f in self.facts):
            return WriteOutcome.DUPLICATE
        self.facts.append(fact)
        return WriteOutcome.CREATED


def _apply(requests: list[tuple[str, str]]) -> tuple[Any, Any]:
    members = FakeMembers()
    service = ActivityService(members, POLICY)  # type: ignore[arg-type]
    for method, activity_id in requests:
        with suppress(ActivityWithdrawn):  # a PUT after the withdrawal: 409, nothing written
            if method == "PUT":
                service.record("ana", activity_id, BODIES[activity_id], "member:ana", TODAY)
            else:
                service.withdraw("ana", activity_id, "member:ana", TODAY)
    status = MemberService(members, POLICY).status("ana", TODAY)  # type: ignore[arg-type]
    listing = service.listing("ana", None, CycleFilter.ALL, 200, None, TODAY)
    return status, listing


REQUESTS = [(method, activity_id) for activity_id in BODIES for method in ("PUT", "DELETE")]


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.sets(st.sampled_from(REQUESTS), min_size=1),
    data=st.data(),
)
def test_any_order_and_duplication_gives_the_same_outcome(chosen: set[tuple[str, str]], data: Any) -> None:
    canonical = sorted(chosen, key=lambda r: (r[0] != "PUT", r[1]))  # every PUT, then every DELETE
    shuffled = data.draw(st.permutations([*canonical, *data.draw(st.lists(st.sampled_from(canonical)))]))
    assert _apply(shuffled) == _apply(canonical)


def test_the_outcome_is_what_the_requests_say() -> None:
    """The reference the property compares against: withdrawn activities count 0, the others count."""
    status, listing = _apply(
        [("PUT", "conf"), ("PUT", "course"), ("PUT", "job"), ("DELETE", "job"), ("PUT", "talk")]
    )
    assert [i.activity_id for i in listing.items] == ["conf", "talk", "course"]
    earned = {c.credential: c.ccp.earned for c in status.certifications}
    assert earned == {"RMA": 8 + 15, "RPT": 8 + 4}
