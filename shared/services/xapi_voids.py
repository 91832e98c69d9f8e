"""``voided`` statements: which credit a void reverses, and voids that arrive before the statement
they void (LMS deliveries are unordered).

A void of a statement not seen yet leaves a *placeholder* statement record (outcome
``voided_early``) naming the void. When the voided statement arrives it is recorded over the
placeholder together with the void it missed, as if the void had come after it
(``missed_void``). A placeholder is never a conflict and never a duplicate.

Pure: statement records come in, plans and records go out; ``ce_xapi`` reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.adapters.xapi import VERB_VOIDED, LmsClient, Statement, StatementRef
from shared.rules.models import CeVoid
from shared.services.xapi_plan import EVENT_KIND, Outcome, Plan
from shared.services.xapi_wording import nothing_to_void_reason, void_summary
from shared.store.catalog import StatementRecord
from shared.store.records import EventRecord


def is_placeholder(record: StatementRecord | None) -> bool:
    """A record left by a void that came before its statement (not the statement itself)."""
    return record is not None and record.outcome == Outcome.VOIDED_EARLY


def void_event(  # noqa: PLR0917 - each value names one field of the event
    void_id: str, voided_id: str, fact_key: str, content_hash: str, client_id: str, today: date
) -> EventRecord:
    """The member's timeline event of a ``voided`` statement that reversed the credit ``fact_key``."""
    return EventRecord(
        kind=EVENT_KIND,
        key=void_id,
        occurred_on=today,
        recorded_on=today,
        summary=void_summary(voided_id, fact_key),
        data={
            "statement_id": void_id,
            "verb": VERB_VOIDED,
            "voided_statement_id": voided_id,
            "fact_key": fact_key,
            "outcome": Outcome.VOIDED.value,
            "content_hash": content_hash,
            "client_id": client_id,
        },
    )


def plan_void(
    client: LmsClient, statement: Statement, digest: str, records: dict[str, StatementRecord], today: date
) -> Plan:
    """The plan of a ``voided`` statement, from the statement records known (``records``: its own
    and its target's, read or planned earlier in the request); ``records`` gains its own."""
    sid = statement.statement_id
    own = records.get(sid)
    if own is not None and not is_placeholder(own):
        return Plan(statement, digest, Outcome.DUPLICATE if own.content_hash == digest else Outcome.CONFLICT)
    assert isinstance(statement.object, StatementRef)
    target_id = str(statement.object.id)
    target = records.get(target_id)
    member_id = target.member_id if target else None
    fact_key = target.fact_key if target else None
    reverses = (
        target is not None and member_id is not None and fact_key is not None and target.verb != VERB_VOIDED
    )
    outcome = Outcome.VOIDED if reverses else Outcome.NOTHING_TO_VOID
    record = StatementRecord(
        statement_id=sid,
        content_hash=digest,
        verb=VERB_VOIDED,
        client_id=client.client_id,
        recorded_on=today,
        member_id=member_id,
        fact_key=fact_key if reverses else None,
        outcome=outcome.value,
        reason=None if reverses else nothing_to_void_reason(target_id),
    )
    records[sid] = record
    if not reverses:
        early = None
        if target is None:  # not arrived yet: leave a placeholder, the void is applied on arrival
            early = StatementRecord(
                statement_id=target_id,
                content_hash="",
                verb="",
                client_id=client.client_id,
                recorded_on=today,
                outcome=Outcome.VOIDED_EARLY.value,
                voided_by=sid,
            )
        return Plan(statement, digest, outcome, record=record, reason=record.reason, early_void=early)
    assert member_id is not None
    assert fact_key is not None
    void = CeVoid(key=sid, recorded_on=today, completion_key=fact_key)
    event = void_event(sid, target_id, fact_key, digest, client.client_id, today)
    return Plan(statement, digest, outcome, member_id, void, event, record)


@dataclass(frozen=True)
class MissedVoid:
    """What a void that came early writes once its statement is recorded: the ``ce_void`` fact, the
    member's event and the voiding statement's record, now applied."""

    fact: CeVoid
    event: EventRecord
    record: StatementRecord


def missed_void(plan: Plan, voiding: StatementRecord | None, today: date) -> MissedVoid | None:
    """The void ``voiding`` missed, for the statement ``plan`` records over its placeholder; None
    when the statement credited nothing (or the voiding record is gone)."""
    assert plan.record is not None
    fact_key = plan.record.fact_key
    if plan.member_id is None or fact_key is None or voiding is None:
        return None
    sid = plan.statement.statement_id
    return MissedVoid(
        fact=CeVoid(key=voiding.statement_id, recorded_on=today, completion_key=fact_key),
        event=void_event(voiding.statement_id, sid, fact_key, voiding.content_hash, voiding.client_id, today),
        record=voiding.model_copy(
            update={
                "member_id": plan.member_id,
                "fact_key": fact_key,
                "outcome": Outcome.VOIDED.value,
                "reason": None,
            }
        ),
    )
