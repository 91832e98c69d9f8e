"""Member use cases: roster upsert, status, timeline, standing. The wire shapes are ``member_schemas``.

One concept at a little over 300 lines: the member record as the roster and the member's own pages
see it - the upsert that writes it (planned from reads, then written) and the reads derived
from it (status, invoices, standing, timeline); every rule is in ``shared.rules``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.errors import NotFound, UnknownCredential
from shared.rules.invoices import invoices_for, recertification_invoice
from shared.rules.models import (
    ActivitySpec,
    Certification,
    CertificationStatus,
    Fact,
    OpeningBalance,
)
from shared.rules.opening import InvalidOpeningBalance, check_opening_balance
from shared.rules.policy import RulesPolicy
from shared.rules.status import catalog_ids_needed, evaluate
from shared.services.badge_records import badges_of, imported_badge_event
from shared.services.checkpoints import StatusReads
from shared.services.member_schemas import (
    HistoryExists,
    InvalidRoster,
    Invoices,
    MemberStatus,
    MemberUpsert,
    RosterCertification,
    Timeline,
    _Strict,
)
from shared.services.timeline import timeline_of
from shared.store import keys
from shared.store.members import MemberRepository
from shared.store.recert import BADGE_LIST, RecertStore, StaleWrite
from shared.store.recert_queries import applications_of
from shared.store.records import (
    CertificationRecord,
    EventRecord,
    MemberProfile,
    MemberRecord,
)

# Looks up catalog entries for activities that were unmapped when completed (at most one read).
CatalogLookup = Callable[[set[str]], Mapping[str, ActivitySpec]]
# Credits payments parked for a member once the roster brings the member/credential.
ParkedPaymentsHook = Callable[[str, date], int]
AwaitingStatementsHook = Callable[[str, str | None, date], int]  # (member id, e-mail, today) -> matched


@dataclass(frozen=True)
class Waiting:
    """Who has something waiting for the roster: the members parked payments name, and the
    ``member:``/``mbox:`` keys unmatched statements wait for (``shared.services.xapi_crediting``)."""

    parked: frozenset[str]
    awaited: frozenset[str]

    def awaits(self, member_id: str, email: str) -> bool:
        from shared.services.xapi_crediting import MBOX_CLAIM, MEMBER_CLAIM  # xAPI models: not at cold start

        return bool({MEMBER_CLAIM + member_id, MBOX_CLAIM + email.strip().lower()} & self.awaited)


@dataclass
class UpsertPlan:
    """The writes of one roster upsert, and the standing each opening balance gives on its cutover."""

    profile: MemberProfile
    new_member: bool
    profile_changed: bool = False
    certifications: list[CertificationRecord] = field(default_factory=list)
    # unchanged rows rewritten because the profile changed (they carry the daily run's profile copy)
    restated: list[CertificationRecord] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    badges: list[EventRecord] = field(default_factory=list)
    standings: dict[str, CertificationStatus] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return bool(self.profile_changed or self.certifications or self.facts)

    @property
    def rows(self) -> list[CertificationRecord]:
        """Every certification row the plan writes."""
        return [*self.certifications, *self.restated]


# The answer of GET /members/{member_id}/standing stays here, not in member_schemas: its OpenAPI name
# (shared__services__members__Standing, told apart from the rules' Standing) is derived from this
# module and is part of the published contract.
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
        awaiting_statements: AwaitingStatementsHook | None = None,
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.catalog = catalog
        self.parked_payments = parked_payments or self._default_parked_payments
        self.awaiting_statements = awaiting_statements or self._default_awaiting_statements

    def _default_parked_payments(self, member_id: str, today: date) -> int:
        from shared.services.payments import PaymentService
        from shared.store.payments import PaymentLedger

        ledger = PaymentLedger(self.repository.table_name, self.repository.client)
        return PaymentService(ledger, self.policy).apply_parked(member_id, today)

    def _default_awaiting_statements(self, member_id: str, email: str | None, today: date) -> int:
        from shared.config.settings import get_settings
        from shared.services.ce_xapi import XapiIngest
        from shared.store.catalog import CatalogRepository

        catalog = CatalogRepository(self.repository.table_name, self.repository.client)
        ingest = XapiIngest(self.repository, catalog, self.policy, get_settings().zone)
        return ingest.credit_awaiting(member_id, email, today)

    def upsert(self, member_id: str, request: MemberUpsert, today: date) -> bool:
        """Create or update a member; True when the member is new. Certifications missing from the
        request are kept (the roster never deletes a certification's history)."""
        existing = self.repository.load(member_id)
        plan = self.plan(member_id, request, today, existing)
        self.apply(plan, today)
        return existing is None

    def plan(
        self, member_id: str, request: MemberUpsert, today: date, existing: MemberRecord | None
    ) -> UpsertPlan:
        """What an upsert would write, checked (``InvalidRoster``, ``UnknownCredential``,
        ``HistoryExists``) against the member as loaded - nothing is written."""
        codes = [self._canonical(cert.credential, index) for index, cert in enumerate(request.certifications)]
        self._check_roster(codes, request, today)
        current = existing.certifications if existing else {}
        plan = UpsertPlan(
            profile=MemberProfile(
                member_id=member_id,
                first_name=request.first_name,
                last_name=request.last_name,
                email=request.email,
                postal_address=request.postal_address,
            ),
            new_member=existing is None,
        )
        for index, (code, cert) in enumerate(zip(codes, request.certifications, strict=True)):
            before = current.get(code)
            balance = self._opening(index, code, cert, today, existing, plan)
            if before is None or before.certified_on != cert.certified_on or balance is not None:
                # New or corrected: the scheduler looks at it on the next run and sets its real date.
                plan.certifications.append(
                    CertificationRecord(credential=code, certified_on=cert.certified_on, due_on=today)
                )
        plan.profile_changed = existing is None or existing.profile != plan.profile
        if existing is not None and plan.profile_changed:
            # The daily run keeps a copy of the profile on each certification row (for its notices):
            # every row is rewritten without it, due today (the next run reads the member whole and
            # copies the new profile; a date a payment moved meanwhile is not lost, only brought forward).
            listed = {c.credential for c in plan.certifications}
            plan.restated.extend(
                CertificationRecord(credential=c.credential, certified_on=c.certified_on, due_on=today)
                for code, c in sorted(current.items())
                if code not in listed
            )
        return plan

    def _opening(  # noqa: PLR0917 - one certification of the request, in its context
        self,
        index: int,
        code: str,
        cert: RosterCertification,
        today: date,
        existing: MemberRecord | None,
        plan: UpsertPlan,
    ) -> OpeningBalance | None:
        """The certification's opening balance when it is new; None when absent or already recorded."""
        if cert.opening_balance is None:
            return None
        balance = cert.opening_balance.fact(code)
        path = f"certifications[{index}].opening_balance"
        try:
            status = check_opening_balance(
                Certification(credential=code, certified_on=cert.certified_on), balance, today, self.policy
            )
        except InvalidOpeningBalance as error:
            raise InvalidRoster(str(error), field=f"{path}.{error.field}") from None
        plan.standings[code] = status
        if existing is not None and balance in existing.facts:
            return None  # the same balance again: nothing to write
        if existing is not None and (existing.facts or any(e.credential == code for e in existing.events)):
            raise HistoryExists(
                f"member already has facts or events in this system; an opening balance for {code} "
                "would overwrite them",
                field=path,
            )
        plan.facts.append(balance)
        if balance.badge_id is not None:
            plan.badges.append(imported_badge_event(balance))
        return balance

    def plan_items(self, plan: UpsertPlan) -> list[dict[str, Any]]:
        """A plan's writes as plain items, for a bulk writer (BatchWriteItem): profile, certification
        rows, opening balances, imported badges (a re-upload writes nothing: its plan is empty)."""
        repository, member_id = self.repository, plan.profile.member_id
        items = [repository.profile_item(plan.profile)] if plan.changes else []
        items.extend(repository.cert_item(member_id, c) for c in plan.rows)
        items.extend(repository.fact_item(member_id, f) for f in plan.facts)
        items.extend(
            repository.event_item(
                member_id, e, {keys.LIST_PK: BADGE_LIST, keys.LIST_SK: str(e.data["badge_id"])}
            )
            for e in plan.badges
        )
        return items

    def apply(self, plan: UpsertPlan, today: date) -> None:
        """Write a plan: profile, certification rows and opening balances in one transaction, then the
        imported badges (each a conditional put: a replay changes nothing)."""
        if plan.changes:
            self.repository.save_member(plan.profile, plan.rows, facts=plan.facts)
        store = RecertStore(self.repository)
        for event in plan.badges:
            with suppress(StaleWrite):  # recorded by an earlier delivery of the same row
                store.put_event(
                    plan.profile.member_id,
                    event,
                    list_keys=(BADGE_LIST, str(event.data["badge_id"])),
                    create=True,
                )
        self.credit_waiting(plan, today)

    def credit_waiting(self, plan: UpsertPlan, today: date, waiting: Waiting | None = None) -> None:
        """Credit what waited for the member a written plan brought in: the payments parked for it (a
        new member or credential) and the LMS statements that waited for its account or e-mail (a new
        member or e-mail), each exactly as when it arrives (the crediting writes are conditional, so a
        second call credits nothing). ``waiting``: who has something waiting, read once for many
        plans (the bulk import, after each chunk's writes); None: look for this member."""
        member_id, email = plan.profile.member_id, str(plan.profile.email)
        if plan.certifications and (waiting is None or member_id in waiting.parked):
            self.parked_payments(member_id, today)
        if plan.profile_changed and (waiting is None or waiting.awaits(member_id, email)):
            self.awaiting_statements(member_id, email, today)

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
        """From the certifications' checkpoints and the facts recorded since (one bounded Query),
        or from the whole partition when they cannot give the exact answer (``StatusReads``)."""
        found = StatusReads(self.repository, self.policy, self.catalog_for).statuses(member_id, today)
        if found is None:
            raise NotFound(f"member {member_id!r} not found")
        record, statuses = found
        return MemberStatus(
            member_id=member_id, as_of=today, certifications=statuses, badges=badges_of(record)
        )

    def status_of(self, member_id: str, record: MemberRecord, today: date) -> MemberStatus:
        """The status of an already loaded member (a page showing status, invoices and timeline
        reads the partition once)."""
        catalog = self.catalog_for(record.facts)
        statuses = [
            evaluate(cert.as_certification(), record.facts, today, self.policy, catalog)
            for cert in sorted(record.certifications.values(), key=lambda c: c.credential)
        ]
        return MemberStatus(
            member_id=member_id, as_of=today, certifications=statuses, badges=badges_of(record)
        )

    def invoices(self, member_id: str, today: date) -> Invoices:
        """Every invoice of the member's certifications - each annual fee year, then each
        recertification application's fee - derived from the facts and applications (one Query)."""
        return self.invoices_of(member_id, self.load(member_id), today)

    def invoices_of(self, member_id: str, record: MemberRecord, today: date) -> Invoices:
        applications = applications_of(record)
        found = [
            invoice
            for cert in sorted(record.certifications.values(), key=lambda c: c.credential)
            for invoice in [
                *invoices_for(member_id, cert.as_certification(), record.facts, today, self.policy),
                *(
                    recertification_invoice(member_id, application, record.facts, today, self.policy)
                    for application in applications
                    if self.policy.canonical_code(application.credential) == cert.credential
                ),
            ]
        ]
        return Invoices(member_id=member_id, as_of=today, invoices=found)

    def standing(self, member_id: str, today: date) -> Standing:
        status = self.status(member_id, today)
        good = bool(status.certifications) and all(c.status == "active" for c in status.certifications)
        return Standing(member_id=member_id, as_of=today, in_good_standing=good)

    def timeline(self, member_id: str) -> Timeline:
        record = self.load(member_id)
        return Timeline(member_id=member_id, entries=timeline_of(record))

    def load(self, member_id: str) -> MemberRecord:
        """The member's partition; 404 (NotFound) when the member is unknown."""
        record = self.repository.load(member_id)
        if record is None:
            raise NotFound(f"member {member_id!r} not found")
        return record

    def catalog_for(self, facts: tuple[Fact, ...]) -> Mapping[str, ActivitySpec]:
        """Catalog entries the rules need (``catalog_ids_needed``); usually none: no read."""
        wanted = catalog_ids_needed(facts)
        if not wanted or self.catalog is None:
            return {}
        return self.catalog(wanted)
