"""LMS completion callbacks (xAPI/cmi5) → CE facts. See docs/rules.md "CE crediting".

Per request: **plan** every statement from reads only (member partitions, catalog, statement records;
``xapi_crediting`` and ``xapi_voids`` decide), then **apply** one write per statement that changes
something; a statement whose id is stored with other content is a conflict and is not written, the
others are.
Costs per statement: docs/data-model.md "CE ingest". One concept, the reads and writes of LMS
statements (a request, and the replay of statements that waited for a member through the same
path), hence a little over 300 lines; every decision is in the ``xapi_*`` modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from shared.adapters.xapi import CREDIT_VERBS, VERB_VOIDED, Activity, LmsClient, Statement, StatementRef
from shared.errors import Conflict
from shared.observability import logger
from shared.rules.models import ActivitySpec, CeCompletion, CeVoid
from shared.rules.policy import RulesPolicy
from shared.services.catalog import CACHE, CatalogCache
from shared.services.xapi_crediting import (
    MBOX_CLAIM,
    MEMBER_CLAIM,
    actor_claim,
    course_of,
    plan_completion,
    plan_unmatched,
)
from shared.services.xapi_plan import CREDITED_OUTCOMES, Outcome, Plan, Planned
from shared.services.xapi_voids import is_placeholder, missed_void, plan_void
from shared.store import keys
from shared.store.catalog import UNMAPPED_LIST, CatalogRepository, PutCondition, StatementRecord
from shared.store.members import MemberRepository
from shared.store.records import MemberRecord

__all__ = ["CREDITED_OUTCOMES", "IngestResult", "Outcome", "XapiIngest"]

_Items = list[tuple[dict[str, Any], PutCondition | None]]


@dataclass
class _Reads:
    """The member partitions and e-mail look-ups one request has read (each read once)."""

    members: dict[str, MemberRecord | None] = field(default_factory=dict)
    emails: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    statement_ids: list[str]
    outcomes: dict[str, Outcome]
    conflicts: list[str]  # ids stored before with other content: not written (409)


class XapiIngest:
    def __init__(
        self,
        members: MemberRepository,
        catalog: CatalogRepository,
        policy: RulesPolicy,
        zone: ZoneInfo,
        cache: CatalogCache | None = None,
    ) -> None:
        self.members = members
        self.catalog = catalog
        self.policy = policy
        self.zone = zone
        self.cache = cache or CACHE

    def ingest(
        self,
        client: LmsClient,
        statements: list[tuple[Statement, str]],
        today: date,
        known_emails: Mapping[str, str] | None = None,
    ) -> IngestResult:
        """Plan every statement, then write each plan that changes something. A statement whose id
        is stored with other content is not written and is named in ``conflicts``; the others are
        written all the same (a good statement is never lost because another one conflicts).
        ``known_emails``: e-mail -> member id already known (no EmailIndex look-up for those)."""
        reads, planned = (
            _Reads(emails=dict(known_emails or {})),
            Planned(records=self._void_records(statements)),
        )
        specs = self._catalog_for(statements)
        plans = [self._plan(client, s, h, today, reads, planned, specs) for s, h in statements]
        outcomes: dict[str, Outcome] = {}
        for plan in plans:
            outcome = plan.outcome
            if plan.writes:
                try:
                    self._apply(client, plan, today, specs)
                except _StoredWithOtherContent:
                    outcome = Outcome.CONFLICT
            outcomes[plan.statement.statement_id] = outcome
        logger.info("xapi statements ingested", extra={"client": client.client_id, "outcomes": outcomes})
        if known_emails is None:  # not a replay by ``credit_awaiting``
            self._recheck_unmatched(
                [p for p in plans if outcomes[p.statement.statement_id] == Outcome.UNMATCHED], today
            )
        conflicts = [sid for sid, outcome in outcomes.items() if outcome == Outcome.CONFLICT]
        return IngestResult([s.statement_id for s, _ in statements], outcomes, conflicts)

    def _recheck_unmatched(self, plans: list[Plan], today: date) -> None:
        """A roster upsert may have created the member between our read and our write of its
        unmatched statement, and looked for waiting statements before that write: read the member
        again (one read per distinct actor, unmatched statements only) and credit what waits for it."""
        claims = {p.record.awaits for p in plans if p.record is not None and p.record.awaits}
        for claim in sorted(claims):
            email: str | None = None
            if claim.startswith(MEMBER_CLAIM):
                member_id = claim.removeprefix(MEMBER_CLAIM)
                found = self.members.load(member_id) is not None
            else:
                email = claim.removeprefix(MBOX_CLAIM)
                member_id = self.members.member_id_by_email(email) or ""
                found = bool(member_id)
            if found:
                self.credit_awaiting(member_id, email, today)

    def credit_awaiting(self, member_id: str, email: str | None, today: date) -> int:
        """Credit the unmatched statements that waited for this member (a roster upsert that created
        it or changed its e-mail): those of an account named ``member_id`` and those of an ``mbox``
        with ``email``. Each goes through ``ingest`` again, on behalf of the LMS that sent it, and
        takes over its unmatched record. Returns how many were matched."""
        waiting = self.catalog.awaiting(MEMBER_CLAIM + member_id)
        if email:
            waiting += self.catalog.awaiting(MBOX_CLAIM + email.strip().lower())
        matched = 0
        for record in waiting:
            try:
                statement = Statement.model_validate(record.statement or {})
            except ValidationError:  # kept in a form that no longer validates: staff sees it listed
                logger.warning("unmatched statement not replayable", extra={"id": record.statement_id})
                continue
            account = statement.actor.account
            sender = LmsClient(  # the LMS that sent it; its account homePage was checked then
                client_id=record.client_id, home_page=account.home_page if account else "", passwords=()
            )
            known = {email.strip().lower(): member_id} if email else {}
            result = self.ingest(sender, [(statement, record.content_hash)], today, known)
            matched += result.outcomes[statement.statement_id] != Outcome.UNMATCHED
        return matched

    # ------------------------------------------------------------------ reads

    def _void_records(self, statements: list[tuple[Statement, str]]) -> dict[str, StatementRecord]:
        """Voids need the voided statement's record (and their own): one BatchGetItem, only if any."""
        ids: set[str] = set()
        for statement, _ in statements:
            if statement.verb.id == VERB_VOIDED and isinstance(statement.object, StatementRef):
                ids.update({statement.statement_id, str(statement.object.id)})
        return self.catalog.get_statements(ids) if ids else {}

    def _catalog_for(self, statements: Iterable[tuple[Statement, str]]) -> dict[str, ActivitySpec]:
        ids = {
            activity.id
            for statement, _ in statements
            if statement.verb.id in CREDIT_VERBS and isinstance(statement.object, Activity)
            for activity in (statement.object, *statement.grouping)
        }
        return self.cache.get_many(self.catalog, ids) if ids else {}

    def _member(self, reads: _Reads, member_id: str) -> MemberRecord | None:
        if member_id not in reads.members:
            reads.members[member_id] = self.members.load(member_id)
        return reads.members[member_id]

    def _resolve(
        self, client: LmsClient, statement: Statement, reads: _Reads
    ) -> tuple[str | None, str, str | None]:
        """(member id or None, reason when None, whom the actor names: ``actor_claim``)."""
        claim, why = actor_claim(client, statement)
        if claim is None:
            return None, why, None
        if claim.startswith(MEMBER_CLAIM):
            return claim.removeprefix(MEMBER_CLAIM), "", claim
        email = claim.removeprefix(MBOX_CLAIM)
        if email not in reads.emails:
            reads.emails[email] = self.members.member_id_by_email(email)
        found = reads.emails[email]
        return (found, "", claim) if found else (None, "no member with this e-mail", claim)

    # ------------------------------------------------------------------ planning

    def _plan(  # noqa: PLR0917 - internal
        self,
        client: LmsClient,
        statement: Statement,
        digest: str,
        today: date,
        reads: _Reads,
        planned: Planned,
        specs: dict[str, ActivitySpec],
    ) -> Plan:
        verb = statement.verb.id
        if verb == VERB_VOIDED:
            return plan_void(client, statement, digest, planned.records, today)
        if verb not in CREDIT_VERBS or not isinstance(statement.object, Activity):
            return Plan(statement, digest, Outcome.IGNORED)
        course = course_of(statement, specs)
        if course is None:
            return Plan(statement, digest, Outcome.IGNORED, reason="cmi5 block satisfied")
        member_id, why, claim = self._resolve(client, statement, reads)
        member = self._member(reads, member_id) if member_id else None
        if member is None:
            return plan_unmatched(client, statement, digest, today, why or "unknown member", claim)
        return plan_completion(
            client,
            statement,
            digest,
            course,
            member,
            specs.get(course),
            planned,
            today,
            self.zone,
            self.policy,
        )

    # ------------------------------------------------------------------ writes

    def _apply(self, client: LmsClient, plan: Plan, today: date, specs: dict[str, ActivitySpec]) -> None:
        if self._write(plan) or self._record_over_placeholder(plan, today) or self._settled(plan):
            return
        # A condition failed: another delivery of the same statement (or course) got there first.
        # Re-plan from fresh reads once; a duplicate is then a no-op, a real conflict a 409.
        statements = [(plan.statement, plan.content_hash)]
        again = self._plan(
            client,
            plan.statement,
            plan.content_hash,
            today,
            _Reads(),
            Planned(records=self._void_records(statements)),
            specs,
        )
        if again.outcome == Outcome.CONFLICT:
            raise _StoredWithOtherContent
        if again.writes and not self._write(again) and not self._settled(again):
            raise Conflict(
                "concurrent writes for this statement, retry later",
                statement_ids=[plan.statement.statement_id],
            )

    def _record_over_placeholder(self, plan: Plan, today: date) -> bool:
        """After a failed condition: was this statement voided before it arrived? Then record it as
        planned over the placeholder, with the void it missed (``xapi_voids``), in one transaction."""
        sid = plan.statement.statement_id
        stored = self.catalog.get_statements([sid]).get(sid)
        if not is_placeholder(stored) or plan.record is None:
            return False
        assert stored is not None
        if plan.member_id is None:  # unmatched: keep it, and the pending void, for staff
            record = plan.record.model_copy(update={"voided_by": stored.voided_by})
            return self.catalog.transact_new([(self.catalog.statement_item(record), None)])
        void_id = stored.voided_by
        voiding = self.catalog.get_statements([void_id]).get(void_id) if void_id else None
        items = self._plan_items(plan, None)
        missed = missed_void(plan, voiding, today)
        if missed is not None:
            items += [
                (self.members.event_item(plan.member_id, missed.event), PutCondition.NEW),
                (self.catalog.statement_item(missed.record), None),
                (self._fact_item(plan.member_id, missed.fact), PutCondition.NEW),
            ]
        if not self.catalog.transact_new(items):
            raise Conflict("concurrent writes for this statement, retry later", statement_ids=[sid])
        return True

    def _plan_items(self, plan: Plan, record_condition: PutCondition | None) -> _Items:
        """A member's plan as items: its event, its statement record, its fact."""
        assert plan.member_id is not None
        assert plan.record is not None
        items: _Items = []
        if plan.event is not None:
            items.append((self.members.event_item(plan.member_id, plan.event), PutCondition.NEW))
        items.append((self.catalog.statement_item(plan.record), record_condition))
        if plan.fact is not None:
            items.append((self._fact_item(plan.member_id, plan.fact), PutCondition.NEW))
        return items

    def _fact_item(self, member_id: str, fact: CeCompletion | CeVoid) -> dict[str, Any]:
        """The fact's item; a completion without points (activity not in the catalog yet) is also
        listed for staff under ``UNMAPPED_LIST``."""
        attributes: dict[str, str] = {"member_id": member_id}
        if isinstance(fact, CeCompletion) and fact.points is None:
            attributes[keys.LIST_PK] = UNMAPPED_LIST
            attributes[keys.LIST_SK] = f"{fact.activity_id}#{member_id}"
        return self.members.fact_item(member_id, fact, attributes)

    def _settled(self, plan: Plan) -> bool:
        """After a failed condition: re-read the statement record. Stored with other content: 409;
        stored (not as unmatched) with the same content: another delivery recorded it, nothing to do."""
        sid = plan.statement.statement_id
        stored = self.catalog.get_statements([sid]).get(sid)
        if stored is None:
            return False
        if stored.content_hash != plan.content_hash:
            raise _StoredWithOtherContent
        return stored.outcome != Outcome.UNMATCHED or plan.outcome == Outcome.UNMATCHED

    def _write(self, plan: Plan) -> bool:
        assert plan.record is not None
        if plan.outcome == Outcome.UNMATCHED or plan.member_id is None:
            existing = self.catalog.put_statement_once(plan.record)
            if plan.early_void is not None:  # an existing record (or placeholder) stays as it is
                self.catalog.put_statement_once(plan.early_void)
            if existing is None or existing.content_hash == plan.content_hash:
                return True
            if is_placeholder(existing):
                return False  # _apply records it over the placeholder
            raise _StoredWithOtherContent
        return self.catalog.transact_new(self._plan_items(plan, PutCondition.NEW_OR_UNMATCHED))


class _StoredWithOtherContent(Exception):
    """The statement id is stored with other content: this statement is a conflict (not written)."""
