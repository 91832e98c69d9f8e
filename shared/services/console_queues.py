"""What the staff console names at import, apart from the services that fill its pages
(shared/services/console.py): the work queues and one page of a queue.

Kept apart so the console function imports, at cold start, the names its routes and templates are
declared with, and each route's first request the services it reads (tests/unit/test_import_closure.py
keeps the console's closure without them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Queue(StrEnum):
    """The console's work queues (each one page of a ListIndex listing)."""

    AUDITS = "audits"
    RECERTIFICATIONS = "recertifications"
    PARKED_PAYMENTS = "parked-payments"
    PAYMENT_EXCEPTIONS = "payment-exceptions"
    QUARANTINED_UPLOADS = "quarantined-uploads"
    UNMAPPED_ACTIVITIES = "unmapped-activities"
    UNMATCHED_STATEMENTS = "unmatched-statements"


@dataclass(frozen=True)
class QueuePage:
    items: list[Any]
    next_token: str | None
    scanned: int  # listed items read for this page (decided audits and applications are left out)
