"""LMS completion callbacks (xAPI/cmi5) → CE facts. See docs/rules.md "CE crediting".

Per request: **plan** every statement from reads only (member partitions, catalog, statement records),
refuse the whole request with 409 if any statement id was seen with different content, then **apply**
one write per statement that changes something.

Cost per crediting statement (account actor, warm catalog cache): one Query of the member partition
(profile, certifications, facts and the statement events already recorded — the dedup check) and one
TransactWriteItems (statement event + statement record + CE fact, all conditional): 2 requests.
A resend costs the Query only. Statements with other verbs cost nothing and are not stored.
A request with two or more statements to write adds one BatchGetItem (per 100 ids) of their
statement records, so a conflict is a 409 before any write; a single write is checked by its own
conditions (an unmatched record is taken over only with the same ``content_hash``), and a failed
condition costs one more read of the statement record (409 if stored with other content).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from shared.adapters.xapi import (
    CREDIT_VERBS,
    TYPE_BLOCK,
    TYPE_COURSE,
    VERB_SATISFIED,
    VERB_VOIDED,
    Activity,
    LmsClient,
    Statement,
    StatementRef,
)
from shared.clock import business_date_of
from shared.errors import Conflict
from shared.observability import logger
from shared.rules.models import ActivitySpec, CeCompletion, Certification, CeVoid
from shared.rules.policy import Category, RulesPolicy
from shared.rules.status import decide_activity
from shared.services.catalog import CACHE, CatalogCache
from shared.store import keys
from shared.store.catalog import UNMAPPED_LIST, CatalogRepository, PutCondition, StatementRecord
from shared.store.members import MemberRepository
from shared.store.records import EventRecord, MemberRecord

EVENT_KIND = "xapi"
MEMBER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_MAX_KEY_BYTES = 700
_NEW = PutCondition.NEW
# An unmatched record may be taken over by its member only with the same content.
_NEW_OR_UNMATCHED = PutCondition.NEW_OR_UNMATCHED
REJECTED = "rejected"  # R3 refused the completion (recorded as a timeline event with the reason)
CREDITED_OUTCOMES = frozenset(
    {"credited", "unmapped"}
)  # a completion recorded (unmapped: counts once in the catalog)
VOIDED_EARLY = "voided_early"  # statement record placeholder: voided before it arrived


def _void_event(  # noqa: PLR0917 - each value names one field of the event
    void_id: str, voided_id: str, fact_key: str, content_hash: str, client_id: str, today: date
) -> EventRecord:
    """The member's timeline event of a ``voided`` statement that reversed the credit ``fact_key``."""
    return EventRecord(
        kind=EVENT_KIND,
        key=void_id,
        occurred_on=today,
        recorded_on=today,
        summary=f"LMS voided statement {voided_id}: CE credit for {fact_key} reversed",
        data={
            "statement_id": void_id,
            "verb": VERB_VOIDED,
            "voided_statement_id": voided_id,
            "fact_key": fact_key,
            "outcome": "voided",
            "content_hash": content_hash,
            "client_id": client_id,
        },
    )


def fact_key_for(course_id: str) -> str:
    """The CE fact key of a course (one course, one credit). Very long IRIs are hashed."""
    if len(course_id.encode("utf-8")) <= _MAX_KEY_BYTES:
        return course_id
    return "sha256:" + hashlib.sha256(course_id.encode("utf-8")).hexdigest()


def course_of(statement: Statement, catalog: dict[str, ActivitySpec]) -> str | None:
    """The course a crediting statement reports, or None (a cmi5 block with no catalog entry).

    Candidates: the object and the grouping activities — grouping first for the AU verbs
    (completed/passed on the assignable unit), the object first for ``satisfied`` (on the course).
    The first candidate in the catalog wins; else one typed as a course; else the first candidate."""
    obj = statement.object
    assert isinstance(obj, Activity)
    grouping = statement.grouping
    candidates = [obj, *grouping] if statement.verb.id == VERB_SATISFIED else [*grouping, obj]
    for activity in candidates:
        if activity.id in catalog:
            return activity.id
    for activity in candidates:
        if activity.type in TYPE_COURSE:
            return activity.id
    if statement.verb.id == VERB_SATISFIED and obj.type == TYPE_BLOCK:
        return None
    return candidates[0].id


