"""Properties of the order in which self-reported activity requests arrive (services over a fake
member repository), as docs/rules.md "Corrections and withdrawals" states them:

1. The same requests (each activity PUT with one body, and/or DELETEd), in any order and with any
   duplication (retries), give the same status and the same activities list - versions included.
2. Where one activity gets two different bodies, order matters the way it does for any REST resource:
   the last PUT wins. The status and the list are those of the last PUT of each activity (an activity
   with a DELETE among its requests is withdrawn, whatever came before or after it); only an entry's
   ``version`` (how many changes it went through: history) may differ.

Every example mixes several activities, retries and interleavings.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config.settings import Settings
from shared.rules.models import Fact
from shared.services.activities import ActivityService
from shared.services.activity_schemas import ActivityRequest, ActivityWithdrawn, CycleFilter
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
# a correction of each: other units, dates or certification
CORRECTED = {
    "conf": _body("professional_education", "2021-05-20", {"contact_hours": 6}),
    "course": _body("formal_education", "2020-10-01", {"semester_hours": 2}),
    "job": _body("employment", "2021-03-31", {"started_on": "2020-09-01"}),
    "talk": _body("instructional_presentation", "2021-02-01", {"presentation_hours": 3}),
}
VARIANTS = (BODIES, CORRECTED)


class FakeMembers:
    """The calls the services make of the member repository, over a list of facts."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []

    def load(self, member_id: str) -> MemberRecord | None:
        if member_id != "ana":
            return None
        return MemberRecord(profile=PROFILE, certifications=CERTS, facts=tuple(self.facts))

    def load_recent(self, member_id: str) -> MemberRecord | None:
        """The status read: no checkpoints here, so every fact (like the repository's bounded read)."""
        return self.load(member_id)

    def record_fact(self, member_id: str, fact: Fact) -> WriteOutcome:
        if any((f.kind, f.key) == (fact.kind, fact.key) for f in self.facts):
            return WriteOutcome.DUPLICATE
        self.facts.append(fact)
        return WriteOutcome.CREATED


Request = tuple[str, str, int]  # (method, activity id, body variant: 0 original, 1 corrected)


def _apply(requests: list[Request]) -> tuple[Any, Any]:
    members = FakeMembers()
    service = ActivityService(members, POLICY)  # type: ignore[arg-type]
    for method, activity_id, variant in requests:
        with suppress(ActivityWithdrawn):  # a PUT after the withdrawal: 409, nothing written
            if method == "PUT":
                service.record("ana", activity_id, VARIANTS[variant][activity_id], "member:ana", TODAY)
            else:
                service.withdraw("ana", activity_id, "member:ana", TODAY)
    status = MemberService(members, POLICY).status("ana", TODAY)  # type: ignore[arg-type]
    listing = service.listing("ana", None, CycleFilter.ALL, 200, None, TODAY)
    return status, listing


def _without_versions(listing: Any) -> Any:
    return [item.model_copy(update={"version": None}) for item in listing.items]


def _retried_and_shuffled(data: Any, requests: list[Request]) -> list[Request]:
    retries = data.draw(st.lists(st.sampled_from(requests), max_size=8), label="retries")
    shuffled: list[Request] = data.draw(st.permutations([*requests, *retries]), label="arrival order")
    return shuffled


ACTIVITIES = sorted(BODIES)


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.sets(
        st.tuples(st.sampled_from(("PUT", "DELETE")), st.sampled_from(ACTIVITIES)), min_size=2, max_size=8
    ),
    variants=st.fixed_dictionaries({a: st.sampled_from((0, 1)) for a in ACTIVITIES}),
    data=st.data(),
)
def test_the_same_requests_in_any_order_and_duplication_give_the_same_outcome(
    chosen: set[tuple[str, str]], variants: dict[str, int], data: Any
) -> None:
    """Property 1: one body per activity (drawn: the original or the corrected one)."""
    requests = [(method, a, variants[a]) for method, a in chosen]
    canonical = sorted(requests, key=lambda r: (r[0] != "PUT", r[1]))  # every PUT, then every DELETE
    assert _apply(_retried_and_shuffled(data, canonical)) == _apply(canonical)


@settings(max_examples=60, deadline=None)
@given(
    arrived=st.lists(
        st.tuples(
            st.sampled_from(("PUT", "PUT", "DELETE")), st.sampled_from(ACTIVITIES), st.sampled_from((0, 1))
        ),
        min_size=2,
        max_size=14,
    ),
)
def test_with_two_bodies_for_one_activity_the_last_put_wins(arrived: list[Request]) -> None:
    """Property 2: any arrival of original and corrected bodies, retries and withdrawals."""
    reduced: list[Request] = []
    for activity_id in ACTIVITIES:
        mine = [r for r in arrived if r[1] == activity_id]
        puts = [r for r in mine if r[0] == "PUT"]
        if any(r[0] == "DELETE" for r in mine):
            reduced.append(("DELETE", activity_id, 0))
        elif puts:
            reduced.append(puts[-1])
    status, listing = _apply(arrived)
    expected_status, expected_listing = _apply(reduced)
    assert status == expected_status
    assert _without_versions(listing) == _without_versions(expected_listing)


def test_the_outcome_is_what_the_requests_say() -> None:
    """The reference the property compares against: withdrawn activities count 0, the others count."""
    status, listing = _apply(
        [
            ("PUT", "conf", 0),
            ("PUT", "course", 0),
            ("PUT", "job", 0),
            ("DELETE", "job", 0),
            ("PUT", "talk", 0),
        ]
    )
    assert [i.activity_id for i in listing.items] == ["conf", "talk", "course"]
    earned = {c.credential: c.ccp.earned for c in status.certifications}
    assert earned == {"RMA": 8 + 15, "RPT": 8 + 4}
    # a correction replaces the activity: 6 contact hours, 2 semester hours, the talk for both
    status, listing = _apply([("PUT", a, 0) for a in ACTIVITIES] + [("PUT", a, 1) for a in ACTIVITIES])
    assert [(i.activity_id, i.version) for i in listing.items] == [
        ("conf", 2),
        ("job", 2),
        ("talk", 2),
        ("course", 2),
    ]
    earned = {c.credential: c.ccp.earned for c in status.certifications}
    assert earned["RPT"] == 6 + 6  # conf (after RPT's certification) + the talk, now for every certification
