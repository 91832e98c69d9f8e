"""What one LMS statement does to the table: its ``Outcome`` and the ``Plan`` of items to write.

Planning (``xapi_crediting``, ``xapi_voids``) only reads; ``ce_xapi`` writes the plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shared.adapters.xapi import Statement
from shared.rules.models import CeCompletion, CeVoid
from shared.store.catalog import StatementRecord
from shared.store.records import EventRecord

EVENT_KIND = "xapi"  # the member timeline events of LMS statements


class Outcome(StrEnum):
    """What a statement did; kept on its statement record and its timeline event."""

    IGNORED = "ignored"  # a verb or object that credits nothing (not stored)
    DUPLICATE = "duplicate"  # the same id with the same content was recorded before
    CONFLICT = "conflict"  # the same id with other content was recorded before
    CREDITED = "credited"  # a CE fact with the catalog's points
    UNMAPPED = "unmapped"  # a CE fact for an activity not in the catalog yet (counts once added)
    # the course was credited by an earlier statement: records and events written before every
    # statement became its own fact (``shared.rules.ce_credit``); no longer planned
    ALREADY_CREDITED = "already_credited"
    REJECTED = "rejected"  # R3 refused the completion (the event names the reason)
    VOIDED = "voided"  # a ``voided`` statement that reversed a credit
    NOTHING_TO_VOID = "nothing_to_void"  # a ``voided`` statement whose target credited nothing
    UNMATCHED = "unmatched"  # no member matched the actor: kept whole for staff
    # Statement records only: a placeholder for a statement voided before it arrived; the void is
    # applied when it does (``xapi_voids``).
    VOIDED_EARLY = "voided_early"


CREDITED_OUTCOMES = frozenset({Outcome.CREDITED, Outcome.UNMAPPED})  # a completion recorded
NO_WRITE = frozenset({Outcome.IGNORED, Outcome.DUPLICATE, Outcome.CONFLICT})


@dataclass
class Plan:
    statement: Statement
    content_hash: str
    outcome: Outcome
    member_id: str | None = None
    fact: CeCompletion | CeVoid | None = None
    event: EventRecord | None = None
    record: StatementRecord | None = None
    reason: str | None = None
    early_void: StatementRecord | None = None  # placeholder for a voided statement not seen yet

    @property
    def writes(self) -> bool:
        return self.outcome not in NO_WRITE


@dataclass
class Planned:
    """What the statements planned so far in one request will write (later ones must see it), and
    the statement records read or planned (voids look their targets up here)."""

    events: dict[tuple[str, str], str] = field(default_factory=dict)  # (member id, statement id): hash
    records: dict[str, StatementRecord] = field(default_factory=dict)
