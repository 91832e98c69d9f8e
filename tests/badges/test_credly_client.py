"""The Credly client against a real local HTTP server (local/fake_credly.py), not a mocked method."""

from __future__ import annotations

import base64

import pytest

from local.fake_credly import FakeCredly
from shared.adapters.credly import BadgeRequest, CredlyClient, CredlyError, CredlyUnavailable, DuplicateBadge

REQUEST = BadgeRequest(
    recipient_email="ana@example.org",
    first_name="Ana",
    last_name="Diaz",
    badge_template_id="tpl-rma",
    issued_at="2026-05-21 00:00:00 -0500",
    issuer_earner_id="ana",
    expires_at=False,
)


class Sleeper:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(credly: FakeCredly, sleeper: Sleeper, attempts: int = 4, timeout: float = 2.0) -> CredlyClient:
    return CredlyClient(
        credly.url,
        credly.organization_id,
        lambda: credly.token,
        max_attempts=attempts,
        timeout=timeout,
        sleep=sleeper,
    )


def test_issue_request_shape_and_basic_auth(credly: FakeCredly) -> None:
    badge = client(credly, Sleeper()).issue(REQUEST)
    assert badge.state == "pending"
    assert badge.id in credly.badges
    [sent] = credly.requests
    assert (sent.method, sent.path) == ("POST", "/organizations/test-org/badges")
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"test-token:").decode()
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == {
        "recipient_email": "ana@example.org",
        "issued_to_first_name": "Ana",
        "issued_to_last_name": "Diaz",
        "badge_template_id": "tpl-rma",
        "issued_at": "2026-05-21 00:00:00 -0500",
        "issuer_earner_id": "ana",
        "expires_at": False,
    }


def test_wrong_token_is_not_retried(credly: FakeCredly) -> None:
    sleeper = Sleeper()
    bad = CredlyClient(credly.url, credly.organization_id, lambda: "nope", sleep=sleeper)
    with pytest.raises(CredlyError) as raised:
        bad.issue(REQUEST)
    assert raised.value.status == 401
    assert sleeper.waits == []
    assert len(credly.requests) == 1


@pytest.mark.parametrize("failure", ["429", "500", "garbled", "drop"])
def test_transient_failures_are_retried_with_backoff(credly: FakeCredly, failure: str) -> None:
    credly.fail_next(failure, times=2)  # type: ignore[arg-type]
    sleeper = Sleeper()
    badge = client(credly, sleeper).issue(REQUEST) if failure != "garbled" else None
    if failure == "garbled":
        # A garbled 201 may hide a created badge: the retry meets Credly's duplicate answer.
        with pytest.raises(DuplicateBadge):
            client(credly, sleeper).issue(REQUEST)
        assert len(credly.badges) == 1
    else:
        assert badge is not None
        assert len(credly.badges) == 1
        assert len(credly.requests) == 3
    assert len(sleeper.waits) == 2
    assert all(0 <= wait <= 8 for wait in sleeper.waits)


@pytest.mark.parametrize(("retry_after", "waited"), [("3", 3.0), ("120", 30.0)])
def test_retry_after_is_waited_up_to_30_seconds(credly: FakeCredly, retry_after: str, waited: float) -> None:
    credly.retry_after = retry_after
    credly.fail_next("429", times=2)
    sleeper = Sleeper()
    assert client(credly, sleeper).issue(REQUEST).id in credly.badges
    assert sleeper.waits == [waited, waited]


def test_unusable_retry_after_falls_back_to_backoff(credly: FakeCredly) -> None:
    credly.retry_after = "soon"
    credly.fail_next("500", times=2)
    sleeper = Sleeper()
    assert client(credly, sleeper).issue(REQUEST).id in credly.badges
    assert len(sleeper.waits) == 2
    assert all(0 <= wait <= 8 for wait in sleeper.waits)


def test_timeouts_are_retried(credly: FakeCredly) -> None:
    credly.fail_next("hang", times=1)
    sleeper = Sleeper()
    # the hang outlasts the timeout (hang_seconds 2.0); the timeout also bounds the retry, so it is
    # not made so short that a busy machine times the good second attempt out too (0.2 s did)
    badge = client(credly, sleeper, timeout=1.0).issue(REQUEST)
    assert badge.id in credly.badges
    assert len(sleeper.waits) == 1


def test_gives_up_after_bounded_attempts(credly: FakeCredly) -> None:
    credly.fail_next("500", times=10)
    sleeper = Sleeper()
    with pytest.raises(CredlyUnavailable, match="status 500 after 3 attempts"):
        client(credly, sleeper, attempts=3).issue(REQUEST)
    assert len(sleeper.waits) == 2
    assert len(credly.requests) == 3
    assert credly.badges == {}


def test_duplicate_422_then_lookup_finds_the_existing_badge(credly: FakeCredly) -> None:
    api = client(credly, Sleeper())
    first = api.issue(REQUEST)
    with pytest.raises(DuplicateBadge):
        api.issue(REQUEST)
    found = api.find_badges("tpl-rma", "ana")
    assert [b.id for b in found] == [first.id]
    lookup = credly.requests[-1]
    assert lookup.query["filter"] == ["badge_template_id::tpl-rma|issuer_earner_id::ana"]
    assert api.find_badges("tpl-other", "ana") == []


def test_revoke_with_reason_and_again(credly: FakeCredly) -> None:
    api = client(credly, Sleeper())
    badge = api.issue(REQUEST)
    revoked = api.revoke(badge.id, "certification lapsed")
    assert revoked is not None
    assert revoked.state == "revoked"
    sent = credly.requests[-1]
    assert (sent.method, sent.path) == ("PUT", f"/organizations/test-org/badges/{badge.id}/revoke")
    assert sent.body["reason"] == "certification lapsed"
    again = api.revoke(badge.id, "certification lapsed")  # 422 already revoked -> re-read, fine
    assert again is not None
    assert again.state == "revoked"
    # after a revocation the earner may be issued the template again (a new recertification)
    assert api.issue(REQUEST).id != badge.id


def test_events_are_fetched_for_confirmation(credly: FakeCredly) -> None:
    api = client(credly, Sleeper())
    badge = api.issue(REQUEST)
    event_id = credly.change_state(badge.id, "accepted")
    event = api.get_event(event_id)
    assert event is not None
    assert event["event_type"] == "badge.state.changed"
    assert event["badge"]["state"] == "accepted"
    assert api.get_event("nope") is None
