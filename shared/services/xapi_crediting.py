"""The crediting decision for one completed/passed/satisfied statement of a known member: which
course it reports and what R3 says (``Plan``). Each statement is its own CE fact; the rules count one
per course (``shared.rules.ce_credit``).

Pure: the member's partition, the catalog entries and what the request planned so far come in as
arguments; the plan comes out. ``ce_xapi`` reads and writes.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from shared.adapters.xapi import TYPE_BLOCK, TYPE_COURSE, VERB_SATISFIED, Activity, LmsClient, Statement
from shared.clock import business_date_of
from shared.rules.ce_acceptance import rejection_by_every_certification
from shared.rules.fact_keys import statement_fact_key
from shared.rules.ids import is_member_id
from shared.rules.models import ActivitySpec, CeCompletion
from shared.rules.policy import Category, RulesPolicy
from shared.services.xapi_plan import EVENT_KIND, Outcome, Plan, Planned
from shared.services.xapi_wording import completion_summary
from shared.store.catalog import StatementRecord
from shared.store.records import EventRecord, MemberRecord

MEMBER_CLAIM = "member:"  # an account actor of the sending LMS: its name is a member id
MBOX_CLAIM = "mbox:"  # an mbox actor: the member with this (lower-cased) e-mail


def actor_claim(client: LmsClient, statement: Statement) -> tuple[str | None, str]:
    """Whom the actor names, as ``member:{id}`` or ``mbox:{e-mail}`` and "", or None and why no
    member can ever match it (another LMS's account, an identifier we do not support)."""
    actor = statement.actor
    if actor.account is not None:
        if not client.owns(actor.account.home_page):
            return None, f"account homePage {actor.account.home_page} is not {client.client_id}'s"
        if not is_member_id(actor.account.name):
            return None, "account name is not a member id"
        return MEMBER_CLAIM + actor.account.name, ""
    if actor.email is not None:
        return MBOX_CLAIM + actor.email, ""
    return None, "actor identifier not supported (use account or mbox)"


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


def known_hash(member: MemberRecord, statement_id: str) -> str | None:
    """The content hash of the statement as recorded on the member's timeline, if it was."""
    for event in member.events:
        if event.kind == EVENT_KIND and event.key == statement_id:
            return str(event.data.get("content_hash"))
    return None


def plan_completion(  # noqa: PLR0917 - the decision's inputs, each one value
    client: LmsClient,
    statement: Statement,
    digest: str,
    course: str,
    member: MemberRecord,
    spec: ActivitySpec | None,
    planned: Planned,
    today: date,
    zone: ZoneInfo,
    policy: RulesPolicy,
) -> Plan:
    """The plan of a crediting statement for ``member`` (its id is the profile's); ``planned`` gains
    what this plan writes."""
    member_id = member.profile.member_id
    sid = statement.statement_id
    known = known_hash(member, sid) or planned.events.get((member_id, sid))
    if known is not None:
        return Plan(statement, digest, Outcome.DUPLICATE if known == digest else Outcome.CONFLICT, member_id)

    moment = statement.moment
    completed_on = business_date_of(moment, zone) if moment else today
    # Every statement is its own credit; of a course's live ones only one counts (``ce_credit``), so
    # the outcome does not depend on which statement of the course came first.
    key = statement_fact_key(course, sid)
    fact: CeCompletion | None = None
    # Unmapped activities are checked for their dates only (their category is not known yet).
    category = spec.category if spec else Category.PROFESSIONAL_EDUCATION
    reason = rejection_by_every_certification(
        member.certifications_in_order(), member.facts, completed_on, category, today, policy
    )
    if reason is not None:
        outcome = Outcome.REJECTED
    else:
        outcome = Outcome.CREDITED if spec else Outcome.UNMAPPED
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
    event = EventRecord(
        kind=EVENT_KIND,
        key=sid,
        occurred_on=completed_on,
        recorded_on=today,
        summary=completion_summary(statement.verb.id, course, spec, outcome, reason),
        data={
            "statement_id": sid,
            "verb": statement.verb.id,
            "course_id": course,
            "fact_key": key,
            "outcome": outcome.value,
            "reason": reason,
            "content_hash": digest,
            "client_id": client.client_id,
            "registration": statement.registration,
        },
    )
    planned.events[(member_id, sid)] = digest
    record = StatementRecord(
        statement_id=sid,
        content_hash=digest,
        verb=statement.verb.id,
        client_id=client.client_id,
        recorded_on=today,
        member_id=member_id,
        fact_key=key if outcome != Outcome.REJECTED else None,
        outcome=outcome.value,
        reason=reason,
    )
    planned.records[sid] = record
    return Plan(statement, digest, outcome, member_id, fact, event, record, reason)


def plan_unmatched(  # noqa: PLR0917 - the record's values
    client: LmsClient, statement: Statement, digest: str, today: date, reason: str, awaits: str | None
) -> Plan:
    """A crediting statement no member matched: kept whole for staff (``UNMATCHED_STATEMENT``) and,
    when the actor names a member (``awaits``), credited once the roster has that member."""
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
        outcome=Outcome.UNMATCHED.value,
        reason=reason,
        statement=raw,
        actor=who,
        awaits=awaits,
    )
    return Plan(statement, digest, Outcome.UNMATCHED, record=record, reason=reason)
