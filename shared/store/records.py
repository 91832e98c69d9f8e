"""What the store keeps besides rule facts: the member profile, certification rows and the
non-rule events (notices, transitions, badges, ...) that make up the timeline."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from shared.rules.models import Certification, Checkpoint, Fact


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class PostalAddress(_Frozen):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str = Field(min_length=1, max_length=100, description="State or province")
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(default="US", min_length=2, max_length=2)


class MemberProfile(_Frozen):
    member_id: str
    first_name: str
    last_name: str
    email: EmailStr
    postal_address: PostalAddress | None = None


class CertificationRecord(_Frozen):
    """A certification row: the roster's date plus the scheduler's next action date."""

    credential: str
    certified_on: date
    due_on: date | None = None

    def as_certification(self) -> Certification:
        return Certification(credential=self.credential, certified_on=self.certified_on)


class EventRecord(_Frozen):
    """A non-rule fact for the timeline: a notice sent, a transition, a badge, a parked item.

    ``key`` is deterministic (e.g. ``RMA#renewal_60#2026-05``) so recording it twice is a no-op.
    """

    kind: str
    key: str
    occurred_on: date
    recorded_on: date
    credential: str | None = None
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class DailyState(_Frozen):
    """What the daily run leaves on a certification row (projected into DueIndex with it), so that
    its next run reads, besides the due entry, only what was recorded after ``checkpoint``
    (docs/data-model.md, "The daily run's reads"). Derived: a row written by anyone else has none,
    and the next run then reads the whole partition and writes it again.

    * ``profile``: the member's profile (a notice needs it), copied: every profile write rewrites the
      member's certification rows without a state (``MemberService.plan``);
    * ``checkpoint``: the certification's checkpoint as the run left it (the ``CKPT#`` item's copy),
      None when there is none (a day the rules cannot continue from: the next run reads every fact);
    * ``events``: the transitions and cycle starts recorded for the certification;
    * ``audit_deadlines``: deadlines, not yet passed, of the audits drawn for it (next action dates);
    * ``recertified``: a ``Recertified`` fact exists for it (badge reconciliation then needs every fact).
    """

    profile: MemberProfile
    checkpoint: Checkpoint | None
    events: tuple[EventRecord, ...] = ()
    audit_deadlines: tuple[date, ...] = ()
    recertified: bool = False


class MemberRecord(_Frozen):
    """Everything one Query on the member partition returns (or, from ``load_recent``, the header
    items, badges and the facts recorded after the checkpoints: see ``complete``)."""

    profile: MemberProfile
    certifications: dict[str, CertificationRecord]
    facts: tuple[Fact, ...] = ()
    events: tuple[EventRecord, ...] = ()
    checkpoints: dict[str, Checkpoint] = Field(default_factory=dict)
    complete: bool = True  # False: only what a status read needs (``MemberRepository.load_recent``)

    def certifications_in_order(self) -> list[Certification]:
        """The member's certifications as the rules core sees them, by credential code."""
        ordered = sorted(self.certifications.values(), key=lambda c: c.credential)
        return [c.as_certification() for c in ordered]


class TimelineEntry(_Frozen):
    on: date
    kind: str
    credential: str | None
    summary: str
    recorded_on: date
    data: dict[str, Any] = Field(default_factory=dict)
