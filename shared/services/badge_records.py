"""What we keep about a Credly badge: the ``badge`` event's data, its key, the badge an opening
balance brings, the revoke reasons, and the expiry sent to Credly. Issuing and revoking is ``badges``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shared.rules.dates import add_years
from shared.rules.models import OpeningBalance
from shared.store.recert import BADGE_KIND
from shared.store.records import EventRecord, MemberRecord


class BadgeRecord(BaseModel):
    """What we keep about one Credly badge (the ``data`` of the ``badge`` event)."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    credential: str
    application_id: str
    completed_on: date
    badge_id: str | None = None
    state: str = Field(description="pending, accepted, rejected, revoked (Credly) or not_configured")
    badge_template_id: str | None = None
    issued_at: str | None = None
    resolved_duplicate: bool = False
    revoked_on: date | None = None
    revoke_reason: str | None = None
    last_event_id: str | None = None
    issue: int = Field(default=1, ge=1, description="1 for the completion's badge, 2.. after a fee reversal")


def badge_key(credential: str, application_id: str, issue: int = 1) -> str:
    return f"{credential}#{application_id}" + (f"#{issue}" if issue > 1 else "")


IMPORTED = "opening_balance"  # the application id of a badge brought in with an opening balance


def imported_badge_event(balance: OpeningBalance) -> EventRecord:
    """The badge an opening balance brings (live at the cutover): recorded like one we issued, so a
    lapse after the cutover revokes it and Credly's webhooks update it."""
    badge = BadgeRecord(
        credential=balance.credential,
        application_id=IMPORTED,
        completed_on=balance.cutover_on,
        badge_id=balance.badge_id,
        state="accepted",
    )
    return EventRecord(
        kind=BADGE_KIND,
        key=badge_key(balance.credential, IMPORTED),
        occurred_on=balance.cutover_on,
        recorded_on=balance.cutover_on,
        credential=balance.credential,
        summary=f"Credly badge {balance.badge_id} for {balance.credential}: brought in with the opening balance",
        data=badge.model_dump(mode="json"),
    )


FEE_REVERSED = "recertification fee refunded or disputed"
LAPSED = "certification lapsed"  # revoke reason when the lapse record names none


def badges_of(record: MemberRecord) -> list[BadgeRecord]:
    """Every badge recorded for the member (shown in status and timeline)."""
    return badges_in(record.events)


def badges_in(events: Iterable[EventRecord]) -> list[BadgeRecord]:
    """The badges among ``events`` (a member's, whole or as the daily run read them)."""
    return sorted(
        (BadgeRecord.model_validate(e.data) for e in events if e.kind == BADGE_KIND),
        key=lambda b: (b.completed_on, b.application_id),
    )


def expires_at(policy_value: str, completed_on: date) -> str | bool | None:
    """CREDLY_BADGE_EXPIRY: never -> false (no expiry; revoked on lapse), template -> template default,
    N -> N years after completion."""
    if policy_value == "never":
        return False
    if policy_value == "template":
        return None
    return add_years(completed_on, int(policy_value)).isoformat()