@dataclass
class Plan:
    statement: Statement
    content_hash: str
    outcome: str  # ignored | duplicate | conflict | credited | unmapped | already_credited | rejected | voided | nothing_to_void | unmatched
    member_id: str | None = None
    fact: CeCompletion | CeVoid | None = None
    event: EventRecord | None = None
    record: StatementRecord | None = None
    reason: str | None = None
    early_void: StatementRecord | None = None  # placeholder for a voided statement not seen yet

    @property
    def writes(self) -> bool:
        return self.outcome not in ("ignored", "duplicate", "conflict")


@dataclass
class _Batch:
    members: dict[str, MemberRecord | None] = field(default_factory=dict)
    emails: dict[str, str | None] = field(default_factory=dict)
    records: dict[str, StatementRecord] = field(default_factory=dict)  # statement records, stored+planned
    planned_facts: set[tuple[str, str]] = field(default_factory=set)
    planned_events: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    statement_ids: list[str]
    outcomes: dict[str, str]


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

    def ingest(self, client: LmsClient, statements: list[tuple[Statement, str]], today: date) -> IngestResult:
        batch = _Batch()
        self._prefetch_records(batch, statements)
        specs = self._catalog_for(statements)
        plans = [self._plan(client, s, h, today, batch, specs) for s, h in statements]
        plans = self._check_stored(plans)
        conflicts = [p.statement.statement_id for p in plans if p.outcome == "conflict"]
        if conflicts:
            raise Conflict("statement id already stored with different content", statement_ids=conflicts)
        for plan in plans:
            if plan.writes:
                self._apply(client, plan, today, specs)
        outcomes = {p.statement.statement_id: p.outcome for p in plans}
        logger.info("xapi statements ingested", extra={"client": client.client_id, "outcomes": outcomes})
        return IngestResult([s.statement_id for s, _ in statements], outcomes)

    # ------------------------------------------------------------------ reads

    def _prefetch_records(self, batch: _Batch, statements: list[tuple[Statement, str]]) -> None:
        """Voids need the voided statement's record (and their own): one BatchGetItem, only if any."""
        ids: set[str] = set()
        for statement, _ in statements:
            if statement.verb.id == VERB_VOIDED and isinstance(statement.object, StatementRef):
                ids.update({statement.statement_id, str(statement.object.id)})
        if ids:
            batch.records.update(self.catalog.get_statements(ids))

    def _check_stored(self, plans: list[Plan]) -> list[Plan]:
        """With more than one statement to write, a conflict found at write time would come after
        earlier writes: read the statement records the member partitions did not know (one
        BatchGetItem per 100 ids) and turn those stored with other content into conflicts. A single
        write needs no read: its conditional write is atomic and re-read on failure (``_apply``)."""
        writing = [p for p in plans if p.writes]
        if len(writing) < 2:
            return plans
        ids = {p.statement.statement_id for p in writing if p.statement.verb.id != VERB_VOIDED}
        stored = self.catalog.get_statements(ids) if ids else {}
        checked: list[Plan] = []
        for plan in plans:
            record = stored.get(plan.statement.statement_id) if plan.writes else None
            if (
                record is not None
                and record.content_hash != plan.content_hash
                and record.outcome != VOIDED_EARLY
            ):
                checked.append(Plan(plan.statement, plan.content_hash, "conflict", plan.member_id))
            else:
                checked.append(plan)
        return checked

    def _catalog_for(self, statements: Iterable[tuple[Statement, str]]) -> dict[str, ActivitySpec]:
        ids = {
            activity.id
            for statement, _ in statements
            if statement.verb.id in CREDIT_VERBS and isinstance(statement.object, Activity)
            for activity in (statement.object, *statement.grouping)
        }
        return self.cache.get_many(self.catalog, ids) if ids else {}

    def _member(self, batch: _Batch, member_id: str) -> MemberRecord | None:
        if member_id not in batch.members:
            batch.members[member_id] = self.members.load(member_id)
        return batch.members[member_id]

    def _resolve(self, client: LmsClient, statement: Statement, batch: _Batch) -> tuple[str | None, str]:
        """(member id or None, reason when None)."""
        actor = statement.actor
        if actor.account is not None:
            if not client.owns(actor.account.home_page):
                return None, f"account homePage {actor.account.home_page} is not {client.client_id}'s"
            name = actor.account.name
            if not re.fullmatch(MEMBER_ID_PATTERN, name):
                return None, "account name is not a member id"
            return name, ""
        email = actor.email
        if email is not None:
            if email not in batch.emails:
                batch.emails[email] = self.members.member_id_by_email(email)
            found = batch.emails[email]
            return (found, "") if found else (None, "no member with this e-mail")
        return None, "actor identifier not supported (use account or mbox)"

    # ------------------------------------------------------------------ planning

    def _plan(  # noqa: PLR0917 - internal
        self,
        client: LmsClient,
        statement: Statement,
        digest: str,
        today: date,
        batch: _Batch,
        specs: dict[str, ActivitySpec],
    ) -> Plan:
        verb = statement.verb.id
        if verb == VERB_VOIDED:
            return self._plan_void(client, statement, digest, today, batch)
        if verb not in CREDIT_VERBS or not isinstance(statement.object, Activity):
            return Plan(statement, digest, "ignored")
        course = course_of(statement, specs)
        if course is None:
            return Plan(statement, digest, "ignored", reason="cmi5 block satisfied")
        member_id, why = self._resolve(client, statement, batch)
        member = self._member(batch, member_id) if member_id else None
        if member is None:
            return self._plan_unmatched(client, statement, digest, today, why or "unknown member")
        assert member_id is not None
        sid = statement.statement_id
        known = self._known_hash(member, sid) or batch.planned_events.get((member_id, sid))
        if known is not None:
            return Plan(statement, digest, "duplicate" if known == digest else "conflict", member_id)

        key = fact_key_for(course)
        spec = specs.get(course)
        moment = statement.moment
        completed_on = business_date_of(moment, self.zone) if moment else today
        already = (member_id, key) in batch.planned_facts or any(
            f.kind == "ce" and f.key == key for f in member.facts
        )
        reason: str | None = None
        fact: CeCompletion | None = None
        if already:
            outcome = "already_credited"
        else:
            reason = self._rejection(member, completed_on, spec, today)
            if reason is not None:
                outcome = REJECTED
            else:
                outcome = "credited" if spec else "unmapped"
                fact = CeCompletion(
                    key=key,
                    recorded_on=today,
                    activity_id=course,
                    completed_on=completed_on,
                    points=spec.points if spec else None,
                    category=spec.category if spec else None,
                    source=f"xapi:{client.client_id}",
                    title=spec.title if spec else None,
                    provider=spec.provider_id if spec else None,
                )
                batch.planned_facts.add((member_id, key))
        event = EventRecord(
            kind=EVENT_KIND,
            key=sid,
            occurred_on=completed_on,
            recorded_on=today,
            summary=_summary(statement, course, spec, outcome, reason),
            data={
                "statement_id": sid,
                "verb": statement.verb.id,
                "course_id": course,
                "fact_key": key,
                "outcome": outcome,
                "reason": reason,
                "content_hash": digest,
                "client_id": client.client_id,
            },
        )
        batch.planned_events[(member_id, sid)] = digest
        record = StatementRecord(
            statement_id=sid,
            content_hash=digest,
            verb=statement.verb.id,
            client_id=client.client_id,
            recorded_on=today,
            member_id=member_id,
            fact_key=key if outcome != REJECTED else None,
            outcome=outcome,
            reason=reason,
        )
        batch.records[sid] = record
        return Plan(statement, digest, outcome, member_id, fact, event, record, reason)

    @staticmethod
    def _known_hash(member: MemberRecord, statement_id: str) -> str | None:
        for event in member.events:
            if event.kind == EVENT_KIND and event.key == statement_id:
                return str(event.data.get("content_hash"))
        return None

    def _rejection(
        self, member: MemberRecord, completed_on: date, spec: ActivitySpec | None, today: date
    ) -> str | None:
        """R3 for every certification of the member: accepted when any accepts it. Unmapped
        activities are checked for their dates only (their category is not known yet)."""
        certs: list[Certification] = [
            c.as_certification() for c in sorted(member.certifications.values(), key=lambda c: c.credential)
        ]
        if not certs:
            return None
        category = spec.category if spec else Category.PROFESSIONAL_EDUCATION
        reasons = []
        for cert in certs:
            decision = decide_activity(cert, member.facts, completed_on, category, today, self.policy)
            if decision.accepted:
                return None
            reasons.append(decision.reason or "rejected")
        return reasons[0]

    def _plan_unmatched(
        self, client: LmsClient, statement: Statement, digest: str, today: date, reason: str
    ) -> Plan:
        raw = statement.model_dump(mode="json", by_alias=True, exclude_none=True)
        actor = statement.actor
        who = (
            f"{actor.account.home_page}#{actor.account.name}"
            if actor.account
            else (actor.mbox or actor.openid or actor.mbox_sha1sum or "")
        )
        record = StatementRecord(
            statement_id=statement.statement_id,
            content_hash=digest,
            verb=statement.verb.id,
            client_id=client.client_id,
            recorded_on=today,
            outcome="unmatched",
            reason=reason,
            statement=raw,
            actor=who,
        )
        return Plan(statement, digest, "unmatched", record=record, reason=reason)

    def _plan_void(
        self, client: LmsClient, statement: Statement, digest: str, today: date, batch: _Batch
    ) -> Plan:
        sid = statement.statement_id
        own = batch.records.get(sid)
        if own is not None and own.outcome != VOIDED_EARLY:
            return Plan(statement, digest, "duplicate" if own.content_hash == digest else "conflict")
        assert isinstance(statement.object, StatementRef)
        target_id = str(statement.object.id)
        target = batch.records.get(target_id)
        member_id = target.member_id if target else None
        fact_key = target.fact_key if target else None
        reverses = (
            target is not None
            and member_id is not None
            and fact_key is not None
            and target.verb != VERB_VOIDED
        )
        outcome = "voided" if reverses else "nothing_to_void"
        record = StatementRecord(
            statement_id=sid,
            content_hash=digest,
            verb=VERB_VOIDED,
            client_id=client.client_id,
            recorded_on=today,
            member_id=member_id,
            fact_key=fact_key if reverses else None,
            outcome=outcome,
            reason=None if reverses else f"statement {target_id} credited nothing we know of",
        )
        batch.records[sid] = record
        if not reverses:
            early = None
            if target is None:  # not arrived yet (LMS deliveries are unordered): void it on arrival
                early = StatementRecord(
                    statement_id=target_id,
                    content_hash="",
                    verb="",
                    client_id=client.client_id,
                    recorded_on=today,
                    outcome=VOIDED_EARLY,
                    voided_by=sid,
                )
            return Plan(statement, digest, outcome, record=record, reason=record.reason, early_void=early)
        assert member_id is not None
        assert fact_key is not None
        void = CeVoid(key=sid, recorded_on=today, completion_key=fact_key)
        event = _void_event(sid, target_id, fact_key, digest, client.client_id, today)
        return Plan(statement, digest, outcome, member_id, void, event, record)

    # ------------------------------------------------------------------ writes

    def _apply(self, client: LmsClient, plan: Plan, today: date, specs: dict[str, ActivitySpec]) -> None:
        if self._write(plan) or self._voided_early(plan, today) or self._settled(plan):
            return
        # A condition failed: another delivery of the same statement (or course) got there first.
        # Re-plan from fresh reads once; a duplicate is then a no-op, a real conflict a 409.
        retry = _Batch()
        self._prefetch_records(retry, [(plan.statement, plan.content_hash)])
        again = self._plan(client, plan.statement, plan.content_hash, today, retry, specs)
        if again.outcome == "conflict":
            raise _conflict(plan)
        if again.writes and not self._write(again) and not self._settled(again):
            raise Conflict(
                "concurrent writes for this statement, retry later",
                statement_ids=[plan.statement.statement_id],
            )

    def _voided_early(self, plan: Plan, today: date) -> bool:
        """After a failed condition: was this statement voided before it arrived? Then record it as
        planned, over the placeholder, together with the void it missed (``ce_void`` fact, event and
        the voiding statement's record), in one transaction - as if the void had come after it."""
        sid = plan.statement.statement_id
        stored = self.catalog.get_statements([sid]).get(sid)
        if stored is None or stored.outcome != VOIDED_EARLY or plan.record is None:
            return False
        items: list[tuple[dict[str, Any], PutCondition | None]] = []
        if plan.member_id is None:  # unmatched: keep it, and the pending void, for staff
            record = plan.record.model_copy(update={"voided_by": stored.voided_by})
            return self.catalog.transact_new([(self.catalog.statement_item(record), None)])
        if plan.event is not None:
            items.append((self.members.event_item(plan.member_id, plan.event), _NEW))
        items.append((self.catalog.statement_item(plan.record), None))
        if plan.fact is not None:
            items.append((self._fact_item(plan.member_id, plan.fact), _NEW))
        fact_key = plan.record.fact_key
        void_id = stored.voided_by
        voiding = self.catalog.get_statements([void_id]).get(void_id) if void_id else None
        if fact_key is not None and voiding is not None:
            void = CeVoid(key=voiding.statement_id, recorded_on=today, completion_key=fact_key)
            event = _void_event(
                voiding.statement_id, sid, fact_key, voiding.content_hash, voiding.client_id, today
            )
            applied = voiding.model_copy(
                update={
                    "member_id": plan.member_id,
                    "fact_key": fact_key,
                    "outcome": "voided",
                    "reason": None,
                }
            )
            items += [
                (self.members.event_item(plan.member_id, event), _NEW),
                (self.catalog.statement_item(applied), None),
                (self.members.fact_item(plan.member_id, void, {"member_id": plan.member_id}), _NEW),
            ]
        if not self.catalog.transact_new(items):
            raise Conflict("concurrent writes for this statement, retry later", statement_ids=[sid])
        return True

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
            raise _conflict(plan)
        return stored.outcome != "unmatched" or plan.outcome == "unmatched"

    def _write(self, plan: Plan) -> bool:
        assert plan.record is not None
        if plan.outcome == "unmatched" or plan.member_id is None:
            existing = self.catalog.put_statement_once(plan.record)
            if plan.early_void is not None:  # an existing record (or placeholder) stays as it is
                self.catalog.put_statement_once(plan.early_void)
            if existing is None or existing.content_hash == plan.content_hash:
                return True
            if existing.outcome == VOIDED_EARLY:
                return False  # _apply records it over the placeholder
            raise _conflict(plan)
        items: list[tuple[dict[str, Any], PutCondition | None]] = []
        if plan.event is not None:
            items.append((self.members.event_item(plan.member_id, plan.event), _NEW))
        items.append((self.catalog.statement_item(plan.record), _NEW_OR_UNMATCHED))
        if plan.fact is not None:
            items.append((self._fact_item(plan.member_id, plan.fact), _NEW))
        return self.catalog.transact_new(items)


def _conflict(plan: Plan) -> Conflict:
    return Conflict(
        "statement id already stored with different content",
        statement_ids=[plan.statement.statement_id],
    )


def _summary(
    statement: Statement, course: str, spec: ActivitySpec | None, outcome: str, reason: str | None
) -> str:
    verb = statement.verb.id.rsplit("/", 1)[-1]
    title = spec.title if spec else course
    match outcome:
        case "credited":
            assert spec is not None
            return f"LMS {verb}: {title} — {spec.points} points ({spec.category.value})"
        case "unmapped":
            return f"LMS {verb}: {course} — activity not in catalog yet, counts once added"
        case "already_credited":
            return f"LMS {verb}: {title} — course already credited"
        case _:
            return f"LMS {verb}: {title} — rejected: {reason}"
