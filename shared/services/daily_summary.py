"""What one daily run did (logged at its end, turned into metrics by the function)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


@dataclass
class DailySummary:
    run_date: date
    days_read: int = 0
    due: int = 0
    members: int = 0
    read_whole: int = 0  # members whose partition was read whole (the others: due entry + bounded read)
    evaluated: int = 0
    transitions: int = 0
    cycles_started: int = 0
    notices: int = 0
    already_sent: int = 0
    emails: int = 0
    emails_retried: int = 0
    email_failed: int = 0
    mailed: int = 0
    email_only: int = 0
    audit_pool: int = 0
    audits_drawn: int = 0
    recertified: int = 0
    checkpoints: int = 0  # certification checkpoints (re)written
    badges_reconciled: int = 0  # badge_reconcile events recorded (badges disagreeing with the standing)
    print_batch: str | None = None
    failed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    transitions_to: dict[str, int] = field(default_factory=dict)  # recorded transitions by new standing

    def as_log(self) -> dict[str, Any]:
        values = asdict(self)
        values["run_date"] = self.run_date.isoformat()
        return values
