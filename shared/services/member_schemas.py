"""Members on the wire: the roster upsert body (with opening balances), the status, timeline,
invoices and standing answers, and the roster's error codes. ``members`` decides."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.errors import Conflict, DomainError
from shared.rules.dates import IsoDate
from shared.rules.invoices import Invoice
from shared.rules.models import CertificationStatus, OpeningBalance, Reason
from shared.rules.models import Standing as Standings
from shared.rules.policy import Category
from shared.services.badge_records import BadgeRecord
from shared.store.records import PostalAddress, TimelineEntry

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class InvalidRoster(DomainError):
    code = "invalid_roster"


class HistoryExists(Conflict):
    """An opening balance for a member this system already has facts or events about: it would
    rewrite history it did not come from (no silent overwrite)."""

    code = "history_exists"


OpeningPoints = Annotated[Decimal, Field(ge=0, le=1000, max_digits=7, decimal_places=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


EARLIEST_CERTIFICATION = date(1950, 1, 1)  # older dates are typos, and far-future ones too


class OpeningBalanceIn(_Strict):
    """A certification's state on the cutover date, from the association's previous system
    (the rules: docs/rules.md, "Opening balances and the cutover")."""

    cutover_on: IsoDate = Field(description="The date the balance is the state of (not after today)")
    paid_through: IsoDate = Field(description="Annual fees paid through this day")
    cycle_start: IsoDate = Field(description="Start of the CCP cycle the points were earned in")
    points: dict[Category, OpeningPoints] = Field(
        default_factory=dict, description="CCP points already earned in that cycle, by category"
    )
    standing: Standings = Field(description="active, delinquent or lapsed on the cutover date")
    lapsed_on: IsoDate | None = None
    lapse_reason: Reason | None = None
    badge_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")] | None = Field(
        default=None, description="The Credly badge live on the cutover date"
    )

    def fact(self, credential: str) -> OpeningBalance:
        return OpeningBalance(
            key=credential,
            recorded_on=self.cutover_on,
            credential=credential,
            **self.model_dump(),
        )


class RosterCertification(_Strict):
    credential: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
    certified_on: IsoDate = Field(ge=EARLIEST_CERTIFICATION)
    opening_balance: OpeningBalanceIn | None = Field(
        default=None, description="Only for a member this system has no facts about yet"
    )


class MemberUpsert(_Strict):
    """Body of ``PUT /members/{member_id}`` from the association's member system."""

    first_name: Name
    last_name: Name
    email: EmailStr
    postal_address: PostalAddress | None = None
    certifications: list[RosterCertification] = Field(min_length=1, max_length=20)


class MemberStatus(_Strict):
    member_id: str
    as_of: date
    certifications: list[CertificationStatus]
    badges: list[BadgeRecord] = Field(default_factory=list, description="Credly badges with id and state")


class Timeline(_Strict):
    member_id: str
    entries: list[TimelineEntry]


class Invoices(_Strict):
    member_id: str
    as_of: date
    invoices: list[Invoice]
