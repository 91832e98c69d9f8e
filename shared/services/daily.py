"""The daily run: evaluate every certification with something due and record what changed.

Reads only the DueIndex partitions of the days being run plus the partitions of the members found
there (DESIGN.md, data principle 4). Every record is keyed on (certification, kind, period), so a
re-run, a crash-and-rerun or a catch-up run records nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from shared.observability import logger
from shared.rules.models import CertificationStatus, Standing
from shared.rules.policy import RulesPolicy
from shared.rules.status import evaluate
from shared.store.members import MemberRepository, WriteOutcome
from shared.store.records import CertificationRecord, EventRecord, MemberRecord


@dataclass
class DailySummary:
    run_date: date
    due: int = 0
    evaluated: int = 0
    transitions: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class DailyRun:
    def __init__(self, repository: MemberRepository, policy: RulesPolicy) -> None:
        self.repository = repository
        self.policy = policy

    def run(self, run_date: date) -> DailySummary:
        summary = DailySummary(run_date=run_date)
        for due in self.repository.due_on(run_date):
            summary.due += 1
            record = self.repository.load(due.member_id)
            cert = record.certifications.get(due.credential) if record else None
            if record is None or cert is None:
                continue
            status = evaluate(cert.as_certification(), record.facts, run_date, self.policy)
            summary.evaluated += 1
            summary.by_status[status.status.value] = summary.by_status.get(status.status.value, 0) + 1
            if self._record_transition(record, status, run_date):
                summary.transitions += 1
            self.repository.set_due(
                due.member_id,
                CertificationRecord(**{**cert.model_dump(), "due_on": run_date + timedelta(days=1)}),
            )
        logger.info(
            "daily run done",
            extra={
                "run_date": run_date.isoformat(),
                **summary.by_status,
                "due": summary.due,
                "transitions": summary.transitions,
            },
        )
        return summary

    def _record_transition(self, record: MemberRecord, status: CertificationStatus, run_date: date) -> bool:
        previous = [e for e in record.events if e.kind == "transition" and e.credential == status.credential]
        last = max(previous, key=lambda e: (e.occurred_on, e.key), default=None)
        last_status = last.data.get("status") if last else Standing.ACTIVE.value
        if last_status == status.status.value:
            return False
        event = EventRecord(
            kind="transition",
            key=f"{status.credential}#{status.status.value}#{run_date.isoformat()}",
            occurred_on=status.lapsed_on or run_date,
            recorded_on=run_date,
            credential=status.credential,
            summary=f"{status.credential} became {status.status.value}"
            + (f" ({', '.join(r.value for r in status.reasons)})" if status.reasons else ""),
            data={"status": status.status.value, "reasons": [r.value for r in status.reasons]},
        )
        return self.repository.record_event(record.profile.member_id, event) is WriteOutcome.CREATED
