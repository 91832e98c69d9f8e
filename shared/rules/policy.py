"""Configuration the rules depend on, as an immutable value passed into every rule.

The defaults here are the association's published figures; ``shared.config`` builds the policy
from environment variables so each knob can be overridden without a code change.
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Category(StrEnum):
    """CCP point categories (R3)."""

    PROFESSIONAL_EDUCATION = "professional_education"
    FORMAL_EDUCATION = "formal_education"
    EMPLOYMENT = "employment"
    AUTHORSHIP = "authorship"
    INSTRUCTIONAL_PRESENTATION = "instructional_presentation"
    ORGANIZATIONAL_PARTICIPATION = "organizational_participation"


class PublicationType(StrEnum):
    """Authorship units: what was published."""

    ARTICLE = "article"
    BOOK = "book"
    BOOK_CHAPTER = "book_chapter"
    REVIEW = "review"


class ParticipationRole(StrEnum):
    """Organizational participation units: the role held for a term."""

    OFFICER = "officer"
    BOARD_MEMBER = "board_member"
    COMMITTEE_MEMBER = "committee_member"


def _publication_points() -> dict[PublicationType, Decimal]:
    return {
        PublicationType.ARTICLE: Decimal(10),
        PublicationType.BOOK: Decimal(30),
        PublicationType.BOOK_CHAPTER: Decimal(10),
        PublicationType.REVIEW: Decimal(5),
    }


def _role_points() -> dict[ParticipationRole, Decimal]:
    return {
        ParticipationRole.OFFICER: Decimal(5),
        ParticipationRole.BOARD_MEMBER: Decimal(5),
        ParticipationRole.COMMITTEE_MEMBER: Decimal(3),
    }


_K = TypeVar("_K")


def _positive(rates: dict[_K, Decimal]) -> dict[_K, Decimal]:
    """A partial override keeps the other defaults; every rate must be a positive number."""
    bad = [str(k) for k, v in rates.items() if not v.is_finite() or v <= 0]
    if bad:
        raise ValueError(f"rates must be positive numbers: {', '.join(bad)}")
    return rates


class SelfReportPoints(BaseModel):
    """Points of a self-reported activity per unit of its category (``CCP_SELF_REPORT_POINTS``).

    Contact, semester and quarter hours are published stand-ins (ASCP's CMP figures); the others are
    placeholders to confirm with the association (docs/rules.md)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    contact_hour: Decimal = Field(default=Decimal(1), gt=0)
    semester_hour: Decimal = Field(default=Decimal(15), gt=0)
    quarter_hour: Decimal = Field(default=Decimal(10), gt=0)
    employment_month: Decimal = Field(default=Decimal("0.5"), gt=0)
    presentation_hour: Decimal = Field(default=Decimal(2), gt=0)
    publication: dict[PublicationType, Decimal] = Field(default_factory=_publication_points)
    role_term: dict[ParticipationRole, Decimal] = Field(default_factory=_role_points)

    @field_validator("publication")
    @classmethod
    def _every_publication_type(cls, value: dict[PublicationType, Decimal]) -> dict[PublicationType, Decimal]:
        return _positive({**_publication_points(), **value})

    @field_validator("role_term")
    @classmethod
    def _every_role(cls, value: dict[ParticipationRole, Decimal]) -> dict[ParticipationRole, Decimal]:
        return _positive({**_role_points(), **value})


_CURRENCY = r"^[a-z]{3}$"  # ISO 4217, lower case as Stripe sends it (pydantic-core: "$" is the very end)
_MONTH = re.compile(r"(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])")


class Fee(BaseModel):
    """An amount of money: integer cents of a currency."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    cents: int = Field(gt=0)
    currency: str = Field(default="usd", pattern=_CURRENCY)


class FeeChange(Fee):
    """One entry of a credential's fee schedule (``fees``): the annual fee from a month on.
    ``from`` is ``YYYY-MM`` in the configuration (a first-of-month date is accepted too)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)

    starts: date = Field(alias="from")

    @field_validator("starts", mode="before")
    @classmethod
    def _month(cls, value: object) -> date:
        if isinstance(value, str):
            found = _MONTH.fullmatch(value)
            if found is None:
                raise ValueError("must be a month YYYY-MM")
            return date(int(found["year"]), int(found["month"]), 1)
        if not isinstance(value, date) or value.day != 1:  # a number is not a month
            raise ValueError("must be a month YYYY-MM")
        return value


