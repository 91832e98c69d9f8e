"""Audit decisions (R7c) and the audit record with its evidence.

The audit DRAW (daily run) records ``AuditDrawn`` facts. To find an audit by id alone, the
table-stream consumer indexes every new ``audit_drawn`` fact as an ``audit`` event listed under
``AUDIT``/audit id (ListIndex) - no coupling to the draw code. Should that index item be missing,
an id in the draw's format (``{year}-{CREDENTIAL}-{member_id}``) still finds the member directly.

``POST /audits/{audit_id}/decision``: the ``AuditDecided`` fact (keyed by the audit id, so a second
identical decision is a no-op and a different one a 409) and, when it is a failure that lapses the
certification, the ``transition`` event to lapsed with the reason - both in one transaction. The
transition in the stream revokes the badge.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.errors import Conflict, DomainError, NotFound
from shared.rules.ids import MEMBER_ID_PATTERN
from shared.rules.models import AuditDecided, AuditDrawn, Points, Standing
from shared.rules.policy import RulesPolicy
from shared.rules.self_report import latest_versions
from shared.rules.status import SELF_REPORT_RECORD, activity_credits, cycle_points, evaluate
from shared.services.activity_schemas import ACTIVITY_ID_PATTERN
from shared.store.members import MemberRepository
from shared.store.recert import AUDIT_KIND, AUDIT_LIST, RecertStore, StaleWrite
from shared.store.recert_queries import evidence_of
from shared.store.records import EventRecord, MemberRecord

# The annual draw's audit ids: ``{year}-{CREDENTIAL}-{member_id}`` (``shared.rules.audit.audit_id``).
_DRAWN_AUDIT_ID = re.compile(rf"[0-9]{{4}}-[A-Za-z]{{1,10}}-(?P<member>{MEMBER_ID_PATTERN})")


def member_of_audit(audit_id: str) -> str | None:
    """The member a drawn audit id names, or None for another format."""
    found = _DRAWN_AUDIT_ID.fullmatch(audit_id)
    return found["member"] if found else None


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class AuditDecisionRequest(_Strict):
    decision: Literal["passed", "failed"]
    reason: str = Field(default="", max_length=500)
    disallowed_activities: list[Annotated[str, StringConstraints(pattern=ACTIVITY_ID_PATTERN)]] = Field(
        default_factory=list,
        max_length=200,
        description="Self-reported activities of the audited cycle whose points are removed; a cycle "
        "short after that fails the audit",
    )


class InvalidAuditDecision(DomainError):
    code = "invalid_audit_decision"


class AuditActivity(_Strict):
    """A self-reported activity of the audited cycle, and whether evidence names it."""

    activity_id: str
    title: str
    category: str
    completed_on: date
    points: Points
    counted: bool
    reason: str | None
    evidence_present: bool


class EvidenceItem(_Strict):
    key: str
    recorded_on: date
    summary: str
    data: dict[str, Any]


class AuditRecord(_Strict):
    audit_id: str
    member_id: str
    credential: str
    drawn_on: date
    deadline: date
    cycle_start: date
    cycle_end: date
    decision: AuditDecided | None
    status: str = Field(description="the certification's status as of today")
    evidence: list[EvidenceItem]
    activities: list[AuditActivity] = Field(
        default_factory=list, description="self-reported activities of the audited cycle"
    )


class AuditService:
    def __init__(
        self, repository: MemberRepository, policy: RulesPolicy, store: RecertStore | None = None
    ) -> None:
        self.repository = repository
        self.policy = policy
        self.store = store or RecertStore(repository)

    def index(self, member_id: str, drawn: AuditDrawn, today: date) -> None:
        """Stream: list a new audit under its id (idempotent)."""
        event = EventRecord(
            kind=AUDIT_KIND,
            key=drawn.audit_id,
            occurred_on=drawn.drawn_on,
            recorded_on=today,
            credential=drawn.credential,
            summary=f"audit {drawn.audit_id} opened, documentation due {drawn.deadline}",
            data={
                "audit_id": drawn.audit_id,
                "credential": drawn.credential,
                "deadline": drawn.deadline.isoformat(),
            },
        )
        with suppress(StaleWrite):  # already indexed
            self.store.put_event(member_id, event, list_keys=(AUDIT_LIST, drawn.audit_id), create=True)

    def record(self, audit_id: str, today: date) -> AuditRecord:
        member_id, record, drawn = self._find(audit_id)
        return self._view(member_id, record, drawn, today)

    def decide(self, audit_id: str, request: AuditDecisionRequest, today: date) -> AuditRecord:
        member_id, record, drawn = self._find(audit_id)
        previous = self._decision(record, audit_id)
        if previous is not None:
            if (previous.outcome, previous.reason) == (request.decision, request.reason):
                return self._view(member_id, record, drawn, today)
            raise Conflict(
                f"audit {audit_id} was already decided: {previous.outcome}",
                decision=previous.model_dump(mode="json"),
            )
        audited = {a.activity_id for a in self._activities(record, drawn, today)}
        for index, activity_id in enumerate(request.disallowed_activities):
            if activity_id not in audited:
                raise InvalidAuditDecision(
                    f"{activity_id} is not a self-reported activity of the audited cycle",
                    field=f"disallowed_activities[{index}]",
                )
        fact = AuditDecided(
            key=audit_id,
            recorded_on=today,
            audit_id=audit_id,
            credential=drawn.credential,
            outcome=request.decision,
            decided_on=today,
            reason=request.reason,
            disallowed=tuple(sorted(set(request.disallowed_activities))),
        )
        fact = self._short_fails(record, drawn, fact, today)
        transition = self._lapse_transition(record, fact, today) if request.decision == "failed" else None
        try:
            self.store.decide_audit(member_id, fact, transition)
        except StaleWrite:
            raise Conflict(f"audit {audit_id} was decided meanwhile; read it again") from None
        return self.record(audit_id, today)

    def _short_fails(
        self, record: MemberRecord, drawn: AuditDrawn, fact: AuditDecided, today: date
    ) -> AuditDecided:
        """A pass whose disallowed activities leave the audited cycle short is a failure (R7c)."""
        cert = record.certifications.get(drawn.credential)
        if fact.outcome == "failed" or not fact.disallowed or cert is None:
            return fact
        earned, required = cycle_points(
            cert.as_certification(), [*record.facts, fact], drawn.cycle_start, today, self.policy
        )
        if earned >= required:
            return fact
        short = f"cycle short after disallowing {', '.join(fact.disallowed)}: {earned} of {required} points"
        return fact.model_copy(
            update={"outcome": "failed", "reason": "; ".join(filter(None, (fact.reason, short)))}
        )

    def _activities(self, record: MemberRecord, drawn: AuditDrawn, today: date) -> list[AuditActivity]:
        """The self-reported activities counted in (or disallowed from) the audited cycle."""
        cert = record.certifications.get(drawn.credential)
        if cert is None:
            return []
        credits = activity_credits(cert.as_certification(), record.facts, today, self.policy)
        evidenced = {e.data.get("activity_id") for e in evidence_of(record, audit_id=drawn.audit_id)}
        found: list[AuditActivity] = []
        for report in latest_versions(record.facts, today).values():
            credit = credits.get(f"{SELF_REPORT_RECORD}{report.activity_id}")
            if report.entry is None or credit is None or credit.cycle_start != drawn.cycle_start:
                continue
            found.append(
                AuditActivity(
                    activity_id=report.activity_id,
                    title=report.entry.title,
                    category=report.entry.category.value,
                    completed_on=report.entry.completed_on,
                    points=credit.points,
                    counted=credit.counted,
                    reason=credit.reason.value if credit.reason else None,
                    evidence_present=report.activity_id in evidenced,
                )
            )
        return sorted(found, key=lambda a: (a.completed_on, a.activity_id))

    def _lapse_transition(self, record: MemberRecord, fact: AuditDecided, today: date) -> EventRecord | None:
        cert = record.certifications.get(fact.credential)
        if cert is None:
            return None
        status = evaluate(cert.as_certification(), [*record.facts, fact], today, self.policy)
        if status.status is not Standing.LAPSED:
            return None
        previous = [e for e in record.events if e.kind == "transition" and e.credential == fact.credential]
        last = max(previous, key=lambda e: (e.occurred_on, e.key), default=None)
        if last is not None and last.data.get("status") == Standing.LAPSED.value:
            return None  # already lapsed: nothing changes
        reasons = [r.value for r in status.reasons]
        return EventRecord(
            kind="transition",
            key=f"{fact.credential}#{Standing.LAPSED.value}#{today.isoformat()}",
            occurred_on=status.lapsed_on or today,
            recorded_on=today,
            credential=fact.credential,
            summary=f"{fact.credential} became lapsed ({', '.join(reasons)}: {fact.reason or 'audit failed'})",
            data={
                "status": Standing.LAPSED.value,
                "reasons": reasons,
                "reason": fact.reason,
                "audit_id": fact.audit_id,
            },
        )

    def _find(self, audit_id: str) -> tuple[str, MemberRecord, AuditDrawn]:
        """The audit through the stream consumer's index, else - index item not built (yet) - through
        the member named by the draw's audit id (``shared.rules.audit.audit_id``)."""
        listed = self.store.find_listed(AUDIT_LIST, audit_id)
        member_id = listed.member_id if listed is not None else member_of_audit(audit_id)
        if member_id is None:
            raise NotFound(f"audit {audit_id!r} not found")
        record = self.repository.load(member_id)
        drawn = next(
            (
                f
                for f in (record.facts if record else ())
                if isinstance(f, AuditDrawn) and f.audit_id == audit_id
            ),
            None,
        )
        if record is None or drawn is None:
            raise NotFound(f"audit {audit_id!r} not found")
        return member_id, record, drawn

    @staticmethod
    def _decision(record: MemberRecord, audit_id: str) -> AuditDecided | None:
        return next((f for f in record.facts if isinstance(f, AuditDecided) and f.audit_id == audit_id), None)

    def _view(self, member_id: str, record: MemberRecord, drawn: AuditDrawn, today: date) -> AuditRecord:
        cert = record.certifications.get(drawn.credential)
        status = (
            evaluate(cert.as_certification(), record.facts, today, self.policy).status.value
            if cert
            else "unknown"
        )
        return AuditRecord(
            audit_id=drawn.audit_id,
            member_id=member_id,
            credential=drawn.credential,
            drawn_on=drawn.drawn_on,
            deadline=drawn.deadline,
            cycle_start=drawn.cycle_start,
            cycle_end=drawn.cycle_end,
            decision=self._decision(record, drawn.audit_id),
            status=status,
            evidence=[
                EvidenceItem(key=e.key, recorded_on=e.recorded_on, summary=e.summary, data=e.data)
                for e in evidence_of(record, audit_id=drawn.audit_id)
            ],
            activities=self._activities(record, drawn, today),
        )
