"""Member use cases: roster upsert, status, timeline, standing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.errors import DomainError, NotFound, UnknownCredential
from shared.rules.dates import IsoDate
from shared.rules.models import ActivitySpec, CertificationStatus, Fact
from shared.rules.policy import RulesPolicy
from shared.rules.status import evaluate, unmapped_activity_ids
from shared.services.badges import BadgeRecord, badges_of
from shared.services.timeline import timeline_of
from shared.store.members import MemberRepository
from shared.store.records import (
    CertificationRecord,
    MemberProfile,
    MemberRecord,
    PostalAddress,
    TimelineEntry,
)

MemberId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

# Looks up catalog entries for activities that were unmapped when completed (at most one read).
CatalogLookup = Callable[[set[str]], Mapping[str, ActivitySpec]]
# Credits payments parked for a member once the roster brings the member/credential (issue 3).
ParkedPaymentsHook = Callable[[str, date], int]


class InvalidRoster(DomainError):
    code = "invalid_roster"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EARLIEST_CERTIFICATION = date(1950, 1, 1)  # older dates are typos, and far-future ones too


class RosterCertification(_Strict):
    credential: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
    certified_on: IsoDate = Field(ge=EARLIEST_CERTIFICATION)


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


class Standing(_Strict):
    member_id: str
    as_of: date
    in_good_standing: bool


class MemberService:
    def __init__(
        self,
        repository: MemberRepository,
        policy: RulesPolicy,
        catalog: CatalogLookup | None = None,
        parked_payments: ParkedPaymentsHook | None = None,
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.catalog = catalog
        self.parked_payments = parked_payments or self._default_parked_payments

    def _default_parked_payments(self, member_id: str, today: date) -> int:
        from shared.services.payments import PaymentService
        from shared.store.payments import PaymentLedger

        ledger = PaymentLedger(self.repository.table_name, self.repository.client)
        return PaymentService(ledger, self.policy).apply_parked(member_id, today)

    def upsert(self, member_id: str, request: MemberUpsert, today: date) -> bool:
        """Create or update a member; True when the member is new. Certifications missing from the
        request are kept (the roster never deletes a certification's history)."""
        codes = [self._canonical(cert.credential, index) for index, cert in enumerate(request.certifications)]
        self._check_roster(codes, request, today)
        existing = self.repository.load(member_id)
        current = existing.certifications if existing else {}
        changed: list[CertificationRecord] = []
        for code, cert in zip(codes, request.certifications, strict=True):
            before = current.get(code)
            if before is None or before.certified_on != cert.certified_on:
                # New or corrected: the scheduler looks at it on the next run and sets its real date.
                changed.append(
                    CertificationRecord(credential=code, certified_on=cert.certified_on, due_on=today)
                )
        profile = MemberProfile(
            member_id=member_id,
            first_name=request.first_name,
            last_name=request.last_name,
            email=request.email,
            postal_address=request.postal_address,
        )
        if existing is None or existing.profile != profile or changed:
            self.repository.save_member(profile, changed)
        if changed:  # a new member or credential may be what a parked payment was waiting for
            self.parked_payments(member_id, today)
        return existing is None

    @staticmethod
    def _check_roster(codes: list[str], request: MemberUpsert, today: date) -> None:
        """One row per credential (aliases included), and no certification dated after today."""
        seen: dict[str, int] = {}
        for index, (code, cert) in enumerate(zip(codes, request.certifications, strict=True)):
            field = f"certifications[{index}]"
            if code in seen:
                raise InvalidRoster(
                    f"{code} is listed twice (also certifications[{seen[code]}])", field=f"{field}.credential"
                )
            seen[code] = index
            if cert.certified_on > today:
                raise InvalidRoster(
                    f"certified_on {cert.certified_on} is after today ({today})",
                    field=f"{field}.certified_on",
                )

    def _canonical(self, code: str, index: int) -> str:
        canonical = self.policy.canonical_code(code)
        if canonical is None:
            raise UnknownCredential(
                f"unknown credential {code!r}",
                field=f"certifications[{index}].credential",
                known=self.policy.known_codes,
                aliases={
                    alias: spec.code for spec in self.policy.credentials.values() for alias in spec.aliases
                },
            )
        return canonical

    def status(self, member_id: str, today: date) -> MemberStatus:
        record = self._load(member_id)
        catalog = self._catalog_for(record.facts)
        statuses = [
            evaluate(cert.as_certification(), record.facts, today, self.policy, catalog)
            for cert in sorted(record.certifications.values(), key=lambda c: c.credential)
        ]
        return MemberStatus(
            member_id=member_id, as_of=today, certifications=statuses, badges=badges_of(record)
        )

    def standing(self, member_id: str, today: date) -> Standing:
        status = self.status(member_id, today)
        good = bool(status.certifications) and all(c.status == "active" for c in status.certifications)
        return Standing(member_id=member_id, as_of=today, in_good_standing=good)

    def timeline(self, member_id: str) -> Timeline:
        record = self._load(member_id)
        return Timeline(member_id=member_id, entries=timeline_of(record))

    def _load(self, member_id: str) -> MemberRecord:
        record = self.repository.load(member_id)
        if record is None:
            raise NotFound(f"member {member_id!r} not found")
        return record

    def _catalog_for(self, facts: tuple[Fact, ...]) -> Mapping[str, ActivitySpec]:
        wanted = unmapped_activity_ids(facts)
        if not wanted or self.catalog is None:
            return {}
        return self.catalog(wanted)