class CredentialSpec(BaseModel):
    """One credential of the catalog: points per 3-year cycle, annual fee, Credly badge template.

    The annual fee is ``annual_fee_cents`` in ``currency``, changed from a month on by the dated
    entries of ``fees`` (in increasing month order): an invoice costs the fee in force in its due
    month (:meth:`annual_fee_on`)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    code: str
    name: str
    ccp_points: int = Field(gt=0)
    annual_fee_cents: int = Field(gt=0)  # before the first entry of ``fees`` (always, without one)
    recertification_fee_cents: int = Field(gt=0)
    currency: str = Field(default="usd", pattern=_CURRENCY)
    fees: tuple[FeeChange, ...] = ()
    badge_template_id: str | None = None
    aliases: tuple[str, ...] = ()

    @field_validator("fees")
    @classmethod
    def _in_month_order(cls, value: tuple[FeeChange, ...]) -> tuple[FeeChange, ...]:
        months = [change.starts for change in value]
        if any(later <= earlier for earlier, later in itertools.pairwise(months)):
            raise ValueError("fee changes must be in increasing month order, one per month")
        return value

    def annual_fee_on(self, month: date) -> Fee:
        """The annual fee in force in ``month`` (any day of it): the latest change from that month or
        before, else the undated ``annual_fee_cents``."""
        start = month.replace(day=1)
        in_force = [change for change in self.fees if change.starts <= start]
        if not in_force:
            return Fee(cents=self.annual_fee_cents, currency=self.currency)
        return Fee(cents=in_force[-1].cents, currency=in_force[-1].currency)

    def annual_fee_cents_on(self, month: date) -> int:
        return self.annual_fee_on(month).cents


class RulesPolicy(BaseModel):
    """Every business-rule knob. See docs/rules.md for the sentence each one implements."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    credentials: dict[str, CredentialSpec]
    cycle_years: int = 3
    late_reporting_days: int = 90  # CCP_LATE_REPORTING_DAYS (R5)
    lapse_after_overdue_years: int = 3  # LAPSE_AFTER_OVERDUE_YEARS (R7a)
    ccp_mandatory_from: date = date(2006, 1, 1)  # CCP_MANDATORY_FROM (R7b)
    employment_points_until: date = date(2020, 12, 31)  # EMPLOYMENT_POINTS_UNTIL (R3)
    category_caps: dict[Category, Decimal] = Field(default_factory=dict)  # CCP_CATEGORY_CAPS (R3)
    ccp_recert_max_lapsed_years: int = 10  # CCP_RECERT_MAX_LAPSED_YEARS (R8)
    self_report_points: SelfReportPoints = Field(default_factory=SelfReportPoints)  # CCP_SELF_REPORT_POINTS
    ce_count_for_every_certification: bool = True  # CE_COUNT_FOR_EVERY_CERTIFICATION
    renewal_notice_days_before: int = 60  # renewal notices (issue: renewal)
    renewal_notice_days_after: int = 30
    ccp_notice_days_before_end: tuple[int, ...] = (180, 90, 30)
    audit_rate: Decimal = Decimal("0.10")
    audit_month_day: tuple[int, int] = (1, 15)  # AUDIT_DRAW_DATE (MM-DD), each January by default
    audit_deadline_days: int = 60

    def credential(self, code: str) -> CredentialSpec:
        """The spec for a credential code or alias; KeyError if unknown."""
        canonical = self.canonical_code(code)
        if canonical is None:
            raise KeyError(code)
        return self.credentials[canonical]

    def canonical_code(self, code: str) -> str | None:
        """Resolve a code or alias (``MT`` -> ``MLS``), case-insensitively; None if unknown."""
        wanted = code.strip().upper()
        if wanted in self.credentials:
            return wanted
        for spec in self.credentials.values():
            if wanted in spec.aliases:
                return spec.code
        return None

    @property
    def known_codes(self) -> list[str]:
        return sorted(self.credentials)
